"""Rows and requests shared by the box-saving tests (no files: the API never reads pixels)."""

from __future__ import annotations

import itertools
import json

from django.urls import reverse

from labeling.models import Annotation, AnnotationChange, Category, Image, Project

_hashes = itertools.count(1)


def make_image(project: Project, *, width: int = 640, height: int = 480) -> Image:
    n = next(_hashes)
    return Image.objects.create(
        project=project,
        file=f"x/{n}.png",
        thumbnail=f"x/{n}.jpg",
        original_name=f"{n}.png",
        width=width,
        height=height,
        sha256=f"{n:064x}",
        bytes=1,
        format="png",
    )


def make_categories(project: Project, *names: str) -> list[Category]:
    return [
        Category.objects.create(project=project, name=name, order=i) for i, name in enumerate(names)
    ]


def url(image: Image, suffix: str = "") -> str:
    name = {
        "": "api-image-annotations",
        "history": "api-image-annotations-history",
        "revert": "api-image-annotations-revert",
        "review": "api-image-review",
    }[suffix]
    return reverse(name, args=[image.project_id, image.pk])


def put(client, image: Image, body):
    """PUT a body: a dict as JSON, a str as raw text (to send what json.dumps would not)."""
    data = body if isinstance(body, str) else json.dumps(body)
    return client.put(url(image), data, content_type="application/json")


def post(client, image: Image, suffix: str, body: dict):
    return client.post(url(image, suffix), body, format="json")


def snapshot(image: Image) -> tuple:
    """Everything a refused request must leave as it was."""
    image.refresh_from_db()
    boxes = list(
        Annotation.objects.filter(image=image)
        .order_by("id")
        .values_list("id", "category_id", "x", "y", "w", "h", "area")
    )
    fields = (
        image.annotation_version,
        image.status,
        image.no_objects,
        image.labeled_by_id,
        image.labeled_at,
        image.reviewed_by_id,
        image.review_comment,
    )
    return boxes, fields, AnnotationChange.objects.filter(image=image).count()
