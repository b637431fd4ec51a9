"""Evaluation of detections against COCO ground truth, as one JSON-serialisable dict.

mAP figures, per-class AP and precision-recall curves come from pycocotools'
``COCOeval``; the confidence sweep, the confusion matrix and the per-image errors use
the same greedy matching (highest score first, best IoU among unmatched boxes; the
error kinds are in :func:`classify_detections`).

Detections are first rounded to what the report stores (boxes to 0.1 px, scores to 4
decimals); ``per_image`` carries every test image's gt boxes and detections, so the
model page recomputes errors at any threshold in the browser, and a test recomputes
the sweep from them exactly.

Predictions are a list of ``{"image_id", "boxes" (XYXY pixels), "scores",
"category_ids"}`` dicts, as :func:`training.ml.predict.predict_dataset` makes them.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from training.ml import checkpoint as ckpt
from training.ml.data import CocoDetection
from training.ml.errors import DatasetError
from training.ml.predict import InferenceModel, predict_dataset

SWEEP_IOUS = (0.5, 0.75)
SWEEP_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(101))  # 0.00, 0.01 ... 1.00
RECOMMENDED_RANGE = (0.05, 0.95)  # the best F1 is looked for here (highest on a tie)
ERROR_IOU = 0.5  # a prediction overlapping a gt box this much found it (or confused it)
POOR_LOCALISATION_IOU = 0.1  # from here to ERROR_IOU, it found it but badly placed
BOX_DECIMALS = 1  # 0.1 px
SCORE_DECIMALS = 4
ERROR_IMAGES_KEPT = 50  # per_image_errors lists the worst images only (per_image has all)
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


def round_predictions(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Boxes to 0.1 px and scores to 4 decimals: the precision the report stores.

    The whole report is computed from these rounded detections, so that every figure
    in it can be recomputed exactly from the detections it carries (``per_image``).
    """
    return [
        {
            **pred,
            "boxes": [[round(float(v), BOX_DECIMALS) for v in box] for box in pred["boxes"]],
            "scores": [round(float(s), SCORE_DECIMALS) for s in pred["scores"]],
            "category_ids": [int(c) for c in pred["category_ids"]],
        }
        for pred in predictions
    ]


