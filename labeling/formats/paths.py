"""Finding the image a label file refers to, without ever leaving the dataset folder.

Annotation files name their images in many ways: a bare file name, a relative path, an
absolute path from the author's machine, ``gs://bucket/...``, ``https://...`` or Label
Studio's ``/data/upload/3/abc-name.jpg``. We look such a name up by its trailing
components inside the dataset folder only. A name with a ``..`` component is refused, and
so is a match that resolves (through a symbolic link) outside the folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".ico", ".webp", ".tif", ".tiff"}
)

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


class UnsafePathError(ValueError):
    """An image reference tries to leave the dataset folder."""


def reference_parts(reference: str) -> tuple[tuple[str, ...], bool]:
    """Split an image reference into path components; tell whether it was absolute.

    URLs lose their scheme and host (a ``gs://`` bucket counts as a host), Label Studio's
    ``?d=`` local-file parameter is honoured, backslashes count as separators.
    """
    text = reference.strip().replace("\\", "/")
    absolute = False
    parsed = urlsplit(text)
    if parsed.scheme and len(parsed.scheme) > 1:  # "C:/..." is a drive, not a scheme
        local = parse_qs(parsed.query).get("d")
        text = local[0] if local else unquote(parsed.path)
        absolute = True
    elif "?d=" in text:  # Label Studio local storage: /data/local-files/?d=folder/a.jpg
        text = parse_qs(urlsplit(text).query).get("d", [""])[0]
        absolute = True
    if text.startswith("/") or _WINDOWS_DRIVE.match(text):
        absolute = True
        text = text.split(":", 1)[1] if _WINDOWS_DRIVE.match(text) else text
    parts = tuple(part for part in PurePosixPath(text).parts if part not in ("/", "", "."))
    if ".." in parts:
        raise UnsafePathError(f"the path {reference!r} points outside the dataset folder")
    return parts, absolute


def find_image(
    references: Iterable[str], *, bases: Sequence[Path], root: Path
) -> tuple[Path | None, str | None]:
    """Look each reference up under each base folder, longest trailing match first.

    Returns ``(path, None)`` for the first match, ``(None, None)`` when nothing matches and
    ``(None, reason)`` when a reference or a match was unsafe and nothing safe was found.
    ``root`` must be resolved; ``bases`` lie inside it.
    """
    unsafe: str | None = None
    for reference in references:
        try:
            parts, _absolute = reference_parts(reference)
        except UnsafePathError as error:
            unsafe = str(error)
            continue
        for start in range(len(parts)):
            tail = parts[start:]
            for base in bases:
                candidate = base.joinpath(*tail)
                if not candidate.is_file():
                    continue
                real = candidate.resolve()
                if not real.is_relative_to(root):
                    unsafe = f"the path {reference!r} leads outside the dataset folder"
                    continue
                return real, None
    return None, unsafe


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symbolic links followed, lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def relative_name(path: Path, root: Path) -> str:
    """The posix path of ``path`` relative to ``root`` (both resolved)."""
    return path.relative_to(root).as_posix()


def folder_name(folder: Path, root: Path) -> str:
    """A folder as shown in reports: relative to ``root``, with a slash ("./" for root)."""
    relative = folder.resolve().relative_to(root.resolve()).as_posix()
    return "./" if relative == "." else f"{relative}/"
