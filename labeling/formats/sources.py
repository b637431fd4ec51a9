"""Opening annotation files: JSON with a readable error, cheap sniffing, finding files."""

from __future__ import annotations

import json
from pathlib import Path

from labeling.formats.paths import is_inside
from labeling.formats.records import FormatError


def load_json(path: Path) -> object:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise FormatError(
            f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})"
        ) from error
    except UnicodeDecodeError as error:
        raise FormatError(f"{path.name} is not UTF-8 text") from error
    except OSError as error:
        raise FormatError(f"cannot read {path.name}: {error.strerror or error}") from error


def first_char(path: Path) -> str:
    """The first non-blank character of a text file ("" when unreadable or empty)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return ""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return chr(text[0]) if text else ""


def find_files(root: Path, suffix: str, *, depth: int = 2) -> list[Path]:
    """Files with this suffix in ``root`` and in folders down to ``depth`` levels, sorted.

    Hidden entries, macOS ``__MACOSX`` folders and links leading out of ``root`` are
    skipped.
    """
    found: list[Path] = []
    level = [root]
    for _ in range(depth):
        next_level: list[Path] = []
        for folder in level:
            for entry in sorted(folder.iterdir()):
                if entry.name.startswith(".") or entry.name == "__MACOSX":
                    continue
                if entry.is_symlink() and not is_inside(entry, root):
                    continue
                if entry.is_dir():
                    next_level.append(entry)
                elif entry.suffix.lower() == suffix:
                    found.append(entry)
        level = next_level
    return found
