"""A training run, executed in a worker: claim, train (resumable), evaluate, export.

This is the only place where Django meets ``training.ml`` (imported inside functions,
so a worker's parent process never imports torch). Every state change is written to
the run's row, the source of truth; writes retry while the database is unavailable.

Every write of the run is fenced by its claim (training/claims.py); the engine's progress
is recorded by training/progress.py; the run's files are training/run_files.py's.
"""

from __future__ import annotations

import collections
import errno
import logging
import time
import traceback
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.utils import timezone

from labeling.models import Project
from training import selectors
from training.checks import dataset_problems
from training.claims import (  # noqa: F401 - the run's claim, also named from here
    Heartbeat,
    RunSuperseded,
    check_claim,
    claim,
    owned,
    retrying,
    update_run,
)
from training.datasets import dataset_version_coco
from training.label_audit import audit_report
from training.models import FREEZING, ModelVersion, RunStatus, TrainingRun
from training.progress import Progress
from training.run_files import fetch_file, run_workdir, sha256_of, store_file
from training.run_notifications import run_ended_notify
from training.start_from import start_checkpoint

logger = logging.getLogger(__name__)
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class RunFailed(Exception):
    """A failure to show on the run page, in words."""


class RunCancelled(Exception):  # noqa: N818 - not an error: someone asked to stop
    """The run's cancel flag was found set: stop wherever the run is, make no model."""


def stop_if_cancelled(run_id: int) -> None:
    """Raise RunCancelled if the run's cancel flag is set (read from the row itself).

    Called between the phases of a run (preparing, evaluating, exporting); within
    training and evaluation the engine asks the heartbeat's copy before every batch.
    """
    if retrying(lambda: TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists()):
        raise RunCancelled


class LogTail(logging.Handler):
    def __init__(self, lines: int = 200) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


def images_folder(coco: dict[str, Any], workdir: Path, heartbeat: Heartbeat | None = None) -> Path:
    """A local folder holding every image of ``coco`` under its ``file_name``."""
    try:
        return Path(default_storage.path(""))  # local media: use it in place
    except NotImplementedError:  # remote (S3) media: download once per worker
        cache = Path(settings.DATA_DIR) / "work" / "media-cache"
        for image in coco["images"]:
            if heartbeat is not None and heartbeat.cancel_requested:
                raise RunCancelled from None
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


def device_name(processes: int = 1) -> str:
    import torch

    if torch.cuda.is_available():
        name = f"CUDA: {torch.cuda.get_device_name(0)}"
        return f"{processes} x {name}" if processes > 1 else name
    if processes > 1:
        return f"CPU, {processes} processes"
    return f"CPU ({torch.get_num_threads()} threads)"


def friendly_error(exc: BaseException) -> str:
    from training.ml.errors import EngineError

    text = str(exc)
    if "out of memory" in text.lower():
        return "Out of memory on the GPU: lower the image size or the batch size."
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        where = exc.filename or "the media storage"
        return f"No space left on device ({where}): free some space, then train again."
    if isinstance(exc, EngineError | RunFailed):
        return text
    return f"Internal error ({type(exc).__name__}): {text}. The full traceback is in the log."


def _last_checkpoint_note(exc: BaseException, run_id: int) -> str:
    """After a full disk: the checkpoint a new run (or a resume) can start from."""
    from training.ml.errors import DiskFull

    if not (isinstance(exc, DiskFull) or getattr(exc, "errno", None) in DISK_FULL_ERRNOS):
        return ""
    epoch = TrainingRun.objects.filter(pk=run_id).values_list("checkpoint_epoch", flat=True)
    last = epoch.first()
    if not last:
        return " No checkpoint was saved yet."
    return f" The last good checkpoint is epoch {last}."


