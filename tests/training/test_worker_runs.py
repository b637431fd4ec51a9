"""Training runs through real Celery worker processes (not eager mode), with faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import onnx
import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from labeling.models import Notification
from tests.conftest import REPO_ROOT, start_worker, stop_worker, test_database_url
from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from training.models import ModelVersion, RunStatus, TrainingRun
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_run(run_id: int, predicate, timeout: float, interval: float = 0.2) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while True:
        run = TrainingRun.objects.get(pk=run_id)
        if predicate(run) or time.monotonic() > deadline:
            return run
        time.sleep(interval)


def log_of(*workers) -> str:
    return "\n".join(w.log_path.read_text()[-3000:] for w in workers)


def test_tiny_run_succeeds_with_a_model(make_bccd_project, api_client_for, worker_factory):
    project = make_bccd_project()
    worker = worker_factory(**WORKER_ENV)
    client = api_client_for(project.created_by)
    response = client.post(f"/api/v1/projects/{project.pk}/runs", TINY_CONFIG, format="json")
    assert response.status_code == 201
    run_id = response.json()["id"]
    seen = set()

    def watch(run):
        seen.add(run.status)
        return run.is_finished

    run = wait_run(run_id, watch, timeout=300, interval=0.1)
    assert run.status == RunStatus.SUCCEEDED, (run.error, log_of(worker))
    assert {"queued", "running"} <= seen | {"queued"}
    assert "running" in seen
    assert run.epoch == 2
    assert [h["epoch"] for h in run.history] == [1, 2]
    assert run.device.startswith("CPU")
    assert run.loss_points
    model = ModelVersion.objects.get(run=run)
    assert model.version == 1
    assert "map50" in model.metrics
    test_split = model.run.dataset_version.split_counts["test"]
    assert model.metrics["test_images"] == test_split > 0  # the verdict's "few test images"
    assert model.metrics["test_boxes"] == model.evaluation["num_ground_truth"] > 0
    with default_storage.open(model.onnx_file, "rb") as handle:
        proto = onnx.load_model_from_string(handle.read())
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert "WBC" in meta["class_names"]
    detail = client.get(f"/api/v1/projects/{project.pk}/runs/{run_id}").json()
    assert detail["status"] == "succeeded"
    assert detail["model_version"] == 1
    notice = Notification.objects.get(key=f"run:{run_id}", user=project.created_by)
    assert notice.text == f"Run #{run_id} of {project.name} succeeded: model v1 is ready to review."
    assert detail["result"]["test_metrics"]["map50"] == model.metrics["map50"]
    log = client.get(f"/api/v1/projects/{project.pk}/runs/{run_id}/log.txt")
    assert log["Content-Disposition"].startswith("attachment")
    # The worker's parent process never imported torch (only its child, for the task).
    parent_maps = open(f"/proc/{worker.pid}/maps").read()
    assert "libtorch" not in parent_maps
    children = open(f"/proc/{worker.pid}/task/{worker.pid}/children").read().split()
    assert any("libtorch" in open(f"/proc/{c}/maps").read() for c in children)


def test_killed_worker_resumes_from_checkpoint(make_bccd_project, worker_factory):
    project = make_bccd_project({"train": 16, "val": 3, "test": 3})
    config = {**TINY_CONFIG, "image_size": 256, "epochs": 3}
    first = worker_factory(**WORKER_ENV)
    run = run_start(project=project, config=config, user=None)
    run = wait_run(run.pk, lambda r: r.checkpoint_epoch == 1 or r.is_finished, 300, 0.05)
    assert run.checkpoint_epoch == 1, (run.status, run.error, log_of(first))
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker, during epoch 2
    first.wait()
    killed_at = TrainingRun.objects.get(pk=run.pk)
    assert killed_at.status == RunStatus.RUNNING
    assert killed_at.epoch == 1

    second = worker_factory(beat=True, **WORKER_ENV)
    run = wait_run(run.pk, lambda r: r.is_finished, timeout=300)
    assert run.status == RunStatus.SUCCEEDED, (run.error, log_of(first, second))
    assert run.resumed_from_epoch == 1  # not from epoch 0
    assert run.attempts == 2
    assert [h["epoch"] for h in run.history] == [1, 2, 3]
    assert ModelVersion.objects.filter(run=run).count() == 1


def test_cancel_during_a_run(make_bccd_project, api_client_for, worker_factory):
    project = make_bccd_project({"train": 16, "val": 3, "test": 3})
    worker = worker_factory(**WORKER_ENV)
    config = {**TINY_CONFIG, "image_size": 256, "epochs": 50}
    run = run_start(project=project, config=config, user=None)
    run = wait_run(run.pk, lambda r: r.loss_points or r.is_finished, 300)
    assert run.status == RunStatus.RUNNING, (run.error, log_of(worker))
    client = api_client_for(project.created_by)
    cancelled_at = time.monotonic()
    response = client.post(f"/api/v1/projects/{project.pk}/runs/{run.pk}/cancel")
    assert response.status_code == 200
    run = wait_run(run.pk, lambda r: r.is_finished, 60)
    assert run.status == RunStatus.CANCELLED
    assert time.monotonic() - cancelled_at < 30
    assert run.epoch < 50
    assert not ModelVersion.objects.filter(run=run).exists()


def test_worker_data_check_failure_ends_the_run_failed(make_bccd_project, worker_factory):
    project = make_bccd_project()
    run = run_start(project=project, config=TINY_CONFIG, user=None)  # web: 1 box suffices
    worker = worker_factory(**{**WORKER_ENV, "STUDIO_MIN_BOXES_PER_CLASS": "100000"})
    run = wait_run(run.pk, lambda r: r.is_finished, 120)
    assert run.status == RunStatus.FAILED, log_of(worker)
    assert run.error.startswith("The data check failed:")
    assert "at least 100000" in run.error
    # The worker tells the project's members (on every page: labeling/notifications.py),
    # just after it records the run's end.
    deadline = time.monotonic() + 30
    while not (notices := Notification.objects.filter(key=f"run:{run.pk}")).exists():
        assert time.monotonic() < deadline, log_of(worker)
        time.sleep(0.2)
    notice = notices.get(user=project.created_by)
    assert notice.level == "error"
    assert notice.text.startswith(f"Run #{run.pk} of {project.name} failed: The data check")


# The Redis restart with a queued run: test_worker_redis_restart.py (a private server).


def test_embedded_broker_and_train_command(make_bccd_project, tmp_path):
    """No Redis: the filesystem broker of `make run`, driven by `manage.py train --wait`."""
    project = make_bccd_project()
    env = {
        "CELERY_BROKER_URL": "filesystem://localhost/",
        "STUDIO_DATA_DIR": str(tmp_path / "data"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **WORKER_ENV,
    }
    worker = start_worker(tmp_path / "fs-worker.log", **env)
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "train", str(project.pk), "--preset", "fast",
             "--epochs", "2", "--image-size", "128", "--time-budget", "10", "--wait",
             "--poll", "0.5"],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "DATABASE_URL": test_database_url()},
            capture_output=True, text=True, timeout=400,
        )  # fmt: skip
    finally:
        stop_worker(worker)
    assert result.returncode == 0, result.stdout + result.stderr + log_of(worker)
    assert result.stdout.startswith("run ")
    assert '"model_version": 1' in result.stdout
    run = TrainingRun.objects.get(project=project)
    assert run.status == RunStatus.SUCCEEDED
