"""A verdict on every model version, in words: usable, usable with care, or not yet.

The model is judged on its test mAP@0.5 against fixed bars and against a simple baseline
(each class's average box, training/ml/baseline.py, measured by the worker after the
evaluation). A model not usable yet says why and what would help, with the training
time it would take on this machine estimated from the run's measured epoch time.
"""

from __future__ import annotations

import math
from typing import Any

from training.models import ModelVersion

NOT_USABLE_BELOW = 0.25  # test mAP@0.5: below this (or near the baseline) not usable yet
USABLE_FROM = 0.5  # from this on usable; in between usable with care
BASELINE_MARGIN = 0.1  # a usable model beats the average-box baseline by at least this
# Epochs a pretrained detector of these presets needs before it is useful on a new data
# set (the engine's README: BCCD's fast preset passes 0.8 mAP@0.5 after about 20-30).
EPOCHS_NEEDED = 30
# A test split smaller than either of these gives a rough score: the verdict says so.
FIRM_TEST_IMAGES = 10
FIRM_TEST_BOXES = 25


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1.5:
        return f"{max(1, round(seconds))} seconds"
    return f"{round(minutes)} minutes"


def _minutes_needed(epoch_seconds: float | None, epochs_done: int) -> int | None:
    """Minutes of training for EPOCHS_NEEDED epochs in all, at the measured epoch time."""
    if not epoch_seconds or epochs_done >= EPOCHS_NEEDED:
        return None
    minutes = EPOCHS_NEEDED * epoch_seconds / 60
    step = 5 if minutes > 20 else 1
    return max(1, math.ceil(minutes / step) * step)


def judge(
    *,
    map50: float | None,
    baseline_map50: float | None,
    epochs: int,
    run_seconds: float,
    epoch_seconds: float | None,
    on_gpu: bool,
    test_images: int | None = None,
    test_boxes: int | None = None,
) -> dict[str, Any]:
    """The verdict from plain figures: ``{"level", "usable", "text"}``.

    ``level``: "not_usable", "with_care" or "usable"; ``epoch_seconds``: a full epoch's
    measured time (None when unknown); ``test_images``/``test_boxes``: the test split
    it was scored on (None when unknown: models made before they were recorded)."""
    if map50 is None:
        return {"level": "unknown", "usable": False, "text": "Not judged: no test score."}
    judged = _judge_score(map50, baseline_map50, epochs, run_seconds, epoch_seconds, on_gpu)
    if test_images is not None and (
        test_images < FIRM_TEST_IMAGES or (test_boxes or 0) < FIRM_TEST_BOXES
    ):
        judged["rough"] = True
        judged["text"] += (
            f" Judged on only {test_images} test image{'s' if test_images != 1 else ''} "
            f"({test_boxes} box{'es' if test_boxes != 1 else ''}), so the score is rough: "
            "put more labelled images in the test split for a firmer verdict."
        )
    return judged


def _judge_score(
    map50: float,
    baseline_map50: float | None,
    epochs: int,
    run_seconds: float,
    epoch_seconds: float | None,
    on_gpu: bool,
) -> dict[str, Any]:
    baseline = baseline_map50 or 0.0
    beside = f" (a box at each class's average place scores {baseline:.3f})" if baseline else ""
    score = f"test mAP@0.5 {map50:.3f}{beside}"
    needed = _minutes_needed(epoch_seconds, epochs)
    longer = (
        f"Train longer (about {needed} minutes on this machine for this dataset)"
        if needed
        else "Train longer"
    )
    if map50 < max(NOT_USABLE_BELOW, baseline + BASELINE_MARGIN):
        runs = f"{epochs} epoch{'s' if epochs != 1 else ''} in {_duration(run_seconds)}"
        if needed:
            advice = longer + ("." if on_gpu else " or on a GPU.")
        else:
            advice = (
                "More training alone is unlikely to fix it: check the labels (missing "
                "boxes), add images of the weak classes, or try a larger preset."
            )
        return {
            "level": "not_usable",
            "usable": False,
            "text": f"Not usable yet: {runs}; {score}. {advice}",
        }
    if map50 < USABLE_FROM:
        return {
            "level": "with_care",
            "usable": True,
            "text": f"Usable with care: {score}; it misses or misplaces many objects, so "
            f"review what it suggests. {longer} to improve it.",
        }
    return {"level": "usable", "usable": True, "text": f"Usable: {score}."}


def _full_epoch_seconds(model: ModelVersion) -> float | None:
    """A full epoch's time from the run's history (a cut epoch scaled by its steps)."""
    run = model.run
    full = [h["seconds"] for h in run.history if "seconds" in h and not h.get("partial")]
    if full:
        return sum(full) / len(full)
    partial = [h for h in run.history if h.get("seconds") and h.get("steps")]
    version = run.dataset_version
    train_images = (version.split_counts or {}).get("train") if version else 0
    if not partial or not train_images:
        return None
    last = partial[-1]
    steps = math.ceil(train_images / int(run.config.get("batch_size") or 4))
    return last["seconds"] * steps / last["steps"]


def model_verdict(model: ModelVersion) -> dict[str, Any]:
    """The verdict on a model version, from its metrics and its run's measured times."""
    run = model.run
    metrics = model.metrics or {}
    return judge(
        map50=metrics.get("map50"),
        baseline_map50=metrics.get("baseline_map50"),
        epochs=int((run.result or {}).get("epochs_completed") or len(run.history or [])),
        run_seconds=float((run.result or {}).get("ready_seconds") or run.elapsed_seconds or 0),
        epoch_seconds=_full_epoch_seconds(model),
        on_gpu=run.device.startswith("CUDA"),
        test_images=metrics.get("test_images"),
        test_boxes=metrics.get("test_boxes"),
    )


def confirmation_needed(model: ModelVersion, *, confirmed: bool, use: str) -> str | None:
    """The refusal, in words, to make a model not usable yet ``use`` (e.g. "the
    production model") without an explicit confirmation; None when it may go ahead."""
    judged = model_verdict(model)
    if confirmed or judged["usable"]:
        return None
    return (
        f"Model v{model.version} is not usable yet, so it is not made {use} without a "
        f"confirmation: {judged['text']} Send confirm: true to use it anyway."
    )
