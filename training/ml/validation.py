"""Validation during training: scoring an epoch, the val subset, the speed probe."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import torch

from training.ml.budget import Budget
from training.ml.data import CocoDetection
from training.ml.evaluate import coco_metrics
from training.ml.predict import InferenceModel, predict_dataset


def scored_subset(
    val_ds: CocoDetection | None, count: int | None, seed: int
) -> CocoDetection | None:
    """The val images epochs are scored on: a fixed random ``count`` of them, or all."""
    if val_ds is None or count is None or count >= len(val_ds):
        return val_ds
    return val_ds.subset(sorted(random.Random(seed).sample(range(len(val_ds)), count)))


def inference_probe(
    model: torch.nn.Module, val_ds: CocoDetection, size: int, budget: Budget, count: int = 4
) -> None:
    """Measure, on a few val images before training, the seconds per image of inference
    and of scoring (COCOeval): what the budget reserves for validation, evaluation and
    export starts from them."""
    probe = val_ds.subset(list(range(min(count, len(val_ds)))))
    # Every candidate kept (threshold 0): a trained model's scores pass the threshold and
    # its NMS and COCOeval handle the full 100 detections an image, an untrained one's not.
    validate(InferenceModel(model, size, score_threshold=0.0), probe, None, budget)


@torch.no_grad()
def validate(
    inference: InferenceModel,
    val_ds: CocoDetection | None,
    should_stop: Callable[[], bool] | None = None,
    budget: Budget | None = None,
) -> dict[str, float]:
    """Validation metrics; ``budget`` learns the inference time per image (COCOeval's
    time apart, which does not grow with the images of an export's checks)."""
    if val_ds is None:
        return {}
    now = budget.now if budget is not None else time.monotonic  # the budget's clock
    predicting = now()
    predictions = predict_dataset(inference, val_ds, should_stop=should_stop)
    scoring = now()
    metrics = coco_metrics(val_ds.coco, predictions)
    if budget is not None:
        budget.infer_image_seconds = (scoring - predicting) / len(val_ds)
        budget.score_image_seconds = (now() - scoring) / len(val_ds)
    return {k: metrics[k] for k in ("map", "map50", "map75")}
