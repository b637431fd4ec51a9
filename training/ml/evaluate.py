"""Evaluation of detections against COCO ground truth, as one JSON-serialisable dict.

mAP figures, per-class AP and precision-recall curves come from pycocotools'
``COCOeval``; the confidence sweep, the confusion matrix and the per-image errors use
the same greedy matching (highest score first, best IoU among unmatched boxes).

Predictions are a list of ``{"image_id", "boxes" (XYXY pixels), "scores",
"category_ids"}`` dicts, as :func:`training.ml.predict.predict_dataset` makes them.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import box_iou

from training.ml import checkpoint as ckpt
from training.ml.data import CocoDetection
from training.ml.errors import DatasetError
from training.ml.predict import InferenceModel, predict_dataset

SWEEP_IOUS = (0.5, 0.75)
SWEEP_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
STAT_NAMES = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip


def _gt_coco(coco_gt: dict[str, Any]) -> COCO:
    data = copy.deepcopy(coco_gt)
    data.setdefault("info", {})
    for i, ann in enumerate(data.get("annotations", []), start=1):
        ann.setdefault("id", i)
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(ann["bbox"][2]) * float(ann["bbox"][3]))
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _coco_results(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for pred in predictions:
        for (x1, y1, x2, y2), score, cat in zip(
            pred["boxes"], pred["scores"], pred["category_ids"], strict=True
        ):
            results.append(
                {
                    "image_id": pred["image_id"],
                    "category_id": int(cat),
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "score": float(score),
                }
            )
    return results


def run_cocoeval(coco_gt: dict[str, Any], predictions: list[dict[str, Any]]) -> COCOeval | None:
    """Evaluate, accumulate and summarise quietly; ``None`` when nothing was detected."""
    gt = _gt_coco(coco_gt)
    results = _coco_results(predictions)
    if not results or not gt.getAnnIds():
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def coco_metrics(coco_gt: dict[str, Any], predictions: list[dict[str, Any]]) -> dict[str, float]:
    """The 12 COCO summary figures (``map``, ``map50``, ...); zeros if nothing matched."""
    evaluator = run_cocoeval(coco_gt, predictions)
    if evaluator is None:
        return dict.fromkeys(STAT_NAMES, 0.0)
    return {name: max(0.0, float(v)) for name, v in zip(STAT_NAMES, evaluator.stats, strict=True)}


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def _per_class_ap(evaluator: COCOeval | None, category_ids: list[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for cat in category_ids:
        if evaluator is None:
            out[cat] = {"ap": None, "ap50": None, "ap75": None}
            continue
        precision = evaluator.eval["precision"]  # [T, R, K, A, M]
        k_eval = evaluator.params.catIds.index(cat)
        out[cat] = {
            "ap": _mean_valid(precision[:, :, k_eval, 0, -1]),
            "ap50": _mean_valid(precision[0, :, k_eval, 0, -1]),
            "ap75": _mean_valid(precision[5, :, k_eval, 0, -1]),
        }
    return out


def _pr_curves(
    evaluator: COCOeval | None, category_ids: list[int], names: list[str]
) -> dict[str, Any]:
    recall = [round(float(r), 2) for r in np.linspace(0, 1, 101)]
    curves: dict[str, Any] = {"recall": recall}
    for iou, t_index in ((0.5, 0), (0.75, 5)):
        per_class: dict[str, list[float] | None] = {}
        for cat, name in zip(category_ids, names, strict=True):
            if evaluator is None:
                per_class[name] = None
                continue
            curve = evaluator.eval["precision"][
                t_index, :, evaluator.params.catIds.index(cat), 0, -1
            ]
            per_class[name] = None if (curve < 0).all() else [max(0.0, float(p)) for p in curve]
        curves[f"iou_{iou}"] = per_class
    return curves


def _by_image(coco_gt: dict[str, Any], predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per image: gt boxes/categories and predictions sorted by decreasing score."""
    gts: dict[int, list[tuple[list[float], int]]] = {im["id"]: [] for im in coco_gt["images"]}
    for ann in coco_gt.get("annotations", []):
        if ann.get("iscrowd", 0) or ann["image_id"] not in gts:
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        gts[ann["image_id"]].append(([x, y, x + w, y + h], int(ann["category_id"])))
    preds = {p["image_id"]: p for p in predictions}
    rows = []
    for im in coco_gt["images"]:
        pred = preds.get(im["id"], {"boxes": [], "scores": [], "category_ids": []})
        order = np.argsort(-np.asarray(pred["scores"], dtype=np.float64), kind="stable")
        gt = gts[im["id"]]
        rows.append(
            {
                "image_id": im["id"],
                "file_name": im.get("file_name", ""),
                "gt_boxes": torch.tensor([g[0] for g in gt], dtype=torch.float64).reshape(-1, 4),
                "gt_cats": [g[1] for g in gt],
                "boxes": torch.tensor(pred["boxes"], dtype=torch.float64).reshape(-1, 4)[order],
                "scores": [float(pred["scores"][i]) for i in order],
                "cats": [int(pred["category_ids"][i]) for i in order],
            }
        )
    return rows


