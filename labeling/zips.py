"""Extracting zip archives safely, into a folder the caller owns (a temporary one).

Refused entries (reported by name, the rest is extracted): absolute paths, ``..``
components, symbolic links and other non-regular files, encrypted entries, names used
twice. Refused archives (nothing is kept): not a zip, more entries, more bytes or a higher
compression ratio than the settings allow, or an entry that inflates past its declared
size. Nothing is written outside the destination folder, and no existing file is
overwritten.
"""

from __future__ import annotations

import logging
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1024 * 1024
_RATIO_MIN_BYTES = 1024 * 1024  # tiny entries may compress well without being bombs
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class ZipRefused(Exception):
    """The whole archive is refused; ``str(error)`` says why."""


@dataclass
class Extracted:
    """Files written (archive name -> path) and entries refused (archive name, reason)."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def looks_like_zip(head: bytes, name: str = "") -> bool:
    return head.startswith(ZIP_MAGIC) or name.lower().endswith(".zip")


def extract_zip(
    source: Path | BinaryIO,
    dest: Path,
    *,
    max_bytes: int | None = None,
    max_entries: int | None = None,
    max_ratio: int | None = None,
) -> Extracted:
    max_bytes = max_bytes or settings.STUDIO_ZIP_MAX_BYTES
    max_entries = max_entries or settings.STUDIO_ZIP_MAX_ENTRIES
    max_ratio = max_ratio or settings.STUDIO_ZIP_MAX_RATIO
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ZipRefused(f"not a valid zip archive ({error})") from error
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise ZipRefused(f"the archive has {len(infos)} entries; the limit is {max_entries}")
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes:
            raise ZipRefused(
                f"the archive unpacks to {declared:,} bytes; the limit is {max_bytes:,}"
            )
        result = Extracted()
        written = 0
        for info in infos:
            if info.is_dir() or _ignored(info.filename):
                continue
            reason = _entry_problem(info)
            if reason is None:
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > _RATIO_MIN_BYTES and ratio > max_ratio:
                    raise ZipRefused(
                        f"{info.filename!r} is compressed {ratio:.0f} to 1 (limit {max_ratio}): "
                        "refused as a possible zip bomb"
                    )
                target = dest.joinpath(*_parts(info.filename))
                if not target.parent.resolve().is_relative_to(dest):
                    reason = "the entry would be written outside the extraction folder"
                elif target.exists():
                    reason = "another entry has the same name"
            if reason is not None:
                result.refused.append((info.filename, reason))
                continue
            written += _copy(archive, info, target, max_bytes - written)
            result.files.append((info.filename, target))
    logger.info(
        "extracted %d files (%d refused) into %s", len(result.files), len(result.refused), dest
    )
    return result


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(part in _IGNORED for part in parts) or (bool(parts) and parts[-1].startswith("._"))


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return "absolute paths are not allowed in an archive"
    if ".." in _parts(name):
        return "'..' is not allowed in an archive path"
    if "\x00" in name or not _parts(name):
        return "the entry has no usable name"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic links are not allowed in an archive"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return "only regular files are allowed in an archive"
    if info.flag_bits & 0x1:
        return "encrypted entries are not supported"
    return None


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Inflate one entry, never past its declared size nor the archive's byte budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    limit = min(info.file_size, budget)
    count = 0
    try:
        with archive.open(info) as entry, target.open("xb") as out:
            while chunk := entry.read(_CHUNK):
                count += len(chunk)
                if count > limit:
                    raise ZipRefused(f"{info.filename!r} inflates past its declared size: refused")
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as error:
        target.unlink(missing_ok=True)
        raise ZipRefused(f"{info.filename!r} cannot be read: {error}") from error
    return count