def _by_image(coco_gt: dict[str, Any], predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per image: gt boxes (XYXY, 0.1 px) and predictions sorted by decreasing score."""
    gts: dict[int, list[tuple[list[float], int]]] = {im["id"]: [] for im in coco_gt["images"]}
    for ann in coco_gt.get("annotations", []):
        if ann.get("iscrowd", 0) or ann["image_id"] not in gts:
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = [round(v, BOX_DECIMALS) for v in (x, y, x + w, y + h)]
        gts[ann["image_id"]].append((box, int(ann["category_id"])))
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
                "width": im.get("width"),
                "height": im.get("height"),
                "gt_boxes": np.asarray([g[0] for g in gt], dtype=np.float64).reshape(-1, 4),
                "gt_cats": [g[1] for g in gt],
                "boxes": np.asarray(pred["boxes"], dtype=np.float64).reshape(-1, 4)[order],
                "scores": [float(pred["scores"][i]) for i in order],
                "cats": [int(pred["category_ids"][i]) for i in order],
            }
        )
    return rows


def iou_matrix(boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """IoU of each box (rows) with each gt box (columns), both XYXY.

    The arithmetic is that of ``iou()`` in static/js/lib/evaluation.js, operation for
    operation, so that the model page's matching gives the same answers as this module.
    """
    if not len(boxes) or not len(gt_boxes):
        return np.zeros((len(boxes), len(gt_boxes)))
    b, g = boxes[:, None, :], gt_boxes[None, :, :]
    w = np.maximum(np.minimum(b[..., 2], g[..., 2]) - np.maximum(b[..., 0], g[..., 0]), 0.0)
    h = np.maximum(np.minimum(b[..., 3], g[..., 3]) - np.maximum(b[..., 1], g[..., 1]), 0.0)
    inter = w * h
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    area_g = (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])
    union = area_b + area_g - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _best(candidates: np.ndarray, ious: np.ndarray) -> int:
    """Index of the highest IoU among the candidates (the first one on a tie), or -1."""
    if not candidates.any():
        return -1
    return int(np.argmax(np.where(candidates, ious, -1.0)))


def _match(row: dict[str, Any], iou_threshold: float) -> list[int]:
    """Greedy class-aware matching: for each prediction (highest score first) the
    unmatched gt box of its class with the highest IoU >= ``iou_threshold``, or -1."""
    ious = iou_matrix(row["boxes"], row["gt_boxes"])
    gt_cats = np.asarray(row["gt_cats"], dtype=np.int64)
    taken = np.zeros(len(gt_cats), dtype=bool)
    matches = []
    for p, cat in enumerate(row["cats"]):
        g = _best((ious[p] >= iou_threshold) & ~taken & (gt_cats == cat), ious[p])
        if g >= 0:
            taken[g] = True
        matches.append(g)
    return matches


def _threshold_of(threshold: float | dict[int, float], category_id: int) -> float:
    return threshold.get(category_id, 0.0) if isinstance(threshold, dict) else threshold


def classify_detections(
    row: dict[str, Any], threshold: float | dict[int, float]
) -> dict[str, list[Any]]:
    """The error gallery's rules, on one image, for the predictions kept at ``threshold``
    (one value, or one per category id). Indices refer to ``row``'s boxes and gt boxes.

    1. True positive: greedy class-aware matching at IoU >= 0.5 (highest score first,
       best IoU among the unmatched gt boxes), the matching of the confidence sweep.
    2. Then each remaining prediction, highest score first, against the gt boxes still
       unexplained: a gt box of another class at IoU >= 0.5 makes it a *wrong class*;
       else one of its own class at IoU >= 0.1 a *poor localisation*; else it is a
       *false positive* (spurious, or a duplicate of a box already found).
    3. Gt boxes explained by nothing are *false negatives* (misses).

    Returns ``{"tp": [[p, g]], "wrong_class": [[p, g]], "poor_localisation": [[p, g]],
    "fp": [p], "fn": [g]}``. ``classify()`` in static/js/lib/evaluation.js is the same.
    """
    keep = [
        p for p, (s, c) in enumerate(zip(row["scores"], row["cats"], strict=True))
        if s >= _threshold_of(threshold, c)
    ]  # fmt: skip
    ious = iou_matrix(row["boxes"], row["gt_boxes"])
    gt_cats = np.asarray(row["gt_cats"], dtype=np.int64)
    taken = np.zeros(len(gt_cats), dtype=bool)
    out: dict[str, list[Any]] = {"tp": [], "wrong_class": [], "poor_localisation": [], "fp": []}
    rest = []
    for p in keep:
        g = _best((ious[p] >= ERROR_IOU) & ~taken & (gt_cats == row["cats"][p]), ious[p])
        if g >= 0:
            taken[g] = True
            out["tp"].append([p, g])
        else:
            rest.append(p)
    for p in rest:
        cat = row["cats"][p]
        g = _best((ious[p] >= ERROR_IOU) & ~taken & (gt_cats != cat), ious[p])
        kind = "wrong_class"
        if g < 0:
            g = _best((ious[p] >= POOR_LOCALISATION_IOU) & ~taken & (gt_cats == cat), ious[p])
            kind = "poor_localisation"
        if g < 0:
            out["fp"].append(p)
        else:
            taken[g] = True
            out[kind].append([p, g])
    out["fn"] = [g for g in range(len(gt_cats)) if not taken[g]]
    return out


def _counts(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def confidence_sweep(
    rows: list[dict[str, Any]], category_ids: list[int], names: list[str], iou_threshold: float
) -> dict[str, Any]:
    """P/R/F1/TP/FP/FN per class and overall at every threshold of SWEEP_THRESHOLDS.

    Greedy matching in decreasing score order means that the matches of the predictions
    above a threshold do not depend on the ones below it: one matching serves them all.
    """
    scored: dict[int, list[tuple[float, bool]]] = {c: [] for c in category_ids}
    num_gt = dict.fromkeys(category_ids, 0)
    for row in rows:
        for cat in row["gt_cats"]:
            num_gt[cat] = num_gt.get(cat, 0) + 1
        for cat, score, g in zip(
            row["cats"], row["scores"], _match(row, iou_threshold), strict=True
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
    """The confusion matrix (rows: gt classes then background; columns: predictions) and
    the errors of the worst images at ``threshold``, both from :func:`classify_detections`."""
    index = {cat: i for i, cat in enumerate(category_ids)}
    background = len(category_ids)
    matrix = [[0] * (background + 1) for _ in range(background + 1)]
    errors = []
    for row in rows:
        found = classify_detections(row, threshold)
        boxes, gt_boxes = row["boxes"].tolist(), row["gt_boxes"].tolist()
        cats, gt_cats, scores = row["cats"], row["gt_cats"], row["scores"]
        for p, g in found["tp"] + found["wrong_class"]:
            matrix[index[gt_cats[g]]][index[cats[p]]] += 1
        for p, g in found["poor_localisation"]:
            matrix[background][index[cats[p]]] += 1
            matrix[index[gt_cats[g]]][background] += 1
        for p in found["fp"]:
            matrix[background][index[cats[p]]] += 1
        for g in found["fn"]:
            matrix[index[gt_cats[g]]][background] += 1
        entry = {
            "image_id": row["image_id"],
            "file_name": row["file_name"],
            "false_positives": [
                {"box": boxes[p], "category_id": cats[p], "score": scores[p]} for p in found["fp"]
            ],
            "wrong_class": [
                {"box": boxes[p], "category_id": cats[p], "gt_category_id": gt_cats[g],
                 "gt_box": gt_boxes[g], "score": scores[p]}
                for p, g in found["wrong_class"]
            ],
            "poor_localisation": [
                {"box": boxes[p], "category_id": cats[p], "gt_box": gt_boxes[g],
                 "score": scores[p]}
                for p, g in found["poor_localisation"]
            ],
            "misses": [{"box": gt_boxes[g], "category_id": gt_cats[g]} for g in found["fn"]],
        }  # fmt: skip
        kinds = ("false_positives", "wrong_class", "poor_localisation", "misses")
        entry["num_errors"] = sum(len(entry[k]) for k in kinds)
        if entry["num_errors"]:
            errors.append(entry)
    errors.sort(key=lambda e: -e["num_errors"])
    return matrix, errors[:ERROR_IMAGES_KEPT]


def _per_image(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every test image's gt boxes and detections, compactly (the error gallery's data)."""
    return {
        "gt": "[x1, y1, x2, y2, category_id]",
        "det": "[x1, y1, x2, y2, score, category_id], by decreasing score",
        "min_score": SWEEP_THRESHOLDS[0],
        "images": [
            {
                "id": row["image_id"],
                "file_name": row["file_name"],
                "width": row["width"],
                "height": row["height"],
                "gt": [
                    [*box, cat]
                    for box, cat in zip(row["gt_boxes"].tolist(), row["gt_cats"], strict=True)
                ],
                "det": [
                    [*box, score, cat]
                    for box, score, cat in zip(
                        row["boxes"].tolist(), row["scores"], row["cats"], strict=True
                    )
                    if score >= SWEEP_THRESHOLDS[0]
                ],
            }
            for row in rows
        ],
    }


def stored_row(image: dict[str, Any]) -> dict[str, Any]:
    """One image of the report's ``per_image`` back as a row for :func:`classify_detections`."""
    return {
        "image_id": image["id"],
        "file_name": image.get("file_name", ""),
        "gt_boxes": np.asarray([g[:4] for g in image["gt"]], dtype=np.float64).reshape(-1, 4),
        "gt_cats": [int(g[4]) for g in image["gt"]],
        "boxes": np.asarray([d[:4] for d in image["det"]], dtype=np.float64).reshape(-1, 4),
        "scores": [float(d[4]) for d in image["det"]],
        "cats": [int(d[5]) for d in image["det"]],
    }


def _size_counts(coco_gt: dict[str, Any]) -> dict[str, int]:
    """Gt boxes in each of COCOeval's size ranges (area up to 32², 32² to 96², from 96²)."""
    counts = {"small": 0, "medium": 0, "large": 0}
    for ann in coco_gt.get("annotations", []):
        if ann.get("iscrowd", 0):
            continue
        area = float(ann.get("area") or float(ann["bbox"][2]) * float(ann["bbox"][3]))
        counts["small"] += area <= 32**2  # COCOeval's ranges include both ends
        counts["medium"] += 32**2 <= area <= 96**2
        counts["large"] += area >= 96**2
    return counts


def evaluate_predictions(
    coco_gt: dict[str, Any], predictions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The full evaluation report (see the module docstring) as one plain dict."""
    categories = sorted(coco_gt["categories"], key=lambda c: c["id"])
    category_ids = [int(c["id"]) for c in categories]
    names = [c["name"] for c in categories]
    predictions = round_predictions(predictions)
    evaluator = run_cocoeval(coco_gt, predictions)
    metrics = (
        dict.fromkeys(STAT_NAMES, 0.0)
        if evaluator is None
        else {n: max(0.0, float(v)) for n, v in zip(STAT_NAMES, evaluator.stats, strict=True)}
    )
    rows = _by_image(coco_gt, predictions)
    sweeps = {f"iou_{iou}": confidence_sweep(rows, category_ids, names, iou) for iou in SWEEP_IOUS}
    f1 = sweeps["iou_0.5"]["overall"]["f1"]
    candidates = [
        i
        for i, t in enumerate(SWEEP_THRESHOLDS)
        if RECOMMENDED_RANGE[0] <= t <= RECOMMENDED_RANGE[1]
    ]
    best = max(candidates, key=lambda i: (f1[i], SWEEP_THRESHOLDS[i]))
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
        "num_ground_truth_by_size": _size_counts(coco_gt),
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
        "per_image": _per_image(rows),
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path,
    *,
    batch_size: int = 4,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Load a checkpoint, run it over a COCO data set and return the full report.

    ``should_stop`` is asked before every batch; raises Cancelled when it says so."""
    state = ckpt.load(checkpoint)
    model, config = ckpt.model_from_checkpoint(state)
    dataset = CocoDetection(coco, images_dir, cache=False)
    if dataset.class_names != list(state["class_names"]):
        raise DatasetError(
            f"the data's categories {dataset.class_names} differ from the model's "
            f"{state['class_names']}"
        )
    predictions = predict_dataset(
        InferenceModel(model, config.input_size),
        dataset,
        batch_size=batch_size,
        should_stop=should_stop,
    )
    report = evaluate_predictions(dataset.coco, predictions)
    report["model"] = {
        "preset": config.preset,
        "image_size": config.input_size,
        "epoch": state.get("epoch"),
    }
    return report
