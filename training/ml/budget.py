"""The time budget of a whole run: from its start to a model ready to use.

``time_budget_minutes`` covers everything after the run starts: decoding the images,
the training steps, validation, and (when the caller does them after training) the
evaluation of the best checkpoint on the test images and its export. The clock starts
when the caller says the run started (the CLI: when the process started; the studio:
when the worker took the run), and a resumed run carries the time already spent.

The engine asks :meth:`Budget.training_must_end` before every training step: training
ends (mid-epoch if need be: the partial epoch is validated) when one more step, the
validation of the epoch and the work reserved for after training would not fit. The
times are measured as the run goes: decoding per image while the images are decoded,
a training step's time from the steps so far, inference per image from the last
validation. Evaluation and export are estimated from the inference time: evaluating N
images costs about N inferences plus decoding (the evaluation reads the files again)
and a fixed overhead for its report; export traces the model, checks it and runs it
about ``EXPORT_INFERENCES`` times (parity on 4 images in torch and ONNX Runtime, then
the latency figure's 23 runs). A caller that measured an earlier run's evaluation and
export (the studio does) passes that time, which is reserved when it is longer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

# Measured on BCCD with the fast preset on 2 cores (README.md): the report's sweeps and
# COCOeval took 1-3 s; the trace, onnx.checker and two sessions 4-9 s.
EVAL_OVERHEAD_SECONDS = 4.0
EXPORT_FIXED_SECONDS = 10.0
EXPORT_INFERENCES = 40
# Evaluating an image costs more than validating it (no cache, full report): a margin.
EVAL_FACTOR = 2.0
# Before the first validation, inference per image is guessed from a training step:
# a forward pass without the backward one, about half a training image's time.
INFERENCE_PER_TRAIN_IMAGE = 0.5
# The first validation also builds its inference model and runs COCOeval: a margin
# until one was measured.
FIRST_VALIDATION_SECONDS = 1.0


# Validation's share of an epoch's time when epochs are long: the epoch is validated on
# a fixed subset of the val images (at least MIN_VAL_IMAGES) that takes about that share.
VAL_SHARE = 0.25
MIN_VAL_IMAGES = 16


@dataclass
class Budget:
    """The clock of one run and what it has measured; ``seconds`` None: no budget."""

    seconds: float | None
    started: float  # the clock's reading (Budget.now) when the run's clock started
    final_images: int = 0  # images evaluated after training (0: none)
    export: bool = False  # whether an export follows the evaluation
    batch_size: int = 1
    decode_image_seconds: float = 0.0
    step_seconds: float | None = None  # mean of this size's training steps
    infer_image_seconds: float | None = None  # measured by the last validation
    score_image_seconds: float = 0.0  # COCOeval's time per image, measured likewise
    val_seconds: float | None = None  # the last validation's length
    # What evaluation and export took after an earlier run like this one (the studio
    # knows it): reserved when it is more than the estimate.
    measured_after: float | None = None
    clock: str = "wall"  # "wall": time.monotonic(); "cpu": time.process_time()

    def now(self) -> float:
        """The budget clock's reading: wall seconds, or the process's CPU seconds."""
        return time.process_time() if self.clock == "cpu" else time.monotonic()

    def elapsed(self) -> float:
        return self.now() - self.started

    def left(self) -> float:
        """Seconds of budget left (infinite without a budget)."""
        return float("inf") if self.seconds is None else self.seconds - self.elapsed()

    def inference_seconds(self) -> float:
        """Inference time of one image: measured, else guessed from the training steps."""
        if self.infer_image_seconds is not None:
            return self.infer_image_seconds
        if self.step_seconds:
            return self.step_seconds / self.batch_size * INFERENCE_PER_TRAIN_IMAGE
        return 0.0

    def validation_seconds(self, val_images: int) -> float:
        """Expected length of one validation of ``val_images`` (decoded already)."""
        if not val_images:
            return 0.0
        if self.val_seconds is not None:
            return self.val_seconds
        per_image = self.inference_seconds() + self.score_image_seconds
        return FIRST_VALIDATION_SECONDS + val_images * per_image

    def val_images_for(self, val_images: int, steps_per_epoch: int) -> int:
        """How many val images an epoch is validated on: all of them, unless that would
        take more than ``VAL_SHARE`` of an epoch's training under a time budget."""
        per_image = self.inference_seconds() + self.score_image_seconds
        if self.seconds is None or not self.step_seconds or not per_image:
            return val_images
        share = int(VAL_SHARE * steps_per_epoch * self.step_seconds / per_image)
        return max(min(MIN_VAL_IMAGES, val_images), min(val_images, share))

    def after_training_seconds(self) -> float:
        """Reserved for what follows training: evaluation on the test images and export."""
        infer = self.inference_seconds()
        reserve = 0.0
        if self.final_images:
            per_image = (infer + self.score_image_seconds) * EVAL_FACTOR
            per_image += self.decode_image_seconds
            reserve += self.final_images * per_image + EVAL_OVERHEAD_SECONDS
        if self.export:
            reserve += EXPORT_FIXED_SECONDS + EXPORT_INFERENCES * infer
        return max(reserve, self.measured_after or 0.0)

    def training_seconds_left(self, val_images: int) -> float:
        """Seconds left for training steps, once this epoch's validation and the work
        after training are set aside."""
        return self.left() - self.validation_seconds(val_images) - self.after_training_seconds()

    def training_must_end(self, val_images: int) -> bool:
        """True when one more step would not leave time for validation and what follows."""
        if self.seconds is None:
            return False
        return self.training_seconds_left(val_images) < (self.step_seconds or 0.0)

    def describe(self, val_images: int) -> str:
        """The budget's state in words, for the log."""
        return (
            f"{self.elapsed():.1f} s of {self.seconds or 0:.0f} s spent; reserved "
            f"{self.validation_seconds(val_images):.1f} s to validate and "
            f"{self.after_training_seconds():.1f} s for evaluation and export; "
            f"a step takes {self.step_seconds or 0:.2f} s, inference "
            f"{self.inference_seconds():.3f} s an image"
        )


