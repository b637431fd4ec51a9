"""A cancel is honoured in every phase of a run, through a real Celery train worker.

Before: a cancel sent in the last epoch (or during the evaluation or the export) was
accepted and ignored; the run ended ``succeeded`` with a new model version and kept the
worker busy until its export was done.
"""

from __future__ import annotations

import time

import pytest
from django.core.files.storage import default_storage

from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from tests.training.test_worker_runs import log_of, wait_run
from training.models import ModelVersion, RunStatus, TrainingRun
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def cancel_and_wait(client, run: TrainingRun, worker) -> float:
    """Cancel through the API; returns the seconds the run took to end after it."""
    response = client.post(f"/api/v1/projects/{run.project_id}/runs/{run.pk}/cancel")
    assert response.status_code == 200, (response.json(), log_of(worker))
    sent = time.monotonic()
    ended = wait_run(run.pk, lambda r: r.is_finished, 60, 0.05)
    took = time.monotonic() - sent
    assert ended.status == RunStatus.CANCELLED, (ended.status, ended.error, log_of(worker))
    assert not ModelVersion.objects.filter(run=ended).exists()
    assert not model_files(run)
    return took


def model_files(run: TrainingRun) -> list[str]:
    """The files stored for the run's model (under projects/<p>/models/run-<id>...)."""
    folder = f"projects/{run.project_id}/models"
    if not default_storage.exists(folder):
        return []
    folders = default_storage.listdir(folder)[0]
    return [
        f"{folder}/{name}/{file}"
        for name in folders
        if name == f"run-{run.pk}" or name.startswith(f"run-{run.pk}-")
        for file in default_storage.listdir(f"{folder}/{name}")[1]
    ]


def test_a_late_cancel_ends_the_run_cancelled_without_a_model(
    make_bccd_project, api_client_for, worker_factory
):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    worker = worker_factory(**WORKER_ENV)

    # In the last epoch: the epoch before it is checkpointed, the last one is under way.
    run = run_start(project=project, config=TINY_CONFIG, user=None)
    seen = wait_run(run.pk, lambda r: r.checkpoint_epoch == 1 or r.is_finished, 300, 0.02)
    assert seen.status == RunStatus.RUNNING, (seen.status, seen.error, log_of(worker))
    assert cancel_and_wait(client, seen, worker) < 10

    # During the export (the longest step after training).
    run = run_start(project=project, config=TINY_CONFIG, user=None)
    seen = wait_run(run.pk, lambda r: r.phase == "exporting" or r.is_finished, 300, 0.02)
    assert seen.phase == "exporting", (seen.status, seen.error, log_of(worker))
    assert cancel_and_wait(client, seen, worker) < 15
    assert seen.phase == "exporting"

    # The worker is free again at once: the next run is taken within seconds.
    run = run_start(project=project, config=TINY_CONFIG, user=None)
    started = time.monotonic()
    taken = wait_run(run.pk, lambda r: r.status != RunStatus.QUEUED, 30, 0.05)
    assert taken.status == RunStatus.RUNNING, (taken.status, log_of(worker))
    assert time.monotonic() - started < 10
    assert cancel_and_wait(client, taken, worker) < 15
