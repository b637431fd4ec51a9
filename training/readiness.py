"""Readiness of a project's data for a run: every problem at once, each with a link that
fixes it (the Train page's checklist and the Train API's refusal)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse

from labeling.models import Annotation, Category, Image, ImageStatus, Project
from training.checks import BLOCKING, SPLITS, ClassCounts, DataCounts, Problem, readiness


class DataNotReady(Exception):
    """A run was refused: ``problems`` lists every problem (blocking and warnings)."""

    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__("The data is not ready for training.")
        self.problems = problems

    @property
    def blocking(self) -> list[str]:
        return [p["message"] for p in self.problems if p["level"] == BLOCKING]


def project_counts(*, project: Project) -> DataCounts:
    """The counts the rules need, from the database, as a run would freeze the data now."""
    kept = Image.objects.filter(project=project).exclude(status=ImageStatus.REJECTED)
    has_box = Exists(Annotation.objects.filter(image=OuterRef("pk")))
    labeled = kept.filter(has_box | Q(no_objects=True))
    images = dict(labeled.values_list("split").annotate(n=Count("id")).order_by())
    boxes: dict[tuple[int, str], int] = {
        (category, split): n
        for category, split, n in Annotation.objects.filter(image__in=kept)
        .values_list("category_id", "image__split")
        .annotate(n=Count("id"))
        .order_by()
    }
    classes = [
        ClassCounts(id=c.pk, name=c.name, boxes={s: boxes.get((c.pk, s), 0) for s in SPLITS})
        for c in Category.objects.filter(project=project).order_by("order", "id")
    ]
    left_out = kept.exclude(has_box).filter(no_objects=False).count()
    return DataCounts(classes=classes, images=images, left_out=left_out)


def problems_of(counts: DataCounts, *, project: Project) -> list[dict[str, Any]]:
    """The problems of ``counts`` as JSON-ready dicts with the address that fixes each."""
    found = readiness(
        counts,
        min_boxes_per_class=settings.STUDIO_MIN_BOXES_PER_CLASS,
        min_val_images=settings.STUDIO_MIN_VAL_IMAGES,
    )
    return [
        {"code": p.code, "level": p.level, "message": p.message, **_link(p, project)} for p in found
    ]


def _link(problem: Problem, project: Project) -> dict[str, str]:
    images = reverse("project-images", args=[project.pk])
    target = problem.target
    if "class" in target:
        return {"link": f"{images}?category={target['class']}", "fix": "Images of the class"}
    if "split" in target:
        return {"link": f"{images}#resplit", "fix": "Set the splits"}
    if target.get("unlabeled"):
        return {"link": f"{images}?status=unlabeled", "fix": "Unlabeled images"}
    return {"link": reverse("project-detail", args=[project.pk]) + "#classes", "fix": "Add classes"}


def project_readiness(*, project: Project) -> dict[str, Any]:
    """The checklist of the project's data now: its problems, whether any blocks a run,
    and the boxes per class per split and images per split they were found in."""
    counts = project_counts(project=project)
    problems = problems_of(counts, project=project)
    return {
        "problems": problems,
        "blocked": any(p["level"] == BLOCKING for p in problems),
        "classes": [{"name": c.name, **c.boxes} for c in counts.classes],
        "images": {s: counts.images.get(s, 0) for s in SPLITS},
    }
