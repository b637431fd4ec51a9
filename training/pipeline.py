"""A training run, executed in a worker: claim, train (resumable), evaluate, export.

This is the only place where Django meets ``training.ml`` (imported inside functions,
so a worker's parent process never imports torch). Every state change is written to
the run's row, the source of truth; writes retry while the database is unavailable.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import socket
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import OperationalError, close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from training.checks import dataset_problems
from training.datasets import dataset_version_coco
from training.models import ModelVersion, RunStatus, TrainingRun

logger = logging.getLogger(__name__)
LOSS_POINTS_MAX = 2000


class RunFailed(Exception):
    """A failure to show on the run page, in words."""


def retrying(write, *, attempts: int = 20, delay: float = 1.0):
    """Run a database write, retrying while the database is briefly unavailable."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            logger.warning("database unavailable; retrying in %.0f s", delay)
            close_old_connections()
            connection.close()
            time.sleep(delay)
            delay = min(delay * 1.5, 10)


def update_run(run_id: int, **fields: Any) -> None:
    retrying(lambda: TrainingRun.objects.filter(pk=run_id).update(**fields))


def claim(run_id: int) -> TrainingRun | None:
    """Take the run for this worker, or return None if there is nothing to do."""
    stale = timezone.now() - timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return None
        if run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at > stale:
            return None  # another worker has it (a duplicate message)
        if run.cancel_requested:
            run.status, run.finished_at = RunStatus.CANCELLED, timezone.now()
            run.save(update_fields=["status", "finished_at"])
            return None
        run.attempts += 1
        now = timezone.now()
        if run.attempts > settings.STUDIO_RUN_MAX_ATTEMPTS:
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = (
                f"Gave up after {settings.STUDIO_RUN_MAX_ATTEMPTS} attempts: the worker "
                "running it was lost each time (killed, out of memory or restarted)."
            )
            run.save(update_fields=["status", "finished_at", "error", "attempts"])
            return None
        run.status, run.heartbeat_at, run.phase = RunStatus.RUNNING, now, "preparing"
        run.started_at = run.started_at or now
        run.worker = f"{socket.gethostname()} (pid {os.getpid()})"
        run.error = ""
        run.save()
    return run


