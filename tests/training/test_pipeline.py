"""Pieces of the run pipeline that a full run does not exercise on its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from training import claims, pipeline
from training.models import DatasetVersion, Reconciler, RunStatus, TrainingRun
from training.reconcile import runs_reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project_team):
    project = project_team["project"]
    version = DatasetVersion.objects.create(
        project=project, content_hash="1" * 64, coco_file="x.json", image_count=0, box_count=0
    )
    return TrainingRun.objects.create(project=project, dataset_version=version)


def test_claim_gives_up_after_the_last_attempt(run, settings):
    settings.STUDIO_RUN_MAX_ATTEMPTS = 3
    TrainingRun.objects.filter(pk=run.pk).update(attempts=3, status=RunStatus.INTERRUPTED)
    assert pipeline.claim(run.pk) is None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Gave up after 3 attempts")


def test_claim_leaves_a_run_with_a_live_heartbeat_alone(run):
    claimed = pipeline.claim(run.pk)
    assert claimed.status == RunStatus.RUNNING
    assert claimed.attempts == 1
    assert pipeline.claim(run.pk) is None  # a duplicate message while it runs
    run.refresh_from_db()
    assert run.attempts == 1


def test_claim_of_a_cancelled_or_finished_run_does_nothing(run):
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert pipeline.claim(run.pk) is None
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert pipeline.claim(run.pk) is None


def test_reconciler_interrupts_silent_runs_and_requeues_forgotten_ones(run, settings):
    settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS = 60
    settings.STUDIO_REQUEUE_AFTER_SECONDS = 600
    old = timezone.now() - timedelta(hours=1)
    Reconciler.objects.create(ticked_at=timezone.now(), watching_since=old)  # no gap since
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat_at=old)
    fresh = TrainingRun.objects.create(
        project=run.project,
        dataset_version=run.dataset_version,
        status=RunStatus.QUEUED,
        enqueued_at=timezone.now(),
    )
    assert runs_reconcile() == {"interrupted": 1, "enqueued": 1}
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.status == RunStatus.INTERRUPTED
    assert fresh.status == RunStatus.QUEUED  # recently enqueued: left alone
    assert runs_reconcile() == {"interrupted": 0, "enqueued": 0}


def test_progress_writes_retry_while_the_database_is_unavailable(monkeypatch):
    monkeypatch.setattr(claims.time, "sleep", lambda s: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"

    assert pipeline.retrying(flaky) == "written"
    assert len(calls) == 3
    with pytest.raises(OperationalError):
        pipeline.retrying(lambda: (_ for _ in ()).throw(OperationalError("down")), attempts=2)


def test_errors_are_shown_in_words():
    from training.ml.errors import DatasetError

    assert pipeline.friendly_error(RuntimeError("CUDA out of memory. Tried to allocate")) == (
        "Out of memory on the GPU: lower the image size or the batch size."
    )
    assert pipeline.friendly_error(DatasetError("image not found: x.jpg")) == (
        "image not found: x.jpg"
    )
    assert "Traceback" not in pipeline.friendly_error(KeyError("boxes"))


def test_the_worker_bounds_the_decoded_image_memory(settings):
    from training.services import run_config

    config = run_config(preset="fast", time_budget_minutes=5)
    assert config["cache_max_megabytes"] == 2048  # what the run was started with
    settings.STUDIO_TRAIN_CACHE_MB = 64
    engine = pipeline.engine_config(config)
    assert engine.cache_max_megabytes == 64
    assert (engine.preset, engine.time_budget_minutes) == ("fast", 5)