def execute(run_id: int) -> str:
    """Run (or resume) a training run to its end. Returns the run's final status."""
    run = retrying(lambda: claim(run_id))
    if run is None:  # finished already, or ended by the claim (cancelled, given up)
        run_ended_notify(run_id=run_id)
        return "skipped"
    clock_started = time.monotonic()  # the time budget counts from here to a model ready
    heartbeat = Heartbeat(run, settings.STUDIO_HEARTBEAT_SECONDS)
    heartbeat.start()
    tail = LogTail()
    engine_logger = logging.getLogger("training")
    engine_logger.addHandler(tail)
    try:
        try:
            status = _execute(run, heartbeat, tail, clock_started=clock_started)
        except RunCancelled:
            logger.info("run %s cancelled in phase %s", run_id, _phase(run_id))
            update_run(
                run,
                status=RunStatus.CANCELLED,
                finished_at=timezone.now(),
                phase="",
                log_tail=tail.text(),
            )
            status = RunStatus.CANCELLED
        except (RunSuperseded, OperationalError):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure ends the run with words
            logger.exception("run %s failed", run_id)
            tail.lines.append(traceback.format_exc())
            update_run(
                run,
                status=RunStatus.FAILED,
                error=friendly_error(exc) + _last_checkpoint_note(exc, run_id),
                finished_at=timezone.now(),
                log_tail=tail.text(),
            )
            status = RunStatus.FAILED
    except RunSuperseded:
        # Taken for lost (frozen, or cut off from the database) and claimed again: the
        # other worker owns the run now, so this one stops and writes nothing more.
        logger.warning("run %s was claimed again by another worker; this one stops", run_id)
        status = "superseded"
    finally:
        engine_logger.removeHandler(tail)
        heartbeat.stop()
    if status != "superseded":
        run_ended_notify(run_id=run_id)  # the members, on every page of the studio
    return status


def engine_config(config: dict[str, Any]):
    """The engine config of a run as this worker trains it: the decoded-image memory is
    the worker's to bound (``STUDIO_TRAIN_CACHE_MB``), whatever the run was started with."""
    from training.ml.config import TrainConfig

    return TrainConfig.from_dict({**config, "cache_max_megabytes": settings.STUDIO_TRAIN_CACHE_MB})


def _execute(
    run: TrainingRun, heartbeat: Heartbeat, tail: LogTail, *, clock_started: float | None = None
) -> str:
    """The run's phases. Its time budget covers them all, from ``clock_started`` (the
    claim) to the recorded model: training reserves what evaluation and export take."""
    from training.ml.distributed import devices_to_use, train_on_devices
    from training.ml.engine import train

    clock_started = time.monotonic() if clock_started is None else clock_started

    workdir = run_workdir(run)
    workdir.mkdir(parents=True, exist_ok=True)
    if run.dataset_version_id is None:
        _freeze(run)
    coco = dataset_version_coco(run.dataset_version)
    stop_if_cancelled(run.pk)
    problems = dataset_problems(
        coco,
        min_boxes_per_class=settings.STUDIO_MIN_BOXES_PER_CLASS,
        min_val_images=settings.STUDIO_MIN_VAL_IMAGES,
    )
    if problems:
        raise RunFailed("The data check failed: " + " ".join(problems))
    stop_if_cancelled(run.pk)
    images_dir = images_folder(coco, workdir, heartbeat)
    config = engine_config(run.config)
    resume = _resume_checkpoint(run, workdir)
    # A model version to fine-tune from (a resumed run's checkpoint holds its weights).
    init_from = None if resume else start_checkpoint(run, workdir)
    # Every GPU of the node, or STUDIO_TRAIN_PROCESSES (README: several GPUs in one machine).
    processes = devices_to_use(config.device, settings.STUDIO_TRAIN_PROCESSES)
    update_run(
        run,
        device=device_name(processes),
        phase="decoding images",
        resumed_from_epoch=run.checkpoint_epoch if resume else None,
        epochs=config.epochs,
    )
    progress = Progress(run, tail)
    test_images = len(_test_split(coco)["images"])
    result = train_on_devices(
        processes,
        train,
        config,
        coco=split_coco(coco, "train"),
        val_coco=split_coco(coco, "val"),
        images_dir=images_dir,
        out_dir=workdir,
        resume=resume,
        on_progress=progress,
        should_stop=lambda: heartbeat.cancel_requested or heartbeat.superseded,
        clock_started=clock_started,
        final_images=test_images,
        export=True,
        after_training_seconds=_after_training_seconds(run, config),
        init_from=init_from,
    )
    trained_at = time.monotonic()
    if heartbeat.superseded:
        raise RunSuperseded(f"run {run.pk} was claimed again by another worker")
    if result.status == "cancelled":
        raise RunCancelled
    if result.best_checkpoint is None:
        raise RunFailed("Training ended before one epoch was complete: raise the time budget.")

    # Seconds an earlier attempt spent (its checkpoint's), counted against the budget too.
    resumed_seconds = result.elapsed_seconds - (time.monotonic() - clock_started)

    started_from = run.started_from
    if run.started_from and result.started_from:  # the match made on the frozen classes
        classes = {k: result.started_from[k] for k in ("matched", "new", "dropped")}
        started_from = {**run.started_from, "classes": classes}

    def succeeded(model: ModelVersion) -> dict[str, Any]:
        return {
            "started_from": started_from,
            "status": RunStatus.SUCCEEDED,
            "finished_at": timezone.now(),
            "phase": "",
            "eta_seconds": 0,
            "elapsed_seconds": time.monotonic() - clock_started + resumed_seconds,
            "log_tail": tail.text(),
            "result": {
                "stop_reason": result.status,
                "epochs_completed": result.epochs_completed,
                "best_epoch": result.best_epoch,
                "best_val": result.best_metrics,
                "model_version": model.version,
                "test_metrics": model.metrics,
                "budget_seconds": (config.time_budget_minutes or 0) * 60,
                "ready_seconds": round(time.monotonic() - clock_started + resumed_seconds, 1),
                "after_training_seconds": round(time.monotonic() - trained_at, 1),
                "test_images": test_images,
            },
        }

    _evaluate_and_export(
        run,
        coco,
        images_dir,
        workdir,
        result,
        should_stop=lambda: heartbeat.cancel_requested or heartbeat.superseded,
        finish=succeeded,
        elapsed=lambda: time.monotonic() - clock_started + resumed_seconds,
    )
    return RunStatus.SUCCEEDED


