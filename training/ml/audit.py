"""Label audit: confident detections far from every labelled box.

When a data set's labels miss objects, a detector that finds them is charged a false
positive for each, and its AP is capped by the labels, not by the network. The audit
lists the detections of an evaluation report (``evaluate.evaluate_predictions``) that
score at least ``min_score`` and overlap no ground-truth box of any class by
``max_iou`` or more (so they are neither duplicates nor confusions of a labelled
object), recomputes the metrics with them set aside, and draws a contact sheet of a
random sample of them for a person to judge: whole objects are missing labels.

On BCCD's test split (2026-12-02) a 15-minute "accurate" model made 352 such RBC
detections at score >= 0.5 against 805 labelled red cells; of a random 40 candidates,
38 were whole red cells nobody labelled (``training/ml/README.md``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from training.ml.evaluate import evaluate_predictions, iou_matrix

MIN_SCORE = 0.5
MAX_IOU = 0.3


def unlabelled_candidates(
    report: dict[str, Any], *, min_score: float = MIN_SCORE, max_iou: float = MAX_IOU
) -> list[dict[str, Any]]:
    """Detections scoring ``>= min_score`` whose IoU with every gt box is ``< max_iou``."""
    found = []
    for image in report["per_image"]["images"]:
        gt = np.asarray([g[:4] for g in image["gt"]], dtype=np.float64).reshape(-1, 4)
        for det in image["det"]:
            if det[4] < min_score:
                break  # detections are stored by decreasing score
            ious = iou_matrix(np.asarray([det[:4]], dtype=np.float64), gt)
            if not ious.size or ious.max() < max_iou:
                found.append(
                    {
                        "image_id": image["id"],
                        "file_name": image["file_name"],
                        "box": det[:4],
                        "score": det[4],
                        "category_id": int(det[5]),
                    }
                )
    return found


def metrics_without(
    report: dict[str, Any], coco_gt: dict[str, Any], candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    """Test metrics recomputed from the report's detections minus ``candidates``."""
    dropped = {(c["image_id"], tuple(c["box"]), c["score"], c["category_id"]) for c in candidates}
    predictions = []
    for image in report["per_image"]["images"]:
        kept = [
            d for d in image["det"] if (image["id"], tuple(d[:4]), d[4], int(d[5])) not in dropped
        ]
        predictions.append(
            {
                "image_id": image["id"],
                "boxes": [d[:4] for d in kept],
                "scores": [d[4] for d in kept],
                "category_ids": [int(d[5]) for d in kept],
            }
        )
    result = evaluate_predictions(coco_gt, predictions)
    return {
        "map50": result["metrics"]["map50"],
        "map": result["metrics"]["map"],
        "ap50_per_class": {c["name"]: c["ap50"] for c in result["per_class"]},
    }


def contact_sheet(
    candidates: list[dict[str, Any]],
    images_dir: str | Path,
    path: str | Path,
    *,
    count: int = 40,
    seed: int = 0,
    tile: int = 150,
    columns: int = 8,
) -> Path:
    """A PNG of ``count`` random candidates, each cropped with a margin and outlined."""
    sample = random.Random(seed).sample(candidates, min(count, len(candidates)))
    rows = max(1, -(-len(sample) // columns))
    sheet = Image.new("RGB", (tile * columns, tile * rows), "white")
    for i, cand in enumerate(sample):
        with Image.open(Path(images_dir) / cand["file_name"]) as src:
            image = src.convert("RGB")
        x1, y1, x2, y2 = cand["box"]
        margin = 0.15 * max(x2 - x1, y2 - y1)
        left, top = max(0.0, x1 - margin), max(0.0, y1 - margin)
        crop = image.crop(
            (
                int(left),
                int(top),
                int(min(image.width, x2 + margin)),
                int(min(image.height, y2 + margin)),
            )
        )
        ImageDraw.Draw(crop).rectangle(
            (x1 - int(left), y1 - int(top), x2 - int(left), y2 - int(top)),
            outline=(255, 0, 0),
            width=2,
        )
        sheet.paste(crop.resize((tile, tile)), ((i % columns) * tile, (i // columns) * tile))
    path = Path(path)
    sheet.save(path)
    return path


def audit(
    report: dict[str, Any],
    coco_gt: dict[str, Any],
    images_dir: str | Path,
    sheet_path: str | Path,
    *,
    min_score: float = MIN_SCORE,
    max_iou: float = MAX_IOU,
) -> dict[str, Any]:
    """The audit's figures (counts per class, metrics without the candidates) and sheet."""
    candidates = unlabelled_candidates(report, min_score=min_score, max_iou=max_iou)
    names = {c["category_id"]: c["name"] for c in report["per_class"]}
    by_class = {name: 0 for name in names.values()}
    for cand in candidates:
        by_class[names[cand["category_id"]]] += 1
    return {
        "min_score": min_score,
        "max_iou": max_iou,
        "candidates": len(candidates),
        "candidates_by_class": by_class,
        "labelled_by_class": {c["name"]: c["num_ground_truth"] for c in report["per_class"]},
        "without_candidates": metrics_without(report, coco_gt, candidates),
        "found": candidates,
        "sheet": str(contact_sheet(candidates, images_dir, sheet_path)),
    }
