"""Freezing a project's labeled data into an immutable dataset version (COCO JSON)."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q

from labeling.models import Annotation, Category, Image, ImageStatus, Project
from training.models import DatasetVersion, RunStatus, TrainingRun


def trainable_images(*, project: Project):
    """Labeled images: with boxes, or marked as having no objects; never rejected ones."""
    return (
        Image.objects.filter(project=project)
        .exclude(status=ImageStatus.REJECTED)
        .annotate(box_count=Count("annotations"))
        .filter(Q(box_count__gt=0) | Q(no_objects=True))
        .order_by("id")
    )


def project_coco(*, project: Project) -> dict[str, Any]:
    """The project's trainable data as a canonical COCO document.

    ``file_name`` is the image's name in the media storage (content-addressed, so it
    never changes); each image carries its ``split`` and ``sha256``.
    """
    categories = list(Category.objects.filter(project=project).order_by("order", "id"))
    images = list(
        trainable_images(project=project).values(
            "id", "file", "width", "height", "split", "sha256", "no_objects"
        )
    )
    ids = [image["id"] for image in images]
    annotations = (
        Annotation.objects.filter(image_id__in=ids)
        .order_by("image_id", "id")
        .values_list("id", "image_id", "category_id", "x", "y", "w", "h")
    )
    return {
        "info": {"description": f"Detection Studio project {project.pk}: {project.name}"},
        "categories": [
            {"id": index, "name": c.name, "supercategory": "", "studio_id": c.pk}
            for index, c in enumerate(categories, start=1)
        ],
        "images": [
            {
                "id": image["id"],
                "file_name": image["file"],
                "width": image["width"],
                "height": image["height"],
                "split": image["split"],
                "sha256": image["sha256"],
                "no_objects": image["no_objects"],
            }
            for image in images
        ],
        "annotations": _annotations(annotations, {c.pk: i for i, c in enumerate(categories, 1)}),
    }


def _annotations(rows, coco_id_of: dict[int, int]) -> list[dict[str, Any]]:
    return [
        {
            "id": pk,
            "image_id": image_id,
            "category_id": coco_id_of[category_id],
            "bbox": [x, y, w, h],
            "area": w * h,
            "iscrowd": 0,
            "segmentation": [],
        }
        for pk, image_id, category_id, x, y, w, h in rows
    ]


def canonical_bytes(coco: dict[str, Any]) -> bytes:
    return _canonical(coco)


def dataset_version_freeze(*, project: Project, user: AbstractBaseUser | None) -> DatasetVersion:
    """The dataset version of the project's current data (an existing one if unchanged).

    One streamed query (images joined with their boxes, in id order) written as it is
    read: the document is assembled on disk, never in memory, byte for byte what
    ``canonical_bytes(project_coco(...))`` gives.
    """
    categories = list(Category.objects.filter(project=project).order_by("order", "id"))
    coco_id_of = {c.pk: index for index, c in enumerate(categories, start=1)}
    with tempfile.TemporaryDirectory(prefix="studio-freeze-") as folder:
        boxes_part, images_part = Path(folder) / "annotations", Path(folder) / "images"
        with boxes_part.open("w") as boxes_out, images_part.open("w") as images_out:
            counts = _write_parts(_freeze_rows(project), coco_id_of, boxes_out, images_out)
        head = {
            "categories": [
                {"id": index, "name": c.name, "supercategory": "", "studio_id": c.pk}
                for index, c in enumerate(categories, start=1)
            ],
            "info": {"description": f"Detection Studio project {project.pk}: {project.name}"},
        }
        document = Path(folder) / "coco.json"
        digest = _assemble(document, head, boxes_part, images_part)
        existing = DatasetVersion.objects.filter(project=project, content_hash=digest).first()
        if existing:
            return existing
        with document.open("rb") as handle:
            name = default_storage.save(
                f"projects/{project.pk}/datasets/{digest}.json", File(handle)
            )
    try:
        with transaction.atomic():
            return DatasetVersion.objects.create(
                project=project,
                content_hash=digest,
                coco_file=name,
                image_count=sum(counts["splits"].values()),
                box_count=counts["boxes"],
                class_names=[c.name for c in categories],
                split_counts=counts["splits"],
                created_by=user,
            )
    except IntegrityError:  # the same data frozen at the same moment by another request
        return DatasetVersion.objects.get(project=project, content_hash=digest)


_FREEZE_COLUMNS = (
    "id", "file", "width", "height", "split", "sha256", "no_objects",
    "annotations__id", "annotations__category_id",
    "annotations__x", "annotations__y", "annotations__w", "annotations__h",
)  # fmt: skip
_ROWS_PER_FETCH = 10_000


def _freeze_rows(project: Project) -> Iterator[tuple]:
    """Trainable images joined with their boxes (one row per box, one for an image
    without any), by image id then box id: one query, read in chunks. On PostgreSQL a
    binary server-side cursor (parsing text rows costs more than the query itself)."""
    rows = (
        Image.objects.filter(project=project)
        .exclude(status=ImageStatus.REJECTED)
        .filter(Q(annotations__isnull=False) | Q(no_objects=True))
        .order_by("id", "annotations__id")
        .values_list(*_FREEZE_COLUMNS)
    )
    if connection.vendor != "postgresql":
        yield from rows.iterator(chunk_size=_ROWS_PER_FETCH)
        return
    sql, params = rows.query.sql_with_params()
    with transaction.atomic():  # a server-side cursor lives in a transaction
        connection.ensure_connection()
        name = f"freeze_{uuid.uuid4().hex}"
        with connection.connection.cursor(name=name, binary=True) as cursor:
            cursor.itersize = _ROWS_PER_FETCH
            start = time.monotonic()
            cursor.execute(sql, params)
            if connection.queries_logged:  # counted as Django's own cursors are
                elapsed = f"{time.monotonic() - start:.3f}"
                connection.queries_log.append({"sql": f"{sql} -- {params!r}", "time": elapsed})
            yield from cursor


_BOX = '{"area":%r,"bbox":[%r,%r,%r,%r],"category_id":%d,"id":%d,"image_id":%d,"iscrowd":0,"segmentation":[]}'  # noqa: E501
_IMAGE = '{"file_name":%s,"height":%d,"id":%d,"no_objects":%s,"sha256":%s,"split":%s,"width":%d}'


def _write_parts(rows, coco_id_of: dict[int, int], boxes_out, images_out) -> dict[str, Any]:
    """Write the boxes' and the images' JSON entries (comma-separated) as rows come."""
    splits = {"train": 0, "val": 0, "test": 0}
    box_count, last_image = 0, None
    for image_id, file, width, height, split, sha, no_objects, box_id, category, *xywh in rows:
        if image_id != last_image:
            if last_image is not None:
                images_out.write(",")
            images_out.write(
                _IMAGE % (
                    json.dumps(file), height, image_id, "true" if no_objects else "false",
                    json.dumps(sha), json.dumps(split), width,
                )
            )  # fmt: skip
            splits[split] = splits.get(split, 0) + 1
            last_image = image_id
        if box_id is not None:
            x, y, w, h = xywh
            if box_count:
                boxes_out.write(",")
            boxes_out.write(_BOX % (w * h, x, y, w, h, coco_id_of[category], box_id, image_id))
            box_count += 1
    return {"splits": splits, "boxes": box_count}


def _assemble(document: Path, head: dict[str, Any], boxes_part: Path, images_part: Path) -> str:
    """Write the canonical document (sorted keys: annotations, categories, images, info)
    from its parts; return its sha256."""
    digest = hashlib.sha256()
    with document.open("wb") as out:

        def put(data: bytes) -> None:
            digest.update(data)
            out.write(data)

        def copy(part: Path) -> None:
            with part.open("rb") as source:
                while chunk := source.read(_COPY_CHUNK):
                    put(chunk)

        put(b'{"annotations":[')
        copy(boxes_part)
        put(b'],"categories":' + _canonical(head["categories"]) + b',"images":[')
        copy(images_part)
        put(b'],"info":' + _canonical(head["info"]) + b"}")
    return digest.hexdigest()


_COPY_CHUNK = 1024 * 1024


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def dataset_version_coco(version: DatasetVersion) -> dict[str, Any]:
    """Read a frozen version back, verifying its hash."""
    with default_storage.open(version.coco_file.name, "rb") as handle:
        payload = handle.read()
    if hashlib.sha256(payload).hexdigest() != version.content_hash:
        raise ValueError(f"dataset version {version.pk} does not match its hash")
    return json.loads(payload)


def freeze_in_flight(*, project_id: int) -> bool:
    """Whether a run of the project may be freezing its data now: a live run without
    its dataset version yet (the freeze's query may have read images being deleted)."""
    live = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)
    return TrainingRun.objects.filter(
        project_id=project_id, status__in=live, dataset_version__isnull=True
    ).exists()


def frozen_file_names(*, project_id: int, since) -> set[str]:
    """The image files that the project's dataset versions frozen at or after ``since``
    name (an image is only in versions frozen after its upload)."""
    names: set[str] = set()
    versions = DatasetVersion.objects.filter(project_id=project_id, created_at__gte=since)
    for version in versions:
        names.update(image["file_name"] for image in dataset_version_coco(version)["images"])
    return names
