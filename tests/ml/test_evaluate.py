"""Evaluation on hand-made cases whose numbers are known, cross-checked with pycocotools
and with an independent recomputation from the detections the report stores."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from training.ml.evaluate import (
    STAT_NAMES,
    classify_detections,
    coco_metrics,
    evaluate_predictions,
    stored_row,
)

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


# --- One case at a time: one image, one "cat" box, and the detections of each case ------

CAT, DOG = 3, 7
ONE_BOX = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": CAT, "bbox": [10, 10, 40, 40], "area": 1600,
         "iscrowd": 0},
    ],
    "categories": [{"id": CAT, "name": "cat"}, {"id": DOG, "name": "dog"}],
}  # fmt: skip


def one_image(boxes, scores, cats) -> dict:
    predictions = [{"image_id": 1, "boxes": boxes, "scores": scores, "category_ids": cats}]
    return evaluate_predictions(ONE_BOX, predictions)


def sweep_at(report: dict, threshold: float, name: str | None = None, iou: str = "iou_0.5"):
    table = report["confidence_sweep"][iou]
    table = table["overall"] if name is None else table["per_class"][name]
    i = report["confidence_sweep"]["thresholds"].index(threshold)
    return {k: v[i] for k, v in table.items()}


def kinds(report: dict, threshold: float) -> dict:
    [image] = report["per_image"]["images"]
    return classify_detections(stored_row(image), threshold)


def test_one_perfect_detection() -> None:
    report = one_image([[10, 10, 50, 50]], [0.9], [CAT])
    cat = {c["name"]: c for c in report["per_class"]}["cat"]
    assert (cat["ap"], cat["ap50"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert report["metrics"]["map"] == pytest.approx(1.0)  # dog has no gt: not averaged
    at = sweep_at(report, 0.5)
    assert (at["tp"], at["fp"], at["fn"]) == (1, 0, 0)
    assert (at["precision"], at["recall"], at["f1"]) == (1.0, 1.0, 1.0)
    above = sweep_at(report, 0.91)  # above its score: nothing kept, the cat is missed
    assert (above["tp"], above["fp"], above["fn"], above["precision"]) == (0, 0, 1, 0.0)
    assert kinds(report, 0.5) == {
        "tp": [[0, 0]], "wrong_class": [], "poor_localisation": [], "fp": [], "fn": []
    }  # fmt: skip
    assert report["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert report["recommended_threshold"] == 0.9


def test_one_miss() -> None:
    report = one_image([], [], [])
    at = sweep_at(report, 0.0)
    assert (at["tp"], at["fp"], at["fn"], at["recall"], at["f1"]) == (0, 0, 1, 0.0, 0.0)
    assert kinds(report, 0.0)["fn"] == [0]
    assert report["per_image_errors"][0]["misses"] == [
        {"box": [10.0, 10.0, 50.0, 50.0], "category_id": CAT}
    ]
    assert report["confusion_matrix"]["matrix"][0] == [0, 0, 1]  # cat -> background
    assert report["metrics"]["map"] == 0.0


def test_one_duplicate() -> None:
    """Two boxes on one cat: the higher one is a hit, the duplicate a false positive."""
    report = one_image([[10, 10, 50, 50], [12, 11, 51, 50]], [0.9, 0.8], [CAT, CAT])
    at = sweep_at(report, 0.5)
    assert (at["tp"], at["fp"], at["fn"], at["precision"]) == (1, 1, 0, 0.5)
    at = sweep_at(report, 0.85)  # the duplicate is below: perfect
    assert (at["tp"], at["fp"], at["fn"]) == (1, 0, 0)
    assert kinds(report, 0.5) == {
        "tp": [[0, 0]], "wrong_class": [], "poor_localisation": [], "fp": [1], "fn": []
    }  # fmt: skip
    # COCO's AP: the hit ranks first, so precision is 1 up to full recall.
    assert {c["name"]: c for c in report["per_class"]}["cat"]["ap50"] == pytest.approx(1.0)
    assert report["recommended_threshold"] == 0.9


def test_one_wrong_class() -> None:
    """A dog box on the cat: a false positive for dog, a miss for cat, and in the gallery
    and the confusion matrix one wrong-class error."""
    report = one_image([[10, 10, 50, 50]], [0.9], [DOG])
    cat, dog = sweep_at(report, 0.5, "cat"), sweep_at(report, 0.5, "dog")
    assert (cat["tp"], cat["fp"], cat["fn"]) == (0, 0, 1)
    assert (dog["tp"], dog["fp"], dog["fn"]) == (0, 1, 0)
    assert kinds(report, 0.5) == {
        "tp": [], "wrong_class": [[0, 0]], "poor_localisation": [], "fp": [], "fn": []
    }  # fmt: skip
    assert report["metrics"]["map"] == 0.0
    # F1 is 0 at every threshold: the recommended one is the highest recommendable.
    assert report["recommended_threshold"] == 0.95
    assert report["per_image_errors"][0]["misses"][0]["category_id"] == CAT


def test_poor_localisation_and_its_limit() -> None:
    # IoU 400/1600 = 0.25: found, badly placed. Far away: a plain false positive.
    report = one_image([[10, 10, 30, 30], [80, 80, 95, 95]], [0.9, 0.7], [CAT, CAT])
    assert kinds(report, 0.5) == {
        "tp": [], "wrong_class": [], "poor_localisation": [[0, 0]], "fp": [1], "fn": []
    }  # fmt: skip
    at = sweep_at(report, 0.5)
    assert (at["tp"], at["fp"], at["fn"]) == (0, 2, 1)
    assert kinds(report, 0.8)["poor_localisation"] == [[0, 0]]
    assert kinds(report, 0.95)["fn"] == [0]


def test_iou_075_is_stricter() -> None:
    # IoU of [10,10,50,50] and [10,10,50,44]: 1440/1600 = 0.9; [16,10,50,50]: 0.85 -> hits.
    # [10,10,50,38]: 1120/1600 = 0.7: a hit at 0.5, not at 0.75.
    report = one_image([[10, 10, 50, 38]], [0.9], [CAT])
    assert sweep_at(report, 0.5)["tp"] == 1
    assert sweep_at(report, 0.5, iou="iou_0.75")["tp"] == 0


# --- Cross-checks on a random case with many images, classes and detections ---------------


def random_case(seed: int = 1, images: int = 15):
    rng = np.random.default_rng(seed)
    coco = {"images": [], "annotations": [], "categories": [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 5, "name": "c"}]}  # fmt: skip
    predictions = []
    for image_id in range(1, images + 1):
        coco["images"].append({"id": image_id, "file_name": f"{image_id}.jpg",
                               "width": 640, "height": 480})  # fmt: skip
        boxes, scores, cats = [], [], []
        for _ in range(rng.integers(0, 8)):
            x, y = rng.uniform(0, 500), rng.uniform(0, 380)
            w, h = rng.uniform(8, 140), rng.uniform(8, 100)
            cat = int(rng.choice([1, 2, 5]))
            coco["annotations"].append({"id": len(coco["annotations"]) + 1,
                "image_id": image_id, "category_id": cat, "bbox": [x, y, w, h],
                "area": w * h, "iscrowd": 0})  # fmt: skip
            for _ in range(rng.integers(0, 3)):  # hits, sloppy hits, duplicates, wrong class
                jitter = rng.normal(0, 0.12 * min(w, h), 4)
                boxes.append([x + jitter[0], y + jitter[1], x + w + jitter[2], y + h + jitter[3]])
                scores.append(float(rng.uniform(0.05, 1)))
                cats.append(cat if rng.uniform() < 0.8 else int(rng.choice([1, 2, 5])))
        for _ in range(rng.integers(0, 6)):  # spurious boxes
            x, y = rng.uniform(0, 560), rng.uniform(0, 400)
            boxes.append([x, y, x + rng.uniform(5, 80), y + rng.uniform(5, 80)])
            scores.append(float(rng.uniform(0.05, 1)))
            cats.append(int(rng.choice([1, 2, 5])))
        predictions.append(
            {"image_id": image_id, "boxes": boxes, "scores": scores, "category_ids": cats}
        )
    return coco, predictions


def test_map_matches_pycocotools_on_the_same_detections() -> None:
    coco, predictions = random_case()
    report = evaluate_predictions(coco, predictions)
    # The report stores its detections rounded; pycocotools gets exactly those.
    results = [
        {"image_id": image["id"], "category_id": int(d[5]), "score": d[4],
         "bbox": [d[0], d[1], d[2] - d[0], d[3] - d[1]]}
        for image in report["per_image"]["images"]
        for d in image["det"]
    ]  # fmt: skip
    gt = COCO()
    gt.dataset = json.loads(json.dumps(coco))
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    for name, value in zip(STAT_NAMES, evaluator.stats, strict=True):
        assert report["metrics"][name] == pytest.approx(max(0.0, value), abs=1e-12), name
    precision = evaluator.eval["precision"]
    for c in report["per_class"]:
        k = evaluator.params.catIds.index(c["category_id"])
        curve = precision[0, :, k, 0, -1]
        assert c["ap50"] == pytest.approx(curve[curve > -1].mean())
    assert 0.1 < report["metrics"]["map50"] < 0.95  # a case with something to measure


def recompute(images: list[dict], threshold: float, iou_threshold: float, cat=None):
    """The sweep's counts from the stored detections, written independently: plain
    loops, greedy by score, each gt box matched once, same class only."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    tp = fp = fn = 0
    for image in images:
        gts = [g for g in image["gt"] if cat is None or g[4] == cat]
        dets = [d for d in image["det"] if d[4] >= threshold and (cat is None or d[5] == cat)]
        used = set()
        for d in sorted(dets, key=lambda d: -d[4]):
            options = [
                (iou(d, g), j) for j, g in enumerate(gts)
                if j not in used and g[4] == d[5] and iou(d, g) >= iou_threshold
            ]  # fmt: skip
            if options:
                used.add(max(options, key=lambda o: (o[0], -o[1]))[1])
                tp += 1
            else:
                fp += 1
        fn += len(gts) - len(used)
    return tp, fp, fn


