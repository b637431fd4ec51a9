"""Dataset health warnings, each with a link to the images concerned (a grid filter).

From the health report alone (labeling/health.py: classes with their box counts, images
without boxes, tiny and huge boxes, all counted by the database on write): no query here.

- class imbalance: a class with IMBALANCE_RATIO times fewer boxes than the largest one;
- classes with fewer train boxes than training needs (STUDIO_MIN_BOXES_PER_CLASS);
- untagged images (no boxes, not marked "no objects");
- tiny boxes (a side under TINY_PX pixels or under TINY_FRACTION of the image's side) and
  huge ones (HUGE_FRACTION of the image's area or more): usually a slip of the mouse.

Duplicate files cannot be in a project: an image whose content hash is already there is
refused at upload and skipped at import (the one_image_per_hash constraint).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import F, Q
from django.urls import reverse

from labeling.models import Project

IMBALANCE_RATIO = 10
TINY_PX = 4
TINY_FRACTION = 0.01
HUGE_FRACTION = 0.9

# On Annotation rows (the image's size through the box's image).
TINY = (
    Q(w__lt=TINY_PX)
    | Q(h__lt=TINY_PX)
    | Q(w__lt=F("image__width") * TINY_FRACTION)
    | Q(h__lt=F("image__height") * TINY_FRACTION)
)
HUGE = Q(area__gte=F("image__width") * F("image__height") * HUGE_FRACTION)
BOX_FILTERS = {"tiny": TINY, "huge": HUGE}


def _alert(kind: str, message: str, grid: str, **query: Any) -> dict[str, str]:
    return {"kind": kind, "message": message, "url": f"{grid}?{urlencode(query)}"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('x') else 's'}"


def health_alerts(*, project: Project, report: dict[str, Any]) -> list[dict[str, str]]:
    grid = reverse("project-images", args=[project.pk])
    alerts = []
    classes = report["classes"]
    minimum = report["min_train_examples"]
    present = [c for c in classes if c["total"] > 0]
    if len(present) >= 2:
        largest = max(present, key=lambda c: c["total"])
        for c in sorted(present, key=lambda c: c["total"]):
            ratio = largest["total"] / c["total"]
            if ratio >= IMBALANCE_RATIO:
                alerts.append(
                    _alert(
                        "imbalance",
                        f"Class imbalance: {c['name']} has {ratio:.0f}x fewer boxes than "
                        f"{largest['name']} ({c['total']} vs {largest['total']}); the model "
                        f"will favour {largest['name']}. Label more {c['name']}.",
                        grid,
                        category=c["id"],
                    )
                )
    for c in classes:
        if c["train"] < minimum:
            where = {"category": c["id"], "split": "train"} if c["train"] else {"tagged": "false"}
            alerts.append(
                _alert(
                    "too_few",
                    f"{c['name']}: {_plural(c['train'], 'box')} in train, fewer than the "
                    f"{minimum} training needs: the model will hardly learn it.",
                    grid,
                    **where,
                )
            )
    untagged = report["images_without_boxes"]
    if untagged:
        alerts.append(
            _alert(
                "untagged",
                f"{_plural(untagged, 'image')} without boxes and not marked “no objects”: "
                "training leaves them out.",
                grid,
                tagged="false",
            )
        )
    boxes = report["odd_boxes"]  # counted on write (labeling/box_counts.py), never here
    if boxes["tiny"]:
        alerts.append(
            _alert(
                "tiny",
                f"{_plural(boxes['tiny'], 'tiny box')} (a side under {TINY_PX} px or "
                f"{TINY_FRACTION:.0%} of the image) on {_plural(boxes['tiny_images'], 'image')}: "
                "check they are not slips of the mouse.",
                grid,
                boxes="tiny",
            )
        )
    if boxes["huge"]:
        alerts.append(
            _alert(
                "huge",
                f"{_plural(boxes['huge'], 'huge box')} (covering {HUGE_FRACTION:.0%} of the "
                f"image or more) on {_plural(boxes['huge_images'], 'image')}: check them.",
                grid,
                boxes="huge",
            )
        )
    return alerts