def _freeze(run: TrainingRun) -> None:
    """The run's first phase: freeze the project's data now into a dataset version (an
    existing one when unchanged) and record it on the run."""
    from training.datasets import dataset_version_freeze

    update_run(run, phase=FREEZING, heartbeat_at=timezone.now())
    version = retrying(lambda: dataset_version_freeze(project=run.project, user=run.created_by))
    update_run(run, dataset_version=version, phase="preparing", heartbeat_at=timezone.now())
    run.dataset_version = version
    stop_if_cancelled(run.pk)


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


def _phase(run_id: int) -> str:
    return TrainingRun.objects.filter(pk=run_id).values_list("phase", flat=True).first() or ""


def _after_training_seconds(run: TrainingRun, config) -> float | None:
    """What evaluating and exporting took after this project's last run of the same
    preset and image size (the engine reserves it when its estimate is less); None
    before any."""
    earlier = (
        TrainingRun.objects.filter(
            project_id=run.project_id,
            status=RunStatus.SUCCEEDED,
            config__preset=config.preset,
            config__image_size=config.image_size,
            result__has_key="after_training_seconds",
        )
        .exclude(pk=run.pk)
        .order_by("-finished_at")
        .values_list("result", flat=True)
        .first()
    )
    return earlier["after_training_seconds"] if earlier else None


def _test_split(coco: dict[str, Any]) -> dict[str, Any]:
    """The images the model is evaluated on: the test split, else the val split."""
    return split_coco(coco, _test_split_name(coco))


def _test_split_name(coco: dict[str, Any]) -> str:
    return "test" if any(image.get("split") == "test" for image in coco["images"]) else "val"


