"""The data check a run must pass, on the frozen COCO document (no database needed).

It runs twice: before a run is enqueued (in the web) and again in the worker.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


def dataset_problems(
    coco: dict[str, Any], *, min_boxes_per_class: int, min_val_images: int
) -> list[str]:
    """What is missing for training, each as a sentence a person understands."""
    problems: list[str] = []
    categories = coco.get("categories", [])
    if not categories:
        return ["The project has no classes: add at least one."]
    split_of = {image["id"]: image.get("split") for image in coco.get("images", [])}
    train_boxes = Counter(
        ann["category_id"]
        for ann in coco.get("annotations", [])
        if split_of.get(ann["image_id"]) == "train"
    )
    for category in categories:
        count = train_boxes.get(category["id"], 0)
        if count < min_boxes_per_class:
            problems.append(
                f"Class {category['name']!r} has {count} box{'es' if count != 1 else ''} "
                f"in the train split; training needs at least {min_boxes_per_class}."
            )
    val_images = sum(1 for split in split_of.values() if split == "val")
    if val_images < min_val_images:
        problems.append(
            f"The val split has {val_images} labeled image{'s' if val_images != 1 else ''}; "
            f"training needs at least {min_val_images} to measure progress."
        )
    return problems