def _match(row: dict[str, Any], iou_threshold: float, *, class_aware: bool) -> list[int]:
    """Greedy matching; returns for each prediction the matched gt index or -1.

    Class-aware matching only pairs boxes of the same category. Class-agnostic matching
    (for the confusion matrix) prefers a same-category gt, then the best IoU.
    """
    if not len(row["boxes"]) or not len(row["gt_boxes"]):
        return [-1] * len(row["boxes"])
    ious = box_iou(row["boxes"], row["gt_boxes"]).numpy()
    taken = np.zeros(len(row["gt_cats"]), dtype=bool)
    gt_cats = np.asarray(row["gt_cats"])
    matches = []
    for p, cat in enumerate(row["cats"]):
        ok = (ious[p] >= iou_threshold) & ~taken
        same = ok & (gt_cats == cat)
        candidates = same if (class_aware or same.any()) else ok
        if not candidates.any():
            matches.append(-1)
            continue
        g = int(np.argmax(np.where(candidates, ious[p], -1.0)))
        taken[g] = True
        matches.append(g)
    return matches


def _counts(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def confidence_sweep(
    rows: list[dict[str, Any]], category_ids: list[int], names: list[str], iou_threshold: float
) -> dict[str, Any]:
    """P/R/F1/TP/FP/FN per class and overall at every threshold of SWEEP_THRESHOLDS."""
    scored: dict[int, list[tuple[float, bool]]] = {c: [] for c in category_ids}
    num_gt = dict.fromkeys(category_ids, 0)
    for row in rows:
        for cat in row["gt_cats"]:
            num_gt[cat] = num_gt.get(cat, 0) + 1
        for cat, score, g in zip(
            row["cats"], row["scores"], _match(row, iou_threshold, class_aware=True), strict=True
        ):
            scored.setdefault(cat, []).append((score, g >= 0))

    def table(cats: list[int]) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = {
            k: [] for k in ("precision", "recall", "f1", "tp", "fp", "fn")
        }
        for threshold in SWEEP_THRESHOLDS:
            above = [hit for c in cats for score, hit in scored[c] if score >= threshold]
            tp = sum(above)
            counts = _counts(tp, len(above) - tp, sum(num_gt[c] for c in cats) - tp)
            for key, value in counts.items():
                columns[key].append(value)
        return columns

    return {
        "overall": table(category_ids),
        "per_class": {name: table([cat]) for cat, name in zip(category_ids, names, strict=True)},
    }


def _errors_and_confusion(
    rows: list[dict[str, Any]], category_ids: list[int], threshold: float
) -> tuple[list[list[int]], list[dict[str, Any]]]:
    index = {cat: i for i, cat in enumerate(category_ids)}
    background = len(category_ids)
    matrix = [[0] * (background + 1) for _ in range(background + 1)]
    errors = []
    for row in rows:
        keep = [i for i, s in enumerate(row["scores"]) if s >= threshold]
        kept = {**row, "boxes": row["boxes"][keep], "scores": [row["scores"][i] for i in keep]}
        kept["cats"] = [row["cats"][i] for i in keep]
        matches = _match(kept, 0.5, class_aware=False)
        false_pos, wrong = [], []
        for box, score, cat, g in zip(
            kept["boxes"].tolist(), kept["scores"], kept["cats"], matches, strict=True
        ):
            if g < 0:
                matrix[background][index[cat]] += 1
                false_pos.append({"box": box, "category_id": cat, "score": score})
                continue
            gt_cat = row["gt_cats"][g]
            matrix[index[gt_cat]][index[cat]] += 1
            if gt_cat != cat:
                wrong.append(
                    {"box": box, "category_id": cat, "gt_category_id": gt_cat, "score": score}
                )
        matched = set(matches)
        misses = [
            {"box": box, "category_id": cat}
            for g, (box, cat) in enumerate(
                zip(row["gt_boxes"].tolist(), row["gt_cats"], strict=True)
            )
            if g not in matched
        ]
        for miss in misses:
            matrix[index[miss["category_id"]]][background] += 1
        if false_pos or wrong or misses:
            errors.append(
                {
                    "image_id": row["image_id"],
                    "file_name": row["file_name"],
                    "num_errors": len(false_pos) + len(wrong) + len(misses),
                    "false_positives": false_pos,
                    "wrong_class": wrong,
                    "misses": misses,
                }
            )
    errors.sort(key=lambda e: -e["num_errors"])
    return matrix, errors


def evaluate_predictions(
    coco_gt: dict[str, Any], predictions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The full evaluation report (see the module docstring) as one plain dict."""
    categories = sorted(coco_gt["categories"], key=lambda c: c["id"])
    category_ids = [int(c["id"]) for c in categories]
    names = [c["name"] for c in categories]
    evaluator = run_cocoeval(coco_gt, predictions)
    metrics = (
        dict.fromkeys(STAT_NAMES, 0.0)
        if evaluator is None
        else {n: max(0.0, float(v)) for n, v in zip(STAT_NAMES, evaluator.stats, strict=True)}
    )
    rows = _by_image(coco_gt, predictions)
    sweeps = {f"iou_{iou}": confidence_sweep(rows, category_ids, names, iou) for iou in SWEEP_IOUS}
    f1 = sweeps["iou_0.5"]["overall"]["f1"]
    best = max(range(len(SWEEP_THRESHOLDS)), key=lambda i: (f1[i], SWEEP_THRESHOLDS[i]))
    threshold = SWEEP_THRESHOLDS[best]
    matrix, errors = _errors_and_confusion(rows, category_ids, threshold)
    ap = _per_class_ap(evaluator, category_ids)
    gt_counts = {cat: sum(row["gt_cats"].count(cat) for row in rows) for cat in category_ids}
    pred_counts = {cat: sum(row["cats"].count(cat) for row in rows) for cat in category_ids}
    overall = sweeps["iou_0.5"]["overall"]
    return {
        "num_images": len(rows),
        "num_ground_truth": sum(gt_counts.values()),
        "num_predictions": sum(pred_counts.values()),
        "metrics": metrics,
        "per_class": [
            {
                "category_id": cat,
                "name": name,
                **ap[cat],
                "num_ground_truth": gt_counts[cat],
                "num_predictions": pred_counts[cat],
            }
            for cat, name in zip(category_ids, names, strict=True)
        ],
        "pr_curves": _pr_curves(evaluator, category_ids, names),
        "confidence_sweep": {"thresholds": list(SWEEP_THRESHOLDS), **sweeps},
        "recommended_threshold": threshold,
        "at_recommended_threshold": {k: overall[k][best] for k in overall},
        "confusion_matrix": {
            "labels": [*names, "background"],
            "rows": "ground truth",
            "columns": "prediction",
            "iou": 0.5,
            "threshold": threshold,
            "matrix": matrix,
        },
        "per_image_errors": errors,
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path,
    *,
    batch_size: int = 4,
) -> dict[str, Any]:
    """Load a checkpoint, run it over a COCO data set and return the full report."""
    state = ckpt.load(checkpoint)
    model, config = ckpt.model_from_checkpoint(state)
    dataset = CocoDetection(coco, images_dir, cache=False)
    if dataset.class_names != list(state["class_names"]):
        raise DatasetError(
            f"the data's categories {dataset.class_names} differ from the model's "
            f"{state['class_names']}"
        )
    predictions = predict_dataset(
        InferenceModel(model, config.input_size), dataset, batch_size=batch_size
    )
    report = evaluate_predictions(dataset.coco, predictions)
    report["model"] = {
        "preset": config.preset,
        "image_size": config.input_size,
        "epoch": state.get("epoch"),
    }
    return report
