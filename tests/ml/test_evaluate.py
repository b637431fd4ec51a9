"""Evaluation on a hand-made case whose numbers are known, cross-checked with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from training.ml.evaluate import coco_metrics, evaluate_predictions

# Image 1: two "cat" boxes. Image 2: one "dog" box. Category ids are not contiguous.
GROUND_TRUTH = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},
        {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
    ],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 3,
            "bbox": [0, 0, 20, 20],
            "area": 400,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 3,
            "bbox": [50, 50, 20, 20],
            "area": 400,
            "iscrowd": 0,
        },
        {
            "id": 3,
            "image_id": 2,
            "category_id": 7,
            "bbox": [10, 10, 30, 30],
            "area": 900,
            "iscrowd": 0,
        },
    ],
    "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
}

# cat: exact hit (0.9), false positive (0.8), exact hit (0.7) -> precision 1, 1/2, 2/3.
# dog: the only dog is predicted as a cat (0.6) and missed.
PREDICTIONS = [
    {
        "image_id": 1,
        "boxes": [[0, 0, 20, 20], [80, 0, 95, 15], [50, 50, 70, 70]],
        "scores": [0.9, 0.8, 0.7],
        "category_ids": [3, 3, 3],
    },
    {"image_id": 2, "boxes": [[10, 10, 40, 40]], "scores": [0.6], "category_ids": [3]},
]

# COCO's 101-point interpolated AP for "cat": recall <= 0.5 at precision 1 (51 points),
# then 2/3 up to recall 1 (50 points). The stray cat on image 2 scores lowest, after
# full recall, so it does not change the curve. "dog" is never detected: AP 0.
CAT_AP = (51 * 1.0 + 50 * (2 / 3)) / 101


@pytest.fixture(scope="module")
def report() -> dict:
    return evaluate_predictions(GROUND_TRUTH, PREDICTIONS)


def test_per_class_ap_is_the_known_value(report: dict) -> None:
    per_class = {c["name"]: c for c in report["per_class"]}
    assert per_class["cat"]["ap50"] == pytest.approx(CAT_AP)
    assert per_class["cat"]["ap"] == pytest.approx(CAT_AP)  # exact boxes: every IoU
    assert per_class["dog"]["ap50"] == 0.0
    assert report["metrics"]["map50"] == pytest.approx(CAT_AP / 2)


def test_matches_pycocotools_directly(report: dict) -> None:
    gt = COCO()
    gt.dataset = json.loads(json.dumps(GROUND_TRUTH))
    results = [
        {"image_id": p["image_id"], "category_id": c, "score": s,
         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
        for p in PREDICTIONS
        for b, s, c in zip(p["boxes"], p["scores"], p["category_ids"], strict=True)
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert report["metrics"]["map"] == pytest.approx(evaluator.stats[0])
    assert report["metrics"]["map50"] == pytest.approx(evaluator.stats[1])
    assert report["metrics"]["ar100"] == pytest.approx(evaluator.stats[8])
    assert coco_metrics(GROUND_TRUTH, PREDICTIONS)["map75"] == pytest.approx(evaluator.stats[2])


def test_confidence_sweep_counts(report: dict) -> None:
    thresholds = report["confidence_sweep"]["thresholds"]
    cat = report["confidence_sweep"]["iou_0.5"]["per_class"]["cat"]
    at = thresholds.index(0.65)  # keeps 0.9 (hit), 0.8 (FP), 0.7 (hit)
    assert (cat["tp"][at], cat["fp"][at], cat["fn"][at]) == (2, 1, 0)
    assert cat["precision"][at] == pytest.approx(2 / 3)
    at = thresholds.index(0.85)  # keeps 0.9 only
    assert (cat["tp"][at], cat["fp"][at], cat["fn"][at]) == (1, 0, 1)
    overall = report["confidence_sweep"]["iou_0.5"]["overall"]
    at = thresholds.index(0.5)  # all four predictions: 2 TP, 2 FP, dog missed
    assert (overall["tp"][at], overall["fp"][at], overall["fn"][at]) == (2, 2, 1)
    assert overall["f1"][at] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_recommended_threshold_maximises_f1(report: dict) -> None:
    f1 = report["confidence_sweep"]["iou_0.5"]["overall"]["f1"]
    assert report["at_recommended_threshold"]["f1"] == max(f1)
    assert 0.6 < report["recommended_threshold"] <= 0.7  # drops the dog-as-cat, keeps 2 hits


def test_confusion_matrix_and_per_image_errors() -> None:
    report = evaluate_predictions(GROUND_TRUTH, PREDICTIONS)
    matrix = report["confusion_matrix"]
    assert matrix["labels"] == ["cat", "dog", "background"]
    threshold = matrix["threshold"]
    assert threshold > 0.6  # the dog predicted as cat (0.6) is below it
    assert matrix["matrix"] == [[2, 0, 0], [0, 0, 1], [1, 0, 0]]
    errors = {e["image_id"]: e for e in report["per_image_errors"]}
    assert len(errors[1]["false_positives"]) == 1
    assert not errors[1]["misses"]
    assert errors[2]["misses"] == [{"box": [10.0, 10.0, 40.0, 40.0], "category_id": 7}]


def test_wrong_class_is_reported_when_above_threshold() -> None:
    predictions = [PREDICTIONS[0], {**PREDICTIONS[1], "scores": [0.95]}]
    report = evaluate_predictions(GROUND_TRUTH, predictions)
    assert report["recommended_threshold"] == 0.7  # F1 4/7, the best and highest such
    matrix = report["confusion_matrix"]["matrix"]
    assert matrix[1] == [1, 0, 0]  # the dog (row) predicted as a cat (column)
    wrong = [e for e in report["per_image_errors"] if e["wrong_class"]]
    assert wrong[0]["wrong_class"][0]["gt_category_id"] == 7
    assert not wrong[0]["misses"]


def test_report_is_json_and_handles_no_predictions(report: dict) -> None:
    json.dumps(report)
    empty = evaluate_predictions(GROUND_TRUTH, [])
    json.dumps(empty)
    assert empty["metrics"]["map"] == 0.0
    assert empty["per_class"][0]["ap"] is None
    assert len(empty["per_image_errors"]) == 2
