"""Exponential moving average (EMA) of a model's weights.

Validation, ``best.pt`` and therefore evaluation and export use the averaged
weights: on a small data set trained with a high learning rate they are less noisy
than the last step's. The decay ramps up from 0 (``decay * (1 - exp(-updates /
ramp_steps))``), so the first steps are not stuck on the initial weights.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


class ModelEma:
    """Holds ``module``, an averaged copy of a model; call :meth:`update` after each step."""

    def __init__(self, model: nn.Module, decay: float, ramp_steps: int = 100) -> None:
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.decay = decay
        self.ramp_steps = ramp_steps
        self.updates = 0

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / max(1, self.ramp_steps)))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.current_decay()
        averaged, current = [], []
        for ema_value, value in zip(
            self.module.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if ema_value.dtype.is_floating_point:
                averaged.append(ema_value)
                current.append(value.detach())
            else:
                ema_value.copy_(value)
        torch._foreach_lerp_(averaged, current, 1.0 - decay)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.updates = int(state["updates"])
