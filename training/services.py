"""Writes of training runs: start (check, enqueue; the worker freezes) and cancel."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import Project
from training.checks import BLOCKING
from training.ml.config import TrainConfig
from training.ml.errors import ConfigError
from training.ml.finetune import FINETUNE_WARMUP_STEPS
from training.models import ModelVersion, RunStatus, TrainingRun
from training.readiness import DataNotReady, problems_of, project_counts
from training.run_notifications import run_ended_notify


def run_config(
    *,
    preset: str = "fast",
    time_budget_minutes: float | None = None,
    epochs: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    fine_tune: bool = False,
) -> dict[str, Any]:
    """The engine config of a run, validated by the engine's own rules. ``fine_tune``: it
    starts from a model version (training/start_from.py), with the engine CLI's shorter
    warm-up (FINETUNE_WARMUP_STEPS)."""
    budget = time_budget_minutes or settings.STUDIO_DEFAULT_TIME_BUDGET_MINUTES
    if budget > settings.STUDIO_MAX_TIME_BUDGET_MINUTES:
        raise ValidationError(
            {"time_budget_minutes": f"At most {settings.STUDIO_MAX_TIME_BUDGET_MINUTES} minutes."}
        )
    values: dict[str, Any] = {"preset": preset, "time_budget_minutes": budget}
    if epochs is not None:
        values["epochs"] = epochs
    if image_size is not None:
        values["image_size"] = image_size
    if fine_tune:
        values["warmup_steps"] = FINETUNE_WARMUP_STEPS
    if not augment:
        values["augment"] = {name: False for name in TrainConfig().augment.__dict__}
    try:
        return TrainConfig.from_dict(values).to_dict()
    except ConfigError as exc:
        raise ValidationError({"config": str(exc)}) from None


def run_start(
    *,
    project: Project,
    config: dict[str, Any],
    user: AbstractBaseUser | None,
    request_key: str = "",
    start_model: ModelVersion | None = None,
    started_from: dict[str, Any] | None = None,
) -> TrainingRun:
    """Check the data, create the run and enqueue it once committed: the worker freezes
    the data (the run's first phase, "freezing dataset") and checks it again then.

    The same ``request_key`` (a double click, a retried request) returns the same run.
    A blocking data problem raises DataNotReady, which lists every problem at once.
    ``start_model`` and ``started_from``: the model version it fine-tunes from and its
    snapshot, as training.start_from.start_point checked them (None: ImageNet).
    """
    if request_key:
        existing = TrainingRun.objects.filter(project=project, request_key=request_key).first()
        if existing:
            return existing
    problems = problems_of(project_counts(project=project), project=project)
    if any(p["level"] == BLOCKING for p in problems):
        raise DataNotReady(problems)
    epochs = TrainConfig.from_dict(config).epochs
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project,
                config=config,
                created_by=user,
                request_key=request_key,
                epochs=epochs,
                enqueued_at=timezone.now(),
                start_model=start_model,
                started_from=started_from or {},
            )
            transaction.on_commit(lambda: run_enqueue(run_id=run.pk))
    except IntegrityError:
        return TrainingRun.objects.get(project=project, request_key=request_key)
    return run


def run_enqueue(*, run_id: int) -> None:
    # By name: this module never imports training.tasks (which imports the pipeline).
    current_app.signature("training.tasks.train_run", args=[run_id], queue="train").apply_async()


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Ask the run to stop. A queued run is cancelled at once; a running one within a few
    seconds, in whatever phase it is (the worker checks the flag every batch and between
    phases). A run whose model version was just made is past cancelling: the worker
    creates it under this same row lock only while the flag is unset."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            raise ValidationError({"status": f"The run has already {run.status}."})
        model = ModelVersion.objects.filter(run=run).values_list("version", flat=True).first()
        if model is not None:
            raise ValidationError(
                {"status": f"The run has already produced model version {model}: it is ending."}
            )
        run.cancel_requested = True
        fields = ["cancel_requested"]
        if run.status in (RunStatus.QUEUED, RunStatus.INTERRUPTED):
            run.status = RunStatus.CANCELLED
            run.finished_at = timezone.now()
            fields += ["status", "finished_at"]
            transaction.on_commit(lambda: run_ended_notify(run_id=run.pk))
        run.save(update_fields=fields)
    return run