def _evaluate_and_export(
    run,
    coco,
    images_dir: Path,
    workdir: Path,
    result,
    *,
    should_stop=None,
    finish=None,
    elapsed=None,
) -> ModelVersion:
    """Evaluate the best checkpoint, export it and record the model version.

    A cancel is honoured in every phase: between the phases (the row's flag), within
    the evaluation (``should_stop`` before every batch) and at the very end, where the
    model version is created in the same transaction that finds the flag unset (and
    ``run_cancel`` refuses a run that has its model version), so a cancelled run never
    has one. ``finish(model)`` gives the run's final fields, written in that same
    transaction: a run has a model version exactly when it succeeded. Nothing is
    recorded once another worker claimed the run (RunSuperseded).
    """
    from training.ml.baseline import average_box_map50
    from training.ml.data import read_image
    from training.ml.errors import Cancelled
    from training.ml.evaluate import evaluate_checkpoint
    from training.ml.export import export_onnx, measure_latency, sample_images

    existing = ModelVersion.objects.filter(run=run).first()
    if existing:  # recorded by an earlier attempt
        return retrying(lambda: _record_model(run, lambda: existing, finish))
    test = _test_split(coco)
    stop_if_cancelled(run.pk)
    after_started = time.monotonic()

    def times() -> dict[str, float | None]:
        """Elapsed time, and the time left of what the budget reserved for evaluating and
        exporting (None once it is spent: the page says so rather than "0 s")."""
        if elapsed is None:
            return {}
        left = result.after_training_seconds - (time.monotonic() - after_started)
        return {"elapsed_seconds": elapsed(), "eta_seconds": left if left > 0 else None}

    update_run(run, phase="evaluating", heartbeat_at=timezone.now(), **times())
    phase_started = time.monotonic()
    logger.info("evaluating the best checkpoint on %d images", len(test["images"]))
    try:
        report = evaluate_checkpoint(
            result.best_checkpoint, test, images_dir, should_stop=should_stop
        )
    except Cancelled:
        raise RunCancelled from None
    report["baseline"] = {
        "kind": "each class's average box",
        "map50": average_box_map50(split_coco(coco, "train"), test),
    }
    # Possible missing labels (never fails the run), in the budget like the evaluation.
    label_audit = audit_report(report=report, coco=test, split=_test_split_name(coco))
    stop_if_cancelled(run.pk)
    update_run(run, phase="exporting", heartbeat_at=timezone.now(), **times())
    logger.info("evaluated in %.1f s; exporting to ONNX", time.monotonic() - phase_started)
    phase_started = time.monotonic()
    samples = [read_image(images_dir / image["file_name"]) for image in test["images"][:4]]
    onnx_path = workdir / "model.onnx"
    try:
        exported = export_onnx(
            result.best_checkpoint, onnx_path, images=samples or None, should_stop=should_stop
        )
    except Cancelled:
        raise RunCancelled from None
    stop_if_cancelled(run.pk)
    update_run(run, heartbeat_at=timezone.now(), **times())
    latency_image = (samples or sample_images(1))[0].permute(1, 2, 0).numpy()
    latency = measure_latency(onnx_path, latency_image)
    logger.info("exported and measured in %.1f s", time.monotonic() - phase_started)
    stop_if_cancelled(run.pk)
    check_claim(run)  # this claim's own names: another claim's files are never replaced
    tag = f"-{run.claim_token[:12]}" if run.claim_token else ""
    prefix = f"projects/{run.project_id}/models/run-{run.pk}{tag}"
    onnx_name = store_file(onnx_path, f"{prefix}/model.onnx")
    checkpoint_name = store_file(Path(result.best_checkpoint), f"{prefix}/checkpoint.pt")
    metrics = {k: v for k, v in report.get("metrics", {}).items() if isinstance(v, int | float)}
    metrics["baseline_map50"] = report["baseline"]["map50"]  # the verdict's, without the report
    metrics["test_images"] = report["num_images"]  # the verdict says when they are few
    metrics["test_boxes"] = report["num_ground_truth"]

    def create() -> ModelVersion:
        return ModelVersion.objects.create(
            project_id=run.project_id,
            run=run,
            version=selectors.next_model_version(project_id=run.project_id),
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
            label_audit=label_audit,
        )

    try:
        return retrying(lambda: _record_model(run, create, finish))
    except (RunCancelled, RunSuperseded):
        for name in (onnx_name, checkpoint_name):
            default_storage.delete(name)  # this claim's own files, recorded nowhere
        raise


def _record_model(run: TrainingRun, create, finish) -> ModelVersion:
    """In one transaction: the run's model version (``create()`` unless it has one) and,
    with ``finish``, the run's final fields; only while the run is still this claim's."""
    with transaction.atomic():
        locked = owned(run).select_for_update().first()
        if locked is None:
            raise RunSuperseded(f"run {run.pk} was claimed again by another worker")
        if locked.cancel_requested:
            raise RunCancelled
        # One model version number at a time per project (two runs may end together).
        Project.objects.select_for_update().filter(pk=run.project_id).first()
        model = ModelVersion.objects.filter(run=run).first() or create()
        if finish is not None:
            owned(run).update(**finish(model))
        return model
