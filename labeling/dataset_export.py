"""Exporting a project as a dataset zip in any format of labeling/formats, streamed.

The annotation files are written by the format's converter into a temporary folder; the
zip is then produced piece by piece: annotation files, then every image read from the
storage in chunks. Memory stays constant whatever the number and size of the images,
and the first bytes leave before the last image is read. Only labeled images are
exported unless asked (ExportOptions); entries extract as rw-r--r-- files in rwxr-xr-x
folders.
"""

from __future__ import annotations

import stat
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling import formats
from labeling.coco_stream import coco_zip_pieces
from labeling.formats import Box, Dataset, ImageRecord
from labeling.models import Annotation, Category, Image, Project
from studio import media

_CHUNK = 1024 * 1024
_FILE_MODE = stat.S_IFREG | 0o644
_FOLDER_MODE = stat.S_IFDIR | 0o755


def dataset_from_project(
    *, project: Project, include_unlabeled: bool = False
) -> tuple[Dataset, list[dict]]:
    """The project as a formats Dataset (images without paths) and its image rows.

    Only labeled images (with boxes, or marked as having no objects) unless
    ``include_unlabeled``: every format but YOLO would write an unlabeled image as one
    with no objects, a confirmed negative to whoever reads it.
    """
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
    queryset = Image.objects.filter(project=project)
    if not include_unlabeled:
        has_boxes = Exists(Annotation.objects.filter(image=OuterRef("pk")))
        queryset = queryset.filter(Q(no_objects=True) | has_boxes)
    rows = list(
        queryset.order_by("id").values(
            "id", "original_name", "width", "height", "split", "no_objects", "file"
        )
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


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """``include_unlabeled``: export every image, not only the labeled ones.
    ``single_file``: COCO as one ``annotations.json`` + ``images/`` (today's CVAT and
    datumaro layout, one ``annotations/instances_<split>.json`` per split, otherwise)."""

    include_unlabeled: bool = False
    single_file: bool = False


def export_zip_stream(
    *, project: Project, format: str, options: ExportOptions | None = None, on_image=None
) -> Iterator[bytes]:
    """The export zip, in pieces; FormatError (before any byte) for an unknown format.
    ``on_image()``, if given, is called after each image is written into the zip."""
    if format not in formats.FORMATS:
        known = ", ".join(formats.FORMATS)
        raise formats.FormatError(f"unknown format {format!r}; known formats: {known}")
    options = options or ExportOptions()
    return (piece for piece in _stream(project, format, options, on_image) if piece)


def _stream(project: Project, format: str, options: ExportOptions, on_image) -> Iterator[bytes]:
    if format == "coco":  # written as the rows are read (labeling/coco_stream.py)
        sink = _Sink()
        stamp = timezone.localtime().timetuple()[:6]

        def entry(name: str, folder: bool) -> zipfile.ZipInfo:
            return _entry(name, stamp, _FOLDER_MODE if folder else _FILE_MODE)

        with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
            yield from coco_zip_pieces(
                archive, sink, entry, project=project,
                include_unlabeled=options.include_unlabeled, single_file=options.single_file,
                on_image=on_image,
            )  # fmt: skip
        yield sink.take()
        return
    dataset, rows = dataset_from_project(
        project=project, include_unlabeled=options.include_unlabeled
    )
    writer_options = {"single_file": True} if format == "coco" and options.single_file else {}
    with tempfile.TemporaryDirectory(prefix="studio-export-") as folder:
        out = Path(folder) / "export"
        destinations = formats.write(dataset, out, format, **writer_options)
        sink = _Sink()
        stamp = timezone.localtime().timetuple()[:6]
        with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
            for name in _folders(out, destinations):
                archive.writestr(_entry(name + "/", stamp, _FOLDER_MODE), b"")
            for file in sorted(p for p in out.rglob("*") if p.is_file()):
                info = _entry(file.relative_to(out).as_posix(), stamp, _FILE_MODE)
                info.compress_type = zipfile.ZIP_DEFLATED
                with file.open("rb") as source, archive.open(info, "w") as entry:
                    while chunk := source.read(_CHUNK):
                        entry.write(chunk)
                        yield sink.take()
            for row, destination in zip(rows, destinations, strict=True):
                info = _entry(destination.relative_to(out).as_posix(), stamp, _FILE_MODE)
                info.compress_type = zipfile.ZIP_STORED  # JPEG, PNG, WebP: compressed already
                with media.open_stream(row["file"]) as source:
                    with archive.open(info, "w") as entry:
                        while chunk := source.read(_CHUNK):
                            entry.write(chunk)
                            yield sink.take()
                if on_image is not None:
                    on_image()
        yield sink.take()


def _entry(name: str, stamp: tuple, mode: int) -> zipfile.ZipInfo:
    """A zip entry that ``unzip`` extracts with ``mode`` (rw-r--r-- files, rwxr-xr-x
    folders) whatever the server's umask; without it, entries come out owner-only."""
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.create_system = 3  # Unix: the high 16 bits of external_attr are the st_mode
    info.external_attr = mode << 16
    if name.endswith("/"):
        info.external_attr |= 0x10  # MS-DOS directory flag
    return info


def _folders(out: Path, destinations: list[Path]) -> list[str]:
    """Every folder of the export (those of the images too), parents first."""
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir()}
    for destination in destinations:
        parent = destination.parent
        while parent != out:
            names.add(parent.relative_to(out).as_posix())
            parent = parent.parent
    return sorted(names)


def export_zip_file(
    *, project: Project, format: str, path: Path, options: ExportOptions | None = None
) -> int:
    """Write the export zip to a file; returns its size in bytes."""
    size = 0
    with Path(path).open("wb") as out:
        for piece in export_zip_stream(project=project, format=format, options=options):
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