# The engine's run (training.ml.engine._Run) below: its epochs, steps and LR schedule.


def eta_seconds(run: Any, budget: Budget, val_images: int) -> float:
    """Seconds to a model ready: this epoch's rest and its validation, the epochs left,
    then what follows training; never past the time budget."""
    step = budget.step_seconds or 0.0
    validation = budget.validation_seconds(val_images)
    this_epoch = 0.0
    if run.in_epoch:
        this_epoch = (run.steps_per_epoch - run.steps_done) * step + validation
    epochs_left = run.config.epochs - run.epoch - (1 if run.in_epoch else 0)
    eta = this_epoch + (run.steps_per_epoch * step + validation) * max(0, epochs_left)
    return min(eta + budget.after_training_seconds(), max(0.0, budget.left()))


def fit_schedule(run: Any, budget: Budget, val_images: int, size: int) -> None:
    """Aim the cosine decay at the last step the time budget will allow (from the
    measured step time; steps at the full input size after a progressive switch cost
    more by their pixel count)."""
    if budget.seconds is None or not budget.step_seconds:
        return
    config, step = run.config, budget.step_seconds
    epoch_training = run.steps_per_epoch * step
    share = epoch_training / (epoch_training + budget.validation_seconds(val_images))
    seconds = max(0.0, budget.left() - budget.after_training_seconds()) * share
    steps = 0.0
    if size < config.input_size:
        before_switch = min(
            seconds, max(0.0, config.start_fraction * budget.seconds - budget.elapsed())
        )
        steps += before_switch / step
        seconds -= before_switch
        step *= (config.input_size / size) ** 2
    steps += seconds / step
    planned = min(config.epochs * run.steps_per_epoch, run.global_step + int(steps))
    run.schedule.total_steps = max(run.schedule.warmup_steps + 1, planned)
