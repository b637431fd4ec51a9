"""The readiness rules a run's data must pass, on plain counts (no database needed).

The same rules run three times: on the Train page (from the database's counts), before a
run is enqueued and again in the worker (both from the frozen COCO document). A blocking
problem stops a run; a warning is shown and does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BLOCKING = "blocking"
WARNING = "warning"
SPLITS = ("train", "val", "test")
# The most boxes of a class over the fewest of another (in train) worth a warning.
IMBALANCE_RATIO = 10


@dataclass(frozen=True)
class ClassCounts:
    id: int  # the class's database id (the link to its images)
    name: str
    boxes: dict[str, int]  # boxes per split


@dataclass(frozen=True)
class DataCounts:
    classes: list[ClassCounts]
    images: dict[str, int]  # labeled (trainable) images per split
    left_out: int = 0  # images neither labeled nor rejected: a run leaves them out


@dataclass(frozen=True)
class Problem:
    code: str  # no_classes, class_empty, class_few_train, val_missing, ...
    level: str  # BLOCKING or WARNING
    message: str
    target: dict[str, Any] = field(default_factory=dict)  # what fixes it: {"class": id}, ...


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def readiness(
    counts: DataCounts, *, min_boxes_per_class: int, min_val_images: int
) -> list[Problem]:
    """Every problem of the data at once, blocking ones first, each a sentence."""
    if not counts.classes:
        return [Problem("no_classes", BLOCKING, "The project has no classes: add at least one.")]
    problems: list[Problem] = []
    for c in counts.classes:
        target = {"class": c.id}
        train = c.boxes.get("train", 0)
        if not sum(c.boxes.values()):
            problems.append(
                Problem(
                    "class_empty",
                    BLOCKING,
                    f"Class {c.name!r} has no boxes in any split; training needs at least "
                    f"{min_boxes_per_class} in the train split (or delete the class).",
                    target,
                )
            )
        elif train < min_boxes_per_class:
            problems.append(
                Problem(
                    "class_few_train",
                    BLOCKING,
                    f"Class {c.name!r} has {_plural(train, 'box', 'boxes')} in the train split; "
                    f"training needs at least {min_boxes_per_class}.",
                    target,
                )
            )
    val = counts.images.get("val", 0)
    if val < min_val_images:
        problems.append(
            Problem(
                "val_missing",
                BLOCKING,
                f"The val split has {_plural(val, 'labeled image')}; "
                f"training needs at least {min_val_images} to measure progress.",
                {"split": "val"},
            )
        )
    problems += _warnings(counts)
    return problems


def _warnings(counts: DataCounts) -> list[Problem]:
    problems: list[Problem] = []
    if not counts.images.get("test", 0):
        problems.append(
            Problem(
                "test_missing",
                WARNING,
                "The test split has no labeled images: the final scores will be measured "
                "on the val split, which also decided when to stop (an optimistic score).",
                {"split": "test"},
            )
        )
    for c in counts.classes if counts.images.get("val", 0) else ():  # else: val_missing
        if sum(c.boxes.values()) and not c.boxes.get("val", 0):
            problems.append(
                Problem(
                    "class_no_val",
                    WARNING,
                    f"Class {c.name!r} has no boxes in the val split: "
                    "its progress cannot be measured.",
                    {"class": c.id},
                )
            )
    trained = sorted((c.boxes.get("train", 0), c.name, c.id) for c in counts.classes)
    trained = [t for t in trained if t[0]]
    if len(trained) > 1 and trained[-1][0] >= IMBALANCE_RATIO * trained[0][0]:
        (few, few_name, few_id), (many, many_name, _) = trained[0], trained[-1]
        problems.append(
            Problem(
                "imbalance",
                WARNING,
                f"Class imbalance: {many_name!r} has {many} train boxes, {few_name!r} only "
                f"{few}; the model will favour {many_name!r}. Label more {few_name!r}.",
                {"class": few_id},
            )
        )
    if counts.left_out:
        problems.append(
            Problem(
                "left_out",
                WARNING,
                f"{_plural(counts.left_out, 'image')} "
                f"{'is' if counts.left_out == 1 else 'are'} not labeled (no boxes and not "
                "marked as having no objects): the run leaves "
                f"{'it' if counts.left_out == 1 else 'them'} out.",
                {"unlabeled": True},
            )
        )
    return problems


def coco_counts(coco: dict[str, Any], *, left_out: int = 0) -> DataCounts:
    """The counts of a (frozen) COCO document, whose images are all trainable."""
    split_of = {image["id"]: image.get("split") for image in coco.get("images", [])}
    boxes = Counter(
        (ann["category_id"], split_of.get(ann["image_id"])) for ann in coco.get("annotations", [])
    )
    classes = [
        ClassCounts(
            id=c.get("studio_id", c["id"]),
            name=c["name"],
            boxes={s: boxes.get((c["id"], s), 0) for s in SPLITS},
        )
        for c in coco.get("categories", [])
    ]
    return DataCounts(classes=classes, images=dict(Counter(split_of.values())), left_out=left_out)


def dataset_problems(
    coco: dict[str, Any], *, min_boxes_per_class: int, min_val_images: int
) -> list[str]:
    """The blocking problems of a frozen document, each as a sentence (the worker's check)."""
    found = readiness(
        coco_counts(coco), min_boxes_per_class=min_boxes_per_class, min_val_images=min_val_images
    )
    return [p.message for p in found if p.level == BLOCKING]
