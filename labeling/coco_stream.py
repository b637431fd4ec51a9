"""The COCO export zip written as rows are read: nothing of the project is held in memory.

The same layouts as labeling/formats/coco.py writes (CVAT's and datumaro's
``annotations/instances_<split>.json`` with ``images/<split>/``, or one
``annotations.json`` with ``images/``), produced straight from the database: each JSON
file is written into the zip entry by entry from a query read in chunks (its images,
then its boxes), then the pixels of its images, read from the storage in chunks. The
first bytes leave at once; the memory used does not grow with the boxes or the JSON,
only with the set of file names of one folder (kept to make them unique).

COCO ids are the studio's own image and box ids.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, Q

from labeling.formats.coco import ANNOTATION_FILE
from labeling.models import Annotation, Category, Image, Project, Split

ROWS_PER_FETCH = 2000
_CHUNK = 1024 * 1024
_FLUSH_AT = 256 * 1024  # bytes of JSON gathered before they go into the zip entry


def coco_zip_pieces(
    archive: zipfile.ZipFile, sink, entry, *, project: Project, include_unlabeled: bool,
    single_file: bool, on_image=None,
) -> Iterator[bytes]:  # fmt: skip
    """Write the COCO export into ``archive`` (over ``sink``), yielding the bytes made
    so far after every piece; ``entry(name, is_folder)`` makes a zip entry's info;
    ``on_image()``, if given, is called after each image's pixels are written."""
    classes = list(Category.objects.filter(project=project).values_list("id", "name"))
    coco_id = {pk: index for index, (pk, _) in enumerate(classes, start=1)}
    has_boxes = Exists(Annotation.objects.filter(image=OuterRef("pk")))
    images = Image.objects.filter(project=project).annotate(has_boxes=has_boxes)
    if not include_unlabeled:
        images = images.filter(Q(no_objects=True) | Q(has_boxes=True))
    present = set(images.values_list("split", flat=True).distinct().order_by())
    groups = [None] if single_file else [s for s in Split.values if s in present]
    if not groups:  # an empty export still has its annotation file
        groups = [None] if single_file else ["default"]
    folders = ["images"] if single_file else ["annotations", "images"]
    folders += [] if single_file else [f"images/{split}" for split in groups]
    for folder in sorted(folders):
        archive.writestr(entry(folder + "/", True), b"")
    yield sink.take()
    categories = [
        {"id": coco_id[pk], "name": name, "supercategory": "none"} for pk, name in classes
    ]
    for split in groups:
        rows = images if split is None else images.filter(split=split)
        json_name = ANNOTATION_FILE if split is None else f"annotations/instances_{split}.json"
        info = entry(json_name, False)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            for text in _document(project, rows, categories, coco_id, single_file):
                out.write(text.encode())
                yield sink.take()
        folder = "images" if split is None else f"images/{split}"
        for name, stored in _names(rows.values_list("original_name", "file")):
            info = entry(f"{folder}/{name}", False)
            info.compress_type = zipfile.ZIP_STORED  # JPEG, PNG, WebP: compressed already
            with default_storage.open(stored, "rb") as source, archive.open(info, "w") as out:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    yield sink.take()
            if on_image is not None:
                on_image()
    yield sink.take()


def _document(project, rows, categories, coco_id, single_file: bool) -> Iterator[str]:
    """The JSON text of one COCO file, in pieces of about _FLUSH_AT characters."""
    now = datetime.now(UTC)
    head = {
        "info": {
            "description": project.name or "Exported from Detection Studio",
            "contributor": "Detection Studio",
            "version": "1.0",
            "year": now.year,
            "date_created": now.isoformat(timespec="seconds"),
        },
        "licenses": [],
        "categories": categories,
    }
    yield json.dumps(head)[:-1] + ', "images": ['
    columns = ("id", "original_name", "file", "width", "height", "split", "no_objects")
    entries = (
        _image_entry(row, name, single_file)
        for row, (name, _) in zip(
            rows.values_list(*columns, "has_boxes").iterator(chunk_size=ROWS_PER_FETCH),
            _names(rows.values_list("original_name", "file")),
            strict=True,
        )
    )
    yield from _joined(entries)
    yield '], "annotations": ['
    boxes = (
        Annotation.objects.filter(image__in=rows.values("pk"))
        .order_by("image_id", "id")
        .values_list("id", "image_id", "category_id", "x", "y", "w", "h")
        .iterator(chunk_size=ROWS_PER_FETCH)
    )
    yield from _joined(
        json.dumps(
            {
                "id": pk,
                "image_id": image_id,
                "category_id": coco_id[category],
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
                "segmentation": [],
            }
        )  # fmt: skip
        for pk, image_id, category, x, y, w, h in boxes
    )
    yield "]}"


def _image_entry(row, name: str, single_file: bool) -> str:
    pk, _, _, width, height, split, no_objects, has_boxes = row
    entry: dict[str, object] = {
        "id": pk,
        "file_name": f"images/{name}" if single_file else name,
        "width": width,
        "height": height,
        "split": split,
    }
    if no_objects and not has_boxes:
        entry["no_objects"] = True
    return json.dumps(entry)


def _joined(entries: Iterator[str]) -> Iterator[str]:
    """Comma-separated entries, gathered into pieces of about _FLUSH_AT characters."""
    parts: list[str] = []
    size, first = 0, True
    for text in entries:
        if not first:
            parts.append(",")
        parts.append(text)
        size += len(text) + 1
        first = False
        if size >= _FLUSH_AT:
            yield "".join(parts)
            parts, size = [], 0
    if parts:
        yield "".join(parts)


def _names(rows) -> Iterator[tuple[str, str]]:
    """(file name in the zip, stored name) per image, in id order: the original name
    with the stored pixels' extension, unique in its folder even ignoring case (as
    labeling/formats/output.py's export_names makes them)."""
    taken: set[str] = set()
    for original, stored in rows.order_by("id").iterator(chunk_size=ROWS_PER_FETCH):
        exported = PurePosixPath(original.replace("\\", "/")).stem or "image"
        name = (exported + PurePosixPath(stored).suffix).strip()
        if name in ("", ".", ".."):
            name = "image.jpg"
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        candidate, counter = stem, 1
        while candidate.lower() in taken:
            counter += 1
            candidate = f"{stem}-{counter}"
        taken.add(candidate.lower())
        yield candidate + suffix, stored