@pytest.mark.parametrize("threshold", [0.0, 0.13, 0.3, 0.5, 0.77, 0.95])
def test_sweep_equals_a_recomputation_from_the_stored_detections(threshold: float) -> None:
    coco, predictions = random_case(seed=2)
    report = evaluate_predictions(coco, predictions)
    images = report["per_image"]["images"]
    for iou_key, iou_threshold in (("iou_0.5", 0.5), ("iou_0.75", 0.75)):
        for cat, name in [(None, None), (1, "a"), (2, "b"), (5, "c")]:
            at = sweep_at(report, threshold, name, iou_key)
            tp, fp, fn = recompute(images, threshold, iou_threshold, cat)
            assert (at["tp"], at["fp"], at["fn"]) == (tp, fp, fn), (iou_key, name)
            precision = tp / (tp + fp) if tp + fp else 0.0
            assert at["precision"] == pytest.approx(precision, abs=1e-15)
            recall = tp / (tp + fn) if tp + fn else 0.0
            assert at["recall"] == pytest.approx(recall, abs=1e-15)


def test_gallery_rules_agree_with_the_sweep_and_the_confusion_matrix() -> None:
    coco, predictions = random_case(seed=3)
    report = evaluate_predictions(coco, predictions)
    threshold = report["recommended_threshold"]
    found = [classify_detections(stored_row(i), threshold) for i in report["per_image"]["images"]]
    at = sweep_at(report, threshold)
    assert sum(len(f["tp"]) for f in found) == at["tp"]
    # Every gt box is explained once: hit, confused, badly placed or missed.
    explained = sum(len(f[k]) for f in found for k in ("tp", "wrong_class", "poor_localisation"))
    assert explained + sum(len(f["fn"]) for f in found) == report["num_ground_truth"]
    matrix = report["confusion_matrix"]["matrix"]
    assert sum(matrix[i][i] for i in range(3)) == at["tp"]
    worst = report["per_image_errors"][0]
    assert worst["num_errors"] == max(
        len(f["fp"]) + len(f["fn"]) + len(f["wrong_class"]) + len(f["poor_localisation"])
        for f in found
    )


def test_stored_detections_are_compact_and_complete() -> None:
    coco, predictions = random_case(seed=4)
    report = evaluate_predictions(coco, predictions)
    stored = report["per_image"]["images"]
    assert sum(len(i["det"]) for i in stored) == sum(len(p["scores"]) for p in predictions)
    for image in stored:
        scores = [d[4] for d in image["det"]]
        assert scores == sorted(scores, reverse=True)
        for d in image["det"]:
            assert all(round(v, 1) == v for v in d[:4]) and round(d[4], 4) == d[4]
    assert report["confidence_sweep"]["thresholds"] == [round(0.01 * i, 2) for i in range(101)]
