"""Extracting zip archives safely, into a folder the caller owns (a temporary one).

Refused entries (reported by name, the rest is extracted): absolute paths, ``..``
components, symbolic links and other non-regular files, encrypted entries, names used
twice. Refused archives (nothing is kept: what was written is removed): not a zip, more
entries, more bytes or a higher compression ratio than the settings allow, or an entry
that inflates past its declared size. The ratio is bounded for each entry and for the
whole archive: all entries together may inflate to at most ``max_ratio`` times the
archive's own size (plus 1 MiB, for small archives). That is checked on the declared
sizes before anything is written, and each entry is held to its declared size while it
is written, so the total cannot pass it either. Nothing is written outside the
destination folder, and no existing file is overwritten.
"""

from __future__ import annotations

import contextlib
import io
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
        size = _archive_size(source)
        ratio_budget = max_ratio * size + _RATIO_MIN_BYTES
        if declared > ratio_budget:
            raise _bomb(declared, size, max_ratio)
        result = Extracted()
        created: list[Path] = []
        try:
            _extract_entries(archive, infos, dest, result, created, max_ratio)
        except ZipRefused:
            _remove(result, created)
            raise
    logger.info(
        "extracted %d files (%d refused) into %s", len(result.files), len(result.refused), dest
    )
    return result


def _archive_size(source: Path | BinaryIO) -> int:
    if isinstance(source, str | Path):
        return Path(source).stat().st_size
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def _bomb(unpacked: int, size: int, max_ratio: int) -> ZipRefused:
    return ZipRefused(
        f"the archive unpacks to {unpacked:,} bytes, "
        f"{unpacked / max(size, 1):.0f} times its own {size:,} bytes (limit {max_ratio} to 1): "
        "refused as a possible zip bomb"
    )


def _remove(result: Extracted, created: list[Path]) -> None:
    """Undo a refused extraction: the files written, then the folders made for them."""
    for _, path in result.files:
        path.unlink(missing_ok=True)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()
    result.files.clear()


def _extract_entries(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    dest: Path,
    result: Extracted,
    created: list[Path],
    max_ratio: int,
) -> None:
    """Write the entries in order; ZipRefused at the first one past a limit."""
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
        try:
            _make_parents(target.parent, created)
        except OSError:  # e.g. an earlier entry is a file named like this entry's folder
            result.refused.append((info.filename, "the entry's folder cannot be made"))
            continue
        result.files.append((info.filename, target))  # first: removed if the copy fails
        _copy(archive, info, target)


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


def _make_parents(folder: Path, created: list[Path]) -> None:
    """mkdir -p, noting each folder it makes (so a refused extraction can remove them)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Inflate one entry, never past its declared size."""
    count = 0
    try:
        with archive.open(info) as entry, target.open("xb") as out:
            while chunk := entry.read(_CHUNK):
                count += len(chunk)
                if count > info.file_size:
                    raise ZipRefused(f"{info.filename!r} inflates past its declared size: refused")
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as error:
        target.unlink(missing_ok=True)
        raise ZipRefused(f"{info.filename!r} cannot be read: {error}") from error