class Heartbeat(threading.Thread):
    """Every few seconds: record that the run is alive and read its cancel flag."""

    def __init__(self, run_id: int, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.run_id, self.interval = run_id, interval
        self.cancel_requested = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    TrainingRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                    self.cancel_requested = TrainingRun.objects.filter(
                        pk=self.run_id, cancel_requested=True
                    ).exists()
                except OperationalError:
                    connection.close()  # the next beat reconnects
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class LogTail(logging.Handler):
    def __init__(self, lines: int = 200) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_file(local: Path, name: str) -> str:
    """Copy a local file into the media storage under ``name`` (replacing it)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with local.open("rb") as handle:
        return default_storage.save(name, File(handle))


def fetch_file(name: str, local: Path) -> Path:
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_suffix(local.suffix + ".part")
    with default_storage.open(name, "rb") as src, tmp.open("wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            dst.write(chunk)
    os.replace(tmp, local)
    return local


def images_folder(coco: dict[str, Any], workdir: Path) -> Path:
    """A local folder holding every image of ``coco`` under its ``file_name``."""
    try:
        return Path(default_storage.path(""))  # local media: use it in place
    except NotImplementedError:  # remote (S3) media: download once per worker
        cache = Path(settings.DATA_DIR) / "work" / "media-cache"
        for image in coco["images"]:
            target = cache / image["file_name"]
            if not target.exists():
                fetch_file(image["file_name"], target)
        return cache


def split_coco(coco: dict[str, Any], split: str) -> dict[str, Any]:
    images = [image for image in coco["images"] if image.get("split") == split]
    ids = {image["id"] for image in images}
    return {
        **coco,
        "images": images,
        "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
    }


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def friendly_error(exc: BaseException) -> str:
    from training.ml.errors import EngineError

    text = str(exc)
    if "out of memory" in text.lower():
        return "Out of memory on the GPU: lower the image size or the batch size."
    if isinstance(exc, EngineError | RunFailed):
        return text
    return f"Internal error ({type(exc).__name__}): {text}. The full traceback is in the log."


def execute(run_id: int) -> str:
    """Run (or resume) a training run to its end. Returns the run's final status."""
    run = retrying(lambda: claim(run_id))
    if run is None:
        return "skipped"
    heartbeat = Heartbeat(run_id, settings.STUDIO_HEARTBEAT_SECONDS)
    heartbeat.start()
    tail = LogTail()
    engine_logger = logging.getLogger("training")
    engine_logger.addHandler(tail)
    try:
        status = _execute(run, heartbeat, tail)
    except Exception as exc:  # noqa: BLE001 - every failure ends the run with words
        logger.exception("run %s failed", run_id)
        tail.lines.append(traceback.format_exc())
        update_run(
            run_id,
            status=RunStatus.FAILED,
            error=friendly_error(exc),
            finished_at=timezone.now(),
            log_tail=tail.text(),
        )
        status = RunStatus.FAILED
    finally:
        engine_logger.removeHandler(tail)
        heartbeat.stop()
    return status


def _execute(run: TrainingRun, heartbeat: Heartbeat, tail: LogTail) -> str:
    from training.ml.config import TrainConfig
    from training.ml.engine import train

    workdir = Path(settings.DATA_DIR) / "work" / "runs" / str(run.pk)
    workdir.mkdir(parents=True, exist_ok=True)
    coco = dataset_version_coco(run.dataset_version)
    problems = dataset_problems(
        coco,
        min_boxes_per_class=settings.STUDIO_MIN_BOXES_PER_CLASS,
        min_val_images=settings.STUDIO_MIN_VAL_IMAGES,
    )
    if problems:
        raise RunFailed("The data check failed: " + " ".join(problems))
    images_dir = images_folder(coco, workdir)
    config = TrainConfig.from_dict(run.config)
    resume = _resume_checkpoint(run, workdir)
    update_run(
        run.pk,
        device=device_name(),
        phase="training",
        resumed_from_epoch=run.checkpoint_epoch if resume else None,
        epochs=config.epochs,
    )
    progress = _Progress(run, tail)
    result = train(
        config,
        coco=split_coco(coco, "train"),
        val_coco=split_coco(coco, "val"),
        images_dir=images_dir,
        out_dir=workdir,
        resume=resume,
        on_progress=progress,
        should_stop=lambda: heartbeat.cancel_requested,
    )
    if result.status == "cancelled":
        update_run(
            run.pk,
            status=RunStatus.CANCELLED,
            finished_at=timezone.now(),
            phase="",
            log_tail=tail.text(),
        )
        return RunStatus.CANCELLED
    if result.best_checkpoint is None:
        raise RunFailed("Training ended before one epoch was complete: raise the time budget.")
    model = _evaluate_and_export(run, coco, images_dir, workdir, result)
    update_run(
        run.pk,
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        phase="",
        eta_seconds=0,
        log_tail=tail.text(),
        result={
            "stop_reason": result.status,
            "epochs_completed": result.epochs_completed,
            "best_epoch": result.best_epoch,
            "best_val": result.best_metrics,
            "model_version": model.version,
            "test_metrics": model.metrics,
        },
    )
    return RunStatus.SUCCEEDED


def _resume_checkpoint(run: TrainingRun, workdir: Path) -> Path | None:
    """The run's last recorded checkpoint, verified by its sha256, or None."""
    if not run.checkpoint_file:
        return None
    local = workdir / "last.pt"
    if not (local.exists() and sha256_of(local) == run.checkpoint_sha256):
        fetch_file(run.checkpoint_file, local)
    if sha256_of(local) != run.checkpoint_sha256:
        logger.warning("checkpoint of run %s does not match its sha256; starting over", run.pk)
        return None
    return local


class _Progress:
    """The engine's progress callback: records losses, epochs and checkpoints on the row."""

    def __init__(self, run: TrainingRun, tail: LogTail) -> None:
        self.run = run
        self.tail = tail
        self.loss_points: list[list[float]] = list(run.loss_points or [])
        self.history: list[dict[str, Any]] = list(run.history or [])
        self.last_write = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "step":
            self._step(event)
        elif kind == "epoch":
            self._epoch(event)

    def _step(self, event: dict[str, Any]) -> None:
        loss = event.get("losses", {}).get("loss")
        if loss is not None:
            self.loss_points.append([event.get("global_step", len(self.loss_points)), loss])
            if len(self.loss_points) > LOSS_POINTS_MAX:
                self.loss_points = self.loss_points[::2]
        if time.monotonic() - self.last_write > 2:
            self.last_write = time.monotonic()
            update_run(
                self.run.pk,
                heartbeat_at=timezone.now(),
                loss_points=self.loss_points,
                elapsed_seconds=event.get("elapsed_seconds", 0),
                eta_seconds=event.get("eta_seconds"),
            )

    def _epoch(self, event: dict[str, Any]) -> None:
        epoch = event["epoch"]
        record = {"epoch": epoch, **event.get("losses", {})}
        record.update({f"val_{k}": v for k, v in event.get("val", {}).items()})
        self.history = [h for h in self.history if h["epoch"] < epoch] + [record]
        local = Path(settings.DATA_DIR) / "work" / "runs" / str(self.run.pk) / "last.pt"
        digest = sha256_of(local)
        name = store_file(local, f"runs/{self.run.pk}/last.pt")
        update_run(
            self.run.pk,
            epoch=epoch,
            history=self.history,
            loss_points=self.loss_points,
            heartbeat_at=timezone.now(),
            elapsed_seconds=event.get("elapsed_seconds", 0),
            eta_seconds=event.get("eta_seconds"),
            checkpoint_file=name,
            checkpoint_sha256=digest,
            checkpoint_epoch=epoch,
            log_tail=self.tail.text(),
        )


def _evaluate_and_export(run, coco, images_dir: Path, workdir: Path, result) -> ModelVersion:
    from training.ml.data import read_image
    from training.ml.evaluate import evaluate_checkpoint
    from training.ml.export import export_onnx, measure_latency, sample_images

    existing = ModelVersion.objects.filter(run=run).first()
    if existing:
        return existing
    test = split_coco(coco, "test")
    if not test["images"]:
        test = split_coco(coco, "val")
    update_run(run.pk, phase="evaluating", heartbeat_at=timezone.now())
    report = evaluate_checkpoint(result.best_checkpoint, test, images_dir)
    update_run(run.pk, phase="exporting", heartbeat_at=timezone.now())
    samples = [read_image(images_dir / image["file_name"]) for image in test["images"][:4]]
    onnx_path = workdir / "model.onnx"
    exported = export_onnx(result.best_checkpoint, onnx_path, images=samples or None)
    update_run(run.pk, heartbeat_at=timezone.now())
    latency_image = (samples or sample_images(1))[0].permute(1, 2, 0).numpy()
    latency = measure_latency(onnx_path, latency_image)
    prefix = f"projects/{run.project_id}/models/run-{run.pk}"
    onnx_name = store_file(onnx_path, f"{prefix}/model.onnx")
    checkpoint_name = store_file(Path(result.best_checkpoint), f"{prefix}/checkpoint.pt")
    metrics = {k: v for k, v in report.get("metrics", {}).items() if isinstance(v, int | float)}

    def create() -> ModelVersion:
        with transaction.atomic():
            latest = ModelVersion.objects.filter(project_id=run.project_id).aggregate(
                Max("version")
            )["version__max"]
            return ModelVersion.objects.create(
                project_id=run.project_id,
                run=run,
                version=(latest or 0) + 1,
                onnx_file=onnx_name,
                onnx_sha256=sha256_of(onnx_path),
                onnx_bytes=onnx_path.stat().st_size,
                checkpoint_file=checkpoint_name,
                evaluation=report,
                metrics=metrics,
                export={
                    "metadata": exported["metadata"],
                    "parity": exported["parity"],
                    "parameters": exported["parameters"],
                    "latency": latency,
                },
                threshold=float(report.get("recommended_threshold") or 0.3),
            )

    return retrying(create)
