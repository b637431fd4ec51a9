"""Training configuration: one dataclass, serialisable to and from a plain dict.

The studio stores the dict next to a run; the CLI builds it from its arguments; a
checkpoint carries it so that a resumed run, an evaluation or an export rebuilds the
same model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from training.ml.errors import ConfigError

PRESETS = ("fast", "balanced", "accurate")

# Input size (square, pixels) of each preset when the config does not set one.
# Not larger for "accurate": on BCCD (640x480) a model trained at 320 then 512 px scored
# best evaluated at 448 (val mAP 0.589 against 0.579 at 512 and 0.529 at 576): past
# 448 px the large cells outgrow the stride-32 level and their AP falls (README.md).
PRESET_IMAGE_SIZE = {"fast": 320, "balanced": 416, "accurate": 448}

# Progressive resizing: presets listed here train at a smaller input size first and at
# their own size for the rest of the run (see ``TrainConfig.size_for``).
PRESET_START_SIZE = {"accurate": 320}

OPTIMIZERS = ("sgd", "adamw")
# What ``time_budget_minutes`` measures: wall-clock time, or this process's CPU time
# over all its threads (benchmarks on a shared machine: training/ml/budget.py).
BUDGET_CLOCKS = ("wall", "cpu")
MONITORED_METRICS = ("map", "map50")


@dataclass
class Augmentations:
    """Box-aware training augmentations; each one can be switched off."""

    hflip: bool = True
    vflip: bool = False
    scale_jitter: bool = True
    color_jitter: bool = True
    blur_noise: bool = True
    cutout: bool = False
    mosaic: bool = False


@dataclass
class TrainConfig:
    """Everything that decides how a detector is trained.

    ``image_size`` and ``lr`` left at ``None`` take the preset's / optimizer's default.
    Progressive resizing: when ``start_image_size`` is smaller than the input size,
    the first ``start_fraction`` of the run trains at it (cheaper epochs) and the rest
    at the input size. Each epoch is validated at the size it trained at; best.pt is
    the best full-size epoch, and export always uses the input size.
    ``time_budget_minutes`` is wall-clock time for the whole run (training and
    validation), carried over a resume; with ``time_budget_clock`` "cpu" it is the
    process's CPU time over all threads instead (a benchmark that must not depend on
    what else the machine runs).
    """

    preset: str = "fast"
    image_size: int | None = None
    start_image_size: int | None = None  # None: the preset's; 0: no progressive resizing
    start_fraction: float = 0.6  # share of the run (of the time budget, else of the epochs)
    epochs: int = 50
    time_budget_minutes: float | None = None
    time_budget_clock: str = "wall"
    batch_size: int = 4
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.02
    grad_clip_norm: float | None = 10.0
    ema_decay: float | None = None  # EMA of the weights for validation/best.pt; None: off
    early_stopping_patience: int | None = 10
    monitor: str = "map"
    val_fraction: float = 0.15
    seed: int = 0
    num_workers: int = 0
    num_threads: int | None = None
    device: str = "auto"
    amp: bool = True
    pretrained: bool = True
    cache_images: bool = True
    # Decoded images, at the input size, train and val together (data.CacheBudget).
    cache_max_megabytes: int = 2048
    progress_every: int = 10
    augment: Augmentations = field(default_factory=Augmentations)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = Augmentations(**self.augment)
        self.validate()

    @property
    def input_size(self) -> int:
        """The square input size actually used (the preset's default if unset)."""
        return self.image_size or PRESET_IMAGE_SIZE[self.preset]

    @property
    def start_size(self) -> int:
        """The input size of the first part of the run (the input size if not progressive)."""
        size = self.start_image_size
        if size is None:
            size = PRESET_START_SIZE.get(self.preset, 0) if self.image_size is None else 0
        return min(size, self.input_size) if size else self.input_size

    def size_for(self, progress: float) -> int:
        """The training input size at ``progress`` (0..1 of the time budget or epochs)."""
        return self.start_size if progress < self.start_fraction else self.input_size

    @property
    def learning_rate(self) -> float:
        """The learning rate actually used (the optimizer's default if unset)."""
        if self.lr is not None:
            return self.lr
        # SGD: measured on BCCD (fast preset, 6 epochs, batch 4): test mAP@0.5 0.83 at
        # 0.03, 0.86 at 0.06, 0.88 at 0.12 and at 0.2 (training/ml/README.md).
        return 0.12 if self.optimizer == "sgd" else 1e-3

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid value."""
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.image_size is not None and (self.image_size < 64 or self.image_size % 32):
            raise ConfigError(
                f"image size must be a multiple of 32, at least 64 (got {self.image_size})"
            )
        if self.start_image_size and (self.start_image_size < 64 or self.start_image_size % 32):
            raise ConfigError(
                "start image size must be a multiple of 32, at least 64 "
                f"(got {self.start_image_size})"
            )
        if not 0 <= self.start_fraction < 1:
            raise ConfigError(f"start_fraction must be in [0, 1) (got {self.start_fraction})")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1 (got {self.epochs})")
        if self.time_budget_minutes is not None and not self.time_budget_minutes > 0:
            raise ConfigError(
                f"time budget must be positive (got {self.time_budget_minutes} minutes)"
            )
        if self.time_budget_clock not in BUDGET_CLOCKS:
            raise ConfigError(
                f"time_budget_clock must be one of {', '.join(BUDGET_CLOCKS)} "
                f"(got {self.time_budget_clock!r})"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1 (got {self.batch_size})")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"learning rate must be positive (got {self.lr})")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in (0, 1) or None (got {self.ema_decay})")
        if self.monitor not in MONITORED_METRICS:
            raise ConfigError(f"monitor must be one of {', '.join(MONITORED_METRICS)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1) (got {self.val_fraction})")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda[:N] (got {self.device!r})")
        if self.cache_max_megabytes < 0:
            raise ConfigError(f"cache_max_megabytes must be >= 0 (got {self.cache_max_megabytes})")
        if self.num_workers < 0 or (self.num_threads is not None and self.num_threads < 1):
            raise ConfigError("num_workers must be >= 0 and num_threads >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys (typos fail loudly)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        augment = data.get("augment", {})
        if isinstance(augment, dict):
            aug_known = {f.name for f in dataclasses.fields(Augmentations)}
            bad = sorted(set(augment) - aug_known)
            if bad:
                raise ConfigError(f"unknown augmentation(s): {', '.join(bad)}")
        return cls(**data)
