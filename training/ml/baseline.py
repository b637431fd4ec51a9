"""A simple baseline a trained detector must beat: each class's average box.

For every test image it "detects" one box per class, at the place and size where that
class's training boxes are on average (relative to the image), with score 1. A model
that does not clearly beat this has not learned to look at the image.
"""

from __future__ import annotations

from typing import Any

from training.ml.evaluate import coco_metrics


def average_box_predictions(train: dict[str, Any], test: dict[str, Any]) -> list[dict[str, Any]]:
    """The baseline's detections on ``test``, from the boxes of ``train`` (COCO dicts)."""
    sizes = {im["id"]: (im["width"], im["height"]) for im in train["images"]}
    sums: dict[int, list[float]] = {}
    for ann in train["annotations"]:
        width, height = sizes.get(ann["image_id"], (0, 0))
        if not width or not height:
            continue
        x, y, w, h = ann["bbox"]
        total = sums.setdefault(ann["category_id"], [0.0, 0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate((x / width, y / height, w / width, h / height)):
            total[i] += value
        total[4] += 1
    mean = {cid: [v / t[4] for v in t[:4]] for cid, t in sums.items() if t[4]}
    predictions = []
    for image in test["images"]:
        width, height = image["width"], image["height"]
        boxes, ids = [], []
        for cid, (x, y, w, h) in sorted(mean.items()):
            boxes.append([x * width, y * height, (x + w) * width, (y + h) * height])
            ids.append(cid)
        scores = [1.0] * len(ids)
        predictions.append(
            {"image_id": image["id"], "boxes": boxes, "scores": scores, "category_ids": ids}
        )
    return predictions


def average_box_map50(train: dict[str, Any], test: dict[str, Any]) -> float:
    """mAP@0.5 on ``test`` of the average-box baseline (0 without test boxes)."""
    if not test["images"] or not train["annotations"]:
        return 0.0
    return float(coco_metrics(test, average_box_predictions(train, test)).get("map50", 0.0))
