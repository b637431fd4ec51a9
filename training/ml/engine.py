"""The training loop.

``train()`` takes a :class:`TrainConfig`, a COCO file and an image folder, and writes
``last.pt`` (resume state, every epoch) and ``best.pt`` (best validation mAP) into
``out_dir``. It stops at ``epochs``, at early stopping, at the time budget (wall or CPU
clock) or when ``should_stop()`` returns true: checked before every image decoded into memory,
every training batch, every validation batch and at the end of each epoch (a cancel
during the last epoch is not followed by its validation). Progress goes to
``on_progress(event)`` as plain dicts.

The time budget is the whole run's (training/ml/budget.py): decoding, training,
validation and the evaluation and export that the caller does afterwards. Training is
checked against it before every step and ends mid-epoch when it must (that partial
epoch is validated), never earlier: a run does not stop with budget left.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.ml import checkpoint as ckpt
from training.ml.budget import VAL_SHARE, Budget, eta_seconds, fit_schedule
from training.ml.config import TrainConfig
from training.ml.data import CacheBudget, CocoDetection, collate, load_coco, split_coco
from training.ml.distributed import Group, pick_device, rescale_resumed
from training.ml.ema import ModelEma
from training.ml.errors import (
    Cancelled,
    CheckpointError,
    DatasetError,
    TrainingDiverged,
)
from training.ml.finetune import StartingPoint, describe_match, load_start
from training.ml.models import build_model, preset_architecture
from training.ml.optim import WarmupCosine, build_optimizer
from training.ml.predict import InferenceModel
from training.ml.transforms import DetectionTransform, TrainingSamples
from training.ml.validation import inference_probe, scored_subset, validate

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]
# A step event at least this often (besides every ``progress_every`` steps), and a log
# line of the training's progress this often: slow steps still show the run moving.
PROGRESS_SECONDS = 2.0
LOG_SECONDS = 15.0


@dataclass
class TrainResult:
    """What a run ended with. ``status``: completed, early_stopped, time_budget, cancelled."""

    status: str
    epochs_completed: int
    best_epoch: int | None
    best_metrics: dict[str, float]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    elapsed_seconds: float
    class_names: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)
    # What the budget reserved for the evaluation and export announced (0 without them).
    after_training_seconds: float = 0.0
    started_from: dict[str, Any] | None = None  # init_from: checkpoint, matched/new/dropped


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _datasets(
    config: TrainConfig,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path,
    val_coco: str | Path | dict[str, Any] | None,
    val_images_dir: str | Path | None,
) -> tuple[CocoDetection, CocoDetection | None]:
    train_dict = load_coco(coco)
    val_dict: dict[str, Any] | None = None
    if val_coco is not None:
        val_dict = load_coco(val_coco)
    elif config.val_fraction > 0:
        train_dict, val_dict = split_coco(
            train_dict, val_fraction=config.val_fraction, seed=config.seed
        )
    # Decoded at the largest size training uses, train and val in one memory bound.
    cache = CacheBudget(config.cache_max_megabytes << 20)
    decoding = {"cache": config.cache_images, "cache_budget": cache, "max_size": config.input_size}
    train_ds = CocoDetection(train_dict, images_dir, **decoding)
    for name, count in zip(train_ds.class_names, train_ds.boxes_per_class(), strict=True):
        if count == 0:
            raise DatasetError(f"class {name!r} has no boxes in the training images")
    val_ds = None
    if val_dict is not None:
        val_ds = CocoDetection(val_dict, val_images_dir or images_dir, **decoding)
        if val_ds.class_names != train_ds.class_names:
            raise DatasetError("validation and training data have different categories")
    return train_ds, val_ds


class _Run:
    """The mutable state of one training run (what ``last.pt`` stores).

    The model is kept in channels-last memory format: oneDNN's convolutions (the
    depthwise ones above all) run faster in it, on the CPU as on a GPU with mixed
    precision. Measured here (2 threads, batch 4, accurate preset): a training step
    took 447 ms at 320 px and 1044 ms at 448 px in NCHW, 300 ms and 779 ms in
    channels-last. Checkpoints hold the same values either way.
    """

    def __init__(
        self,
        config: TrainConfig,
        train_ds: CocoDetection,
        device: torch.device,
        architecture: dict[str, str],
        group: Group | None = None,
        start: StartingPoint | None = None,
    ) -> None:
        self.config = config
        self.architecture = architecture
        self.device = device
        self.group = group or Group(device=device)  # several devices: training/ml/distributed.py
        self.batch = self.group.global_batch(config.batch_size)
        self.learning_rate = self.group.learning_rate(config.learning_rate)
        self.class_names = train_ds.class_names
        self.category_ids = train_ds.category_ids
        self.model = build_model(
            config.preset,
            len(self.class_names),
            pretrained=config.pretrained,
            image_size=config.input_size,
            **architecture,
        ).to(device, memory_format=torch.channels_last)
        # Fine-tuning (training/ml/finetune.py): before the optimizer and the EMA see it.
        match = start.apply(self.model, self.class_names) if start is not None else None
        self.started_from = {"checkpoint": start.path, **match.to_dict()} if match else None
        self.train_model = self.group.wrap(self.model)  # forward and backward go through it
        self.optimizer = build_optimizer(self.model, config, self.learning_rate)
        self.steps_per_epoch = self.group.steps_per_epoch(len(train_ds), config.batch_size)
        self.schedule = WarmupCosine(
            config.warmup_steps, config.epochs * self.steps_per_epoch, config.min_lr_ratio
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = ModelEma(self.model, config.ema_decay) if config.ema_decay else None
        self.epoch = 0
        self.global_step = 0
        self.best_metric = -1.0
        self.best_epoch: int | None = None
        self.best_metrics: dict[str, float] = {}
        self.stale_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self.last_losses: dict[str, float] = {}
        self.steps_done = 0  # within the current epoch
        self.val_images: int | None = None  # how many val images each epoch is scored on
        self.in_epoch = False

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The weights that are validated and saved as best.pt (the EMA when on)."""
        return self.ema.module if self.ema is not None else self.model

    def common(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "architecture": self.architecture,
            "class_names": self.class_names,
            "category_ids": self.category_ids,
            "versions": ckpt.versions(),
            "world_size": self.group.world_size,
            "global_batch": self.batch,
            "started_from": self.started_from,
        }

    def state(self, elapsed: float) -> dict[str, Any]:
        return {
            **self.common(),
            "kind": "last",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": ckpt.rng_state(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "best_metrics": self.best_metrics,
            "stale_epochs": self.stale_epochs,
            "val_images": self.val_images,
            "history": self.history,
            "elapsed_seconds": elapsed,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "last":
            raise CheckpointError(
                "resume needs a last.pt checkpoint (best.pt has no optimizer state)"
            )
        saved = TrainConfig.from_dict(state["config"])
        if (saved.preset, saved.input_size) != (self.config.preset, self.config.input_size):
            raise CheckpointError("the checkpoint was trained with another preset or image size")
        if state["class_names"] != self.class_names:
            raise CheckpointError("the checkpoint was trained on other categories")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if not state.get("ema"):
                raise CheckpointError("the checkpoint was trained without an EMA of the weights")
            self.ema.load_state_dict(state["ema"])
        ckpt.set_rng_state(state["rng"])
        self.epoch = state["epoch"]
        self.global_step = state["global_step"]
        self.best_metric = state["best_metric"]
        self.best_epoch = state["best_epoch"]
        self.best_metrics = state["best_metrics"]
        self.stale_epochs = state["stale_epochs"]
        self.val_images = state.get("val_images")
        self.history = list(state["history"])
        self.elapsed_before = float(state["elapsed_seconds"])
        self.started_from = state.get("started_from", self.started_from)
        rescale_resumed(self, state.get("global_batch", saved.batch_size), self.batch)


def train(
    config: TrainConfig,
    *,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path,
    out_dir: str | Path,
    val_coco: str | Path | dict[str, Any] | None = None,
    val_images_dir: str | Path | None = None,
    resume: str | Path | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock_started: float | None = None,
    final_images: int = 0,
    export: bool = False,
    after_training_seconds: float | None = None,
    group: Group | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train a detector; see the module docstring. Raises EngineError subclasses.

    ``clock_started``: the ``time.monotonic()`` at which the run's budget clock started
    (default: now; a budget on the CPU clock, ``time_budget_clock`` "cpu", counts from
    now). ``final_images`` and ``export``: what the caller does after training (evaluate
    that many images, export the model), which the time budget reserves for;
    ``after_training_seconds``: what they took after an earlier, similar run.
    ``group``: this process's among several that train the run (training/ml/distributed.py);
    only its rank 0 reports progress, checks ``should_stop`` and writes checkpoints.
    ``init_from``: a checkpoint to fine-tune from (training/ml/finetune.py), checked first.
    """
    config.validate()
    start = load_start(init_from, config) if init_from is not None else None
    group = group or Group(device=pick_device(config.device))
    logger.info(group.describe(config.batch_size, config.learning_rate))  # the log's first line
    if not group.is_main:
        on_progress = should_stop = None
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    device = group.device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"
    emit = on_progress or (lambda event: None)
    budget = Budget(
        seconds=config.time_budget_minutes * 60 if config.time_budget_minutes else None,
        started=time.monotonic() if clock_started is None else clock_started,
        final_images=final_images,
        export=export,
        batch_size=group.global_batch(config.batch_size),
        measured_after=after_training_seconds,
        clock=config.time_budget_clock,
    )
    if budget.clock == "cpu":  # CPU seconds from here; clock_started is a wall reading
        budget.started = budget.now()
    cancelled = False
    try:
        train_ds, val_ds = _datasets(config, coco, images_dir, val_coco, val_images_dir)
        emit({"event": "phase", "phase": "decoding images", "elapsed_seconds": budget.elapsed()})
        decoding = budget.now()
        total = len(train_ds) + (len(val_ds) if val_ds is not None else 0)

        def decoded_so_far(done: int) -> None:
            emit(
                {
                    "event": "decoding",
                    "images": done,
                    "images_total": total,
                    "elapsed_seconds": budget.elapsed(),
                }
            )

        decoded = train_ds.preload(should_stop, decoded_so_far)
        logger.info("decoded %d training images into memory", decoded)
        if val_ds is not None:
            decoded += val_ds.preload(
                should_stop, lambda done: decoded_so_far(len(train_ds) + done)
            )
        if decoded:
            budget.decode_image_seconds = (budget.now() - decoding) / decoded
    except Cancelled as stop:
        logger.info("cancelled while preparing the data: %s", stop)
        cancelled = True
    if group.from_main(cancelled):
        emit({"event": "done", "status": "cancelled", "epoch": 0, "best_epoch": None})
        return TrainResult("cancelled", 0, None, {}, None, None, budget.elapsed(), [])
    resumed = ckpt.load(resume) if resume is not None else None
    # A resumed run keeps the network it was started with, even if the preset changed.
    architecture = (
        ckpt.architecture_of(resumed)
        if resumed is not None
        else start.architecture
        if start is not None
        else preset_architecture(config.preset)
    )
    run = _Run(config, train_ds, device, architecture, group, start)
    if run.started_from is not None:
        logger.info("fine-tuning from %s: %s", init_from, describe_match(run.started_from))
    if resumed is not None:
        run.restore(resumed)
        logger.info("resumed from %s at epoch %d", resume, run.epoch)
    budget.started -= run.elapsed_before  # a resumed run's clock goes on
    inferences: dict[int, InferenceModel] = {}
    all_val_images = len(val_ds) if val_ds is not None else 0
    if val_ds is not None and budget.seconds is not None:
        inference_probe(run.evaluated_model, val_ds, config.size_for(0), budget)
    val_images = run.val_images or all_val_images
    val_subset = scored_subset(val_ds, run.val_images, config.seed)
    status = "completed"
    elapsed = budget.elapsed
    trained_size: int | None = run.history[-1].get("image_size") if run.history else None

    while run.epoch < config.epochs:
        size = group.from_main(
            config.size_for(
                elapsed() / budget.seconds if budget.seconds else run.epoch / config.epochs
            )
        )
        if budget.step_seconds and trained_size and size != trained_size:
            budget.step_seconds *= (size / trained_size) ** 2  # until measured at this size
        trained_size = size
        if group.from_main(run.best_epoch is not None and budget.training_must_end(val_images)):
            status = "time_budget"  # not one more step fits: what follows needs the rest
            logger.info("training ends at the time budget: %s", budget.describe(val_images))
            break
        epoch_start = time.monotonic()
        emit({"event": "phase", "phase": "training", "elapsed_seconds": elapsed()})
        status = _train_epoch(run, train_ds, size, budget, all_val_images, emit, should_stop)
        if status == "completed" and should_stop is not None and should_stop():
            status = "cancelled"  # asked during the epoch's last batch: no validation
        status = group.from_main(status)
        if status == "cancelled" or (status == "time_budget" and not run.steps_done):
            break
        emit({"event": "phase", "phase": "validating", "elapsed_seconds": elapsed()})
        # Validated at the size it trained at: a progressive run's cheap first epochs are
        # not slowed by full-size validation. When the size grows, the best so far is
        # forgotten, so best.pt ends as the best epoch at the full input size.
        if size not in inferences:
            inferences[size] = InferenceModel(run.evaluated_model, size)
        if val_ds is not None and run.val_images is None:  # chosen once: scores compare
            run.val_images = budget.val_images_for(all_val_images, run.steps_per_epoch)
            val_images = run.val_images
            val_subset = scored_subset(val_ds, run.val_images, config.seed)
            if val_images < all_val_images:
                logger.info(
                    "epochs are validated on %d of the %d val images (a fixed %d%% share "
                    "of an epoch's time)", val_images, all_val_images, VAL_SHARE * 100,
                )  # fmt: skip
        validating = budget.now()
        try:
            validated = val_subset if group.is_main else None  # rank 0 alone validates
            metrics = validate(inferences[size], validated, should_stop, budget)
        except Cancelled:
            metrics = None  # cancelled during validation
        metrics = group.from_main(metrics)
        if metrics is None:
            status = "cancelled"
            break
        if val_images:
            budget.val_seconds = budget.now() - validating
            logger.info("validated %d images in %.1f s", val_images, budget.val_seconds)
        run.epoch += 1
        run.in_epoch = False
        if run.history and run.history[-1].get("image_size", size) != size:
            run.best_metric, run.stale_epochs = -1.0, 0
        seconds = time.monotonic() - epoch_start
        record = {
            "epoch": run.epoch,
            "seconds": seconds,
            "image_size": size,
            "steps": run.steps_done,
            "partial": run.steps_done < run.steps_per_epoch,
            "val_images": val_images,
            "lr": run.scheduler.get_last_lr()[0],
        }
        record.update(run.last_losses)
        record.update({f"val_{k}": v for k, v in metrics.items()})
        run.history.append(record)
        score = metrics.get(config.monitor, 0.0) if val_ds is not None else float(run.epoch)
        if score > run.best_metric:
            run.best_metric, run.best_epoch, run.best_metrics = score, run.epoch, metrics
            run.stale_epochs = 0
            payload = {**run.common(), "kind": "best", "model": run.evaluated_model.state_dict()}
            if group.is_main:
                ckpt.save_atomic({**payload, "epoch": run.epoch, "metrics": metrics}, best_path)
        else:
            run.stale_epochs += 1
        fit_schedule(run, budget, val_images, size)
        run.schedule.total_steps = group.from_main(run.schedule.total_steps)  # rank 0's clock
        if group.is_main:
            ckpt.save_atomic(run.state(elapsed()), last_path)
        logger.info(
            "epoch %d/%d: %.1f s, loss %.4f, val mAP %.4f, mAP@0.5 %.4f",
            run.epoch, config.epochs, seconds, run.last_losses.get("loss", float("nan")),
            metrics.get("map", float("nan")), metrics.get("map50", float("nan")),
        )  # fmt: skip
        emit(
            {
                "event": "epoch",
                "epoch": run.epoch,
                "epochs": config.epochs,
                "seconds": seconds,
                "steps": run.steps_done,
                "partial": record["partial"],
                "losses": run.last_losses,
                "val": metrics,
                "best_epoch": run.best_epoch,
                "elapsed_seconds": elapsed(),
                "eta_seconds": eta_seconds(run, budget, val_images),
            }
        )
        if status == "time_budget":
            break
        if config.early_stopping_patience and run.stale_epochs >= config.early_stopping_patience:
            status = "early_stopped"
            break
    result = TrainResult(
        status=status,
        epochs_completed=run.epoch,
        best_epoch=run.best_epoch,
        best_metrics=run.best_metrics,
        best_checkpoint=best_path if best_path.exists() else None,
        last_checkpoint=last_path if last_path.exists() else None,
        elapsed_seconds=elapsed(),
        class_names=run.class_names,
        history=run.history,
        after_training_seconds=budget.after_training_seconds(),
        started_from=run.started_from,
    )
    emit({"event": "done", "status": status, "epoch": run.epoch, "best_epoch": run.best_epoch})
    return result


def _train_epoch(
    run: _Run,
    train_ds: CocoDetection,
    size: int,
    budget: Budget,
    all_val_images: int,
    emit: ProgressCallback,
    should_stop: Callable[[], bool] | None,
) -> str:
    """One pass over the training data; returns 'completed', 'cancelled' or 'time_budget'.

    'time_budget': the pass was cut because one more step would not leave time for the
    validation and what follows training (at least one step is made while the run has
    no model yet)."""
    config, model = run.config, run.model
    generator = torch.Generator().manual_seed(config.seed * 100_003 + run.epoch)
    samples = TrainingSamples(
        train_ds,
        DetectionTransform(size, config.augment),
        mosaic=0.5 if config.augment.mosaic else 0.0,
    )
    loader = run.group.loader(
        samples,
        batch_size=config.batch_size,
        generator=generator,
        collate_fn=collate,
        num_workers=config.num_workers,
    )
    model.train()
    sums: dict[str, float] = {}
    run.steps_done, run.in_epoch = 0, True
    last_event = last_log = time.monotonic()
    step_start = budget.now()
    for step, (images, targets) in enumerate(loader, start=1):
        stop = None
        if should_stop is not None and should_stop():
            stop = "cancelled"
        # The val images the epoch will be scored on (chosen at the first validation).
        val_images = run.val_images
        if val_images is None:
            val_images = budget.val_images_for(all_val_images, run.steps_per_epoch)
        if (
            stop is None
            and (run.best_epoch is not None or step > 1)
            and budget.training_must_end(val_images)
        ):
            logger.info(
                "epoch %d ends after %d of %d steps at the time budget: %s",
                run.epoch + 1, step - 1, run.steps_per_epoch, budget.describe(val_images),
            )  # fmt: skip
            stop = "time_budget"
        stop = run.group.from_main(stop)  # several processes stop at the same step
        if stop:
            return stop
        images = [im.to(run.device, non_blocking=True) for im in images]
        targets = [
            {"boxes": t["boxes"].to(run.device), "labels": t["labels"].to(run.device)}
            for t in targets
        ]
        with torch.autocast(run.device.type, enabled=run.amp):
            losses = run.train_model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: loss is {loss.item()} at epoch {run.epoch + 1}, step {step} "
                f"({', '.join(f'{k}={v.item():.4g}' for k, v in losses.items())}); "
                "try a lower learning rate"
            )
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if config.grad_clip_norm:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update(model)
        run.global_step += 1
        values = {k: float(v.detach()) for k, v in losses.items()}
        values["loss"] = float(loss.detach())
        values = run.group.mean(values)  # the global batch's, on several devices
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        run.last_losses = {k: v / step for k, v in sums.items()}
        run.steps_done = step
        budget.step_seconds = (budget.now() - step_start) / step
        if step % 10 == 0:
            fit_schedule(run, budget, val_images, size)
            run.schedule.total_steps = run.group.from_main(run.schedule.total_steps)
        now = time.monotonic()
        if (
            step % config.progress_every == 0
            or step == run.steps_per_epoch
            or now - last_event >= PROGRESS_SECONDS
        ):
            last_event = now
            images_seen = min(len(train_ds), step * run.batch)
            if now - last_log >= LOG_SECONDS:
                last_log = now
                logger.info(
                    "epoch %d: step %d of %d, %d of %d images, %.2f images/s, loss %.4f",
                    run.epoch + 1, step, run.steps_per_epoch, images_seen, len(train_ds),
                    run.batch / budget.step_seconds, values["loss"],
                )  # fmt: skip
            emit(
                {
                    "event": "step",
                    "epoch": run.epoch + 1,
                    "epochs": config.epochs,
                    "step": step,
                    "steps": run.steps_per_epoch,
                    "images": images_seen,
                    "images_total": len(train_ds),
                    "images_per_second": run.batch / budget.step_seconds,
                    "global_step": run.global_step,
                    "loss": values["loss"],
                    "losses": values,
                    "mean_losses": run.last_losses,
                    "lr": run.scheduler.get_last_lr()[0],
                    "elapsed_seconds": budget.elapsed(),
                    "eta_seconds": eta_seconds(run, budget, val_images),
                }
            )
    return "completed"
