"""The optimizer and the learning-rate schedule of a training run (training/ml/engine.py)."""

from __future__ import annotations

import math

import torch

from training.ml.config import TrainConfig


class WarmupCosine:
    """Learning-rate factor: linear warm-up, then cosine decay to ``min_ratio``.

    A callable object (not a lambda), so ``LambdaLR.state_dict()`` saves
    ``total_steps``, which a time budget moves as epoch times become known.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return 0.001 + (1 - 0.001) * step / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(
    model: torch.nn.Module, config: TrainConfig, lr: float
) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=config.momentum, nesterov=True)
