"""Claims are fenced: a run is trained by one worker at a time, whatever the database does.

The fault tests with real processes (a private PostgreSQL stopped mid-run, a frozen
worker) are in test_run_outage.py; these exercise the same rules piece by piece.
"""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from training import pipeline
from training.models import DatasetVersion, ModelVersion, Reconciler, RunStatus, TrainingRun
from training.reconcile import runs_reconcile
from training.workers import process_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project_team):
    project = project_team["project"]
    version = DatasetVersion.objects.create(
        project=project, content_hash="5" * 64, coco_file="x.json", image_count=0, box_count=0
    )
    return TrainingRun.objects.create(project=project, dataset_version=version)


def taken_for_lost(run: TrainingRun) -> None:
    """What the reconciler does to a run whose heartbeat went silent."""
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.INTERRUPTED)


def dead_process_key() -> str:
    child = subprocess.Popen(["sleep", "30"])
    key = process_key(child.pid)
    child.kill()
    child.wait()
    return key


def until(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def make_model(run: TrainingRun):
    return lambda: ModelVersion.objects.create(
        project=run.project,
        run=run,
        version=1,
        onnx_file="m.onnx",
        onnx_sha256="0" * 64,
        checkpoint_file="c.pt",
    )


def succeeded(model: ModelVersion) -> dict:
    return {"status": RunStatus.SUCCEEDED, "result": {"model_version": model.version}}


def test_a_claim_stores_a_new_token_and_refuses_the_older_claims_writes(run):
    first = pipeline.claim(run.pk)
    assert len(first.claim_token) == 32
    pipeline.update_run(first, epoch=1)
    taken_for_lost(run)
    second = pipeline.claim(run.pk)
    assert second.claim_token != first.claim_token
    assert second.attempts == 2
    with pytest.raises(pipeline.RunSuperseded):
        pipeline.update_run(first, epoch=7, finished_at=timezone.now())
    with pytest.raises(pipeline.RunSuperseded):
        pipeline.check_claim(first)
    pipeline.check_claim(second)
    pipeline.update_run(second, epoch=2)
    run.refresh_from_db()
    assert (run.epoch, run.finished_at, run.claim_token) == (2, None, second.claim_token)


@pytest.mark.parametrize("end", ["cancelled", "failed"])
def test_a_claim_that_ends_the_run_also_fences_the_earlier_claim(run, settings, end):
    settings.STUDIO_RUN_MAX_ATTEMPTS = 1
    first = pipeline.claim(run.pk)
    taken_for_lost(run)
    if end == "cancelled":
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert pipeline.claim(run.pk) is None  # cancelled, or given up after its one attempt
    with pytest.raises(pipeline.RunSuperseded):
        pipeline.update_run(first, status=RunStatus.SUCCEEDED)
    run.refresh_from_db()
    assert run.status == end


def test_a_superseded_worker_records_no_model_version_and_no_final_state(run):
    first = pipeline.claim(run.pk)
    taken_for_lost(run)
    second = pipeline.claim(run.pk)
    with pytest.raises(pipeline.RunSuperseded):
        pipeline._record_model(first, make_model(first), succeeded)
    assert not ModelVersion.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    model = pipeline._record_model(second, make_model(second), succeeded)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED  # in the transaction that made the model
    assert run.result == {"model_version": model.version}
    # A retry after a lost commit acknowledgement finds the model instead of failing.
    assert pipeline._record_model(second, make_model(second), succeeded) == model


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_of_a_superseded_claim_stops_and_says_so(run):
    first = pipeline.claim(run.pk)
    heartbeat = pipeline.Heartbeat(first, interval=0.05)
    heartbeat.start()
    try:
        taken_for_lost(run)
        assert until(lambda: TrainingRun.objects.get(pk=run.pk).status == RunStatus.RUNNING)
        assert not heartbeat.superseded  # alive after all: no longer taken for lost
        with transaction.atomic():  # taken for lost and claimed again before it beats
            taken_for_lost(run)
            second = pipeline.claim(run.pk)
        assert until(lambda: heartbeat.superseded)
        heartbeat.join(timeout=5)
        assert not heartbeat.is_alive()  # it stopped beating
        beat = TrainingRun.objects.get(pk=run.pk).heartbeat_at
        time.sleep(0.3)
        assert TrainingRun.objects.get(pk=run.pk).heartbeat_at == beat  # it wrote no more
        assert TrainingRun.objects.get(pk=run.pk).claim_token == second.claim_token
    finally:
        heartbeat.stop()


def test_the_heartbeat_timeout_counts_from_when_the_database_came_back(run, settings):
    settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS = 60
    settings.STUDIO_RECONCILE_SECONDS = 10
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat_at=hour_ago)
    # The last tick that reached the database was 5 minutes ago: it was away since.
    Reconciler.objects.create(ticked_at=now - timedelta(minutes=5), watching_since=hour_ago)
    assert runs_reconcile()["interrupted"] == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    state = Reconciler.objects.get()
    assert state.watching_since > now
    # A full timeout later, still without a heartbeat: now the run is lost.
    Reconciler.objects.update(watching_since=state.watching_since - timedelta(seconds=61))
    assert runs_reconcile()["interrupted"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.INTERRUPTED


def test_a_run_whose_worker_is_known_dead_is_resumed_at_once(run):
    claimed = pipeline.claim(run.pk)
    assert claimed.worker_key == process_key()
    assert pipeline.claim(run.pk) is None  # its worker (this process) is alive
    assert runs_reconcile()["interrupted"] == 0
    TrainingRun.objects.filter(pk=run.pk).update(worker_key=dead_process_key())
    again = pipeline.claim(run.pk)  # the immediate redelivery: heartbeat still fresh
    assert again is not None
    assert again.attempts == 2
    assert again.claim_token != claimed.claim_token


def test_the_reconciler_interrupts_a_run_whose_worker_is_known_dead(run):
    pipeline.claim(run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(worker_key=dead_process_key())
    assert runs_reconcile() == {"interrupted": 1, "enqueued": 1}
    run.refresh_from_db()
    assert run.status == RunStatus.INTERRUPTED
