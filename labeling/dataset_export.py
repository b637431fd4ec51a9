"""Exporting a project as a dataset zip in any format of labeling/formats, streamed.

The annotation files are written by the format's converter into a temporary folder; the
zip is then produced piece by piece: annotation files, then every image read from the
storage in chunks. Memory stays constant whatever the number and size of the images,
and the first bytes leave before the last image is read.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from django.core.files.storage import default_storage
from django.utils import timezone

from labeling import formats
from labeling.formats import Box, Dataset, ImageRecord
from labeling.models import Annotation, Category, Image, Project

_CHUNK = 1024 * 1024


def dataset_from_project(*, project: Project) -> tuple[Dataset, list[dict]]:
    """The project as a formats Dataset (images without paths) and its image rows."""
    names = dict(Category.objects.filter(project=project).values_list("id", "name"))
    classes = list(names.values())
    boxes: dict[int, list[Box]] = defaultdict(list)
    for image_id, category_id, x, y, w, h in (
        Annotation.objects.filter(image__project=project)
        .order_by("image_id", "id")
        .values_list("image_id", "category_id", "x", "y", "w", "h")
        .iterator(chunk_size=10_000)
    ):
        boxes[image_id].append(Box(names[category_id], x, y, w, h))
    rows = list(
        Image.objects.filter(project=project)
        .order_by("id")
        .values("id", "original_name", "width", "height", "split", "no_objects", "file")
    )
    images = [
        ImageRecord(
            file_name=_export_name(row["original_name"], row["file"]),
            path=None,
            width=row["width"],
            height=row["height"],
            split=row["split"],
            boxes=boxes.get(row["id"], []),
            no_objects=row["no_objects"] and not boxes.get(row["id"]),
        )
        for row in rows
    ]
    return Dataset(classes=classes, images=images, format="", name=project.name), rows


def _export_name(original: str, stored: str) -> str:
    """The original name, with the extension of the stored pixels (a TIFF became a PNG)."""
    stem = PurePosixPath(original.replace("\\", "/")).stem or "image"
    return stem + PurePosixPath(stored).suffix


def export_zip_stream(*, project: Project, format: str) -> Iterator[bytes]:
    """The export zip, in pieces; FormatError (before any byte) for an unknown format."""
    if format not in formats.FORMATS:
        known = ", ".join(formats.FORMATS)
        raise formats.FormatError(f"unknown format {format!r}; known formats: {known}")
    return (piece for piece in _stream(project, format) if piece)


def _stream(project: Project, format: str) -> Iterator[bytes]:
    dataset, rows = dataset_from_project(project=project)
    with tempfile.TemporaryDirectory(prefix="studio-export-") as folder:
        out = Path(folder) / "export"
        destinations = formats.write(dataset, out, format)
        sink = _Sink()
        stamp = timezone.localtime().timetuple()[:6]
        with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
            for file in sorted(p for p in out.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(file.relative_to(out).as_posix(), date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                with file.open("rb") as source, archive.open(info, "w") as entry:
                    while chunk := source.read(_CHUNK):
                        entry.write(chunk)
                        yield sink.take()
            for row, destination in zip(rows, destinations, strict=True):
                info = zipfile.ZipInfo(destination.relative_to(out).as_posix(), date_time=stamp)
                info.compress_type = zipfile.ZIP_STORED  # JPEG, PNG, WebP: compressed already
                with default_storage.open(row["file"], "rb") as source:
                    with archive.open(info, "w") as entry:
                        while chunk := source.read(_CHUNK):
                            entry.write(chunk)
                            yield sink.take()
        yield sink.take()


def export_zip_file(*, project: Project, format: str, path: Path) -> int:
    """Write the export zip to a file; returns its size in bytes."""
    size = 0
    with Path(path).open("wb") as out:
        for piece in export_zip_stream(project=project, format=format):
            out.write(piece)
            size += len(piece)
    return size


class _Sink:
    """A write-only, non-seekable file for zipfile: it collects bytes until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
