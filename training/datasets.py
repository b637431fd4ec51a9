"""Freezing a project's labeled data into an immutable dataset version (COCO JSON)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from labeling.models import Annotation, Category, Image, ImageStatus, Project
from training.models import DatasetVersion


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
    return json.dumps(coco, sort_keys=True, separators=(",", ":")).encode()


def dataset_version_freeze(*, project: Project, user: AbstractBaseUser | None) -> DatasetVersion:
    """The dataset version of the project's current data (an existing one if unchanged)."""
    coco = project_coco(project=project)
    payload = canonical_bytes(coco)
    digest = hashlib.sha256(payload).hexdigest()
    existing = DatasetVersion.objects.filter(project=project, content_hash=digest).first()
    if existing:
        return existing
    name = default_storage.save(
        f"projects/{project.pk}/datasets/{digest}.json", ContentFile(payload)
    )
    splits = {"train": 0, "val": 0, "test": 0}
    for image in coco["images"]:
        splits[image["split"]] = splits.get(image["split"], 0) + 1
    try:
        with transaction.atomic():
            return DatasetVersion.objects.create(
                project=project,
                content_hash=digest,
                coco_file=name,
                image_count=len(coco["images"]),
                box_count=len(coco["annotations"]),
                class_names=[c["name"] for c in coco["categories"]],
                split_counts=splits,
                created_by=user,
            )
    except IntegrityError:  # the same data frozen at the same moment by another request
        return DatasetVersion.objects.get(project=project, content_hash=digest)


def dataset_version_coco(version: DatasetVersion) -> dict[str, Any]:
    """Read a frozen version back, verifying its hash."""
    with default_storage.open(version.coco_file.name, "rb") as handle:
        payload = handle.read()
    if hashlib.sha256(payload).hexdigest() != version.content_hash:
        raise ValueError(f"dataset version {version.pk} does not match its hash")
    return json.loads(payload)


def frozen_file_names(*, project_id: int, since) -> set[str]:
    """The image files that the project's dataset versions frozen at or after ``since``
    name (an image is only in versions frozen after its upload)."""
    names: set[str] = set()
    versions = DatasetVersion.objects.filter(project_id=project_id, created_at__gte=since)
    for version in versions:
        names.update(image["file_name"] for image in dataset_version_coco(version)["images"])
    return names
