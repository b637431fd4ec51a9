"""The plain inference functions of training/ml/runtime.py (the web server's): numpy only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.ml import runtime

REPO = Path(__file__).resolve().parents[2]


def test_runtime_and_blueonyx_do_not_import_torch() -> None:
    """The web server imports them: onnxruntime and numpy, never torch."""
    code = (
        "import sys, training.ml.runtime, training.ml.blueonyx\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def reference_nms(boxes, scores, labels, iou):
    """The textbook loop, one box at a time."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if all(labels[i] != labels[k] or _iou(boxes[i], boxes[k]) <= iou for k in kept):
            kept.append(i)
    return kept


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_nms_matches_the_textbook_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (60, 2))
    wh = rng.uniform(5, 40, (60, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    labels = rng.integers(0, 3, 60)
    kept = runtime.nms(boxes, scores, labels, 0.4)
    assert kept.tolist() == reference_nms(boxes.tolist(), scores.tolist(), labels.tolist(), 0.4)
    assert runtime.nms(boxes[:0], scores[:0], labels[:0], 0.4).tolist() == []


def test_detections_filter() -> None:
    boxes = np.array(
        [[-5, 0, 10, 10], [0, 0, 10, 10], [50, 50, 70, 300], [1, 1, 11, 11]], np.float32
    )
    scores = np.array([0.9, 0.2, 0.5, 0.8], np.float32)
    labels = np.array([0, 1, 1, 0])
    thresholds = runtime.class_thresholds(["a", "b"], 0.3, {"b": 0.1})
    assert thresholds.tolist() == pytest.approx([0.3, 0.1])
    b, s, lab = runtime.detections_filter(
        boxes, scores, labels, thresholds=thresholds, width=100, height=200
    )
    assert s.tolist() == pytest.approx([0.9, 0.8, 0.5, 0.2])
    assert b[0].tolist() == [0, 0, 10, 10]  # clipped to the image
    assert b[2].tolist() == [50, 50, 70, 200]
    b, s, lab = runtime.detections_filter(
        boxes, scores, labels, thresholds=thresholds, width=100, height=200,
        keep_classes=np.array([True, False]), iou=0.4, max_detections=5,
    )  # fmt: skip
    assert s.tolist() == pytest.approx([0.9])  # class b dropped; the 0.8 box overlaps 0.9's
    b, s, lab = runtime.detections_filter(
        boxes, scores, labels, thresholds=thresholds, width=100, height=200, max_detections=2
    )
    assert len(s) == 2


def test_uncertainty_peaks_at_the_threshold() -> None:
    thresholds = np.array([0.4, 0.4], np.float32)
    near = runtime.closeness(np.array([0.0, 0.2, 0.4, 0.7, 1.0]), np.full(5, 0.4))
    assert near.tolist() == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    sure = runtime.uncertainty(np.array([0.99, 0.05]), np.array([0, 1]), thresholds)
    unsure = runtime.uncertainty(np.array([0.42, 0.38, 0.9]), np.array([0, 1, 0]), thresholds)
    assert unsure["uncertainty"] > sure["uncertainty"]
    assert unsure["borderline"] == 2 and sure["borderline"] == 0
    assert unsure["max_score"] == pytest.approx(0.9)
    assert runtime.uncertainty(np.array([]), np.array([], int), thresholds) == {
        "uncertainty": 0.0,
        "borderline": 0,
        "max_score": 0.0,
    }


def test_image_input_checks_its_image() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    assert runtime.image_input(image).shape == (1, 3, 4, 6)
    with pytest.raises(runtime.EngineError):
        runtime.image_input(np.zeros((4, 6), np.uint8))


def test_uncertainty_tells_images_apart_among_the_graphs_many_candidates() -> None:
    """The graph keeps up to 100 detections down to a score of 0.05: one of them nearly
    always lands on the threshold, so the largest closeness read 1.00 on every image."""
    rng = np.random.default_rng(0)
    thresholds = np.array([0.4], np.float32)
    junk = rng.uniform(0.05, 0.19, 80)  # under half the threshold: not in play
    sure = np.concatenate([junk, [0.399, 0.91, 0.93, 0.95, 0.96, 0.97, 0.98]])
    unsure = np.concatenate([junk, [0.401, 0.33, 0.36, 0.42, 0.45, 0.47, 0.52]])
    mixed = np.concatenate([junk, [0.401, 0.35, 0.45, 0.91, 0.95, 0.97]])
    values = [
        runtime.uncertainty(s.astype(np.float32), np.zeros(len(s), int), thresholds)["uncertainty"]
        for s in (sure, unsure, mixed)
    ]
    assert values[0] < values[2] < values[1]
    assert values[0] < 0.4 and values[1] > 0.7
    assert len({f"{v:.2f}" for v in values}) == 3  # as the project page shows them
    nothing = rng.uniform(0.05, 0.15, 50).astype(np.float32)  # the model sees nothing
    assert runtime.uncertainty(nothing, np.zeros(50, int), thresholds)["uncertainty"] == 0.0
