"""A train worker trains a run on several processes (training/ml/distributed.py): here two
CPU processes over gloo (STUDIO_TRAIN_PROCESSES=2), as a GPU node runs one per GPU."""

from __future__ import annotations

import pytest

from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from tests.training.test_worker_runs import log_of, wait_run
from training.ml import checkpoint as ckpt
from training.models import ModelVersion, RunStatus
from training.run_files import fetch_file

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_trains_a_run_on_two_processes(
    make_bccd_project, api_client_for, worker_factory, tmp_path
):
    project = make_bccd_project()
    worker = worker_factory(**WORKER_ENV, STUDIO_TRAIN_PROCESSES="2")
    client = api_client_for(project.created_by)
    response = client.post(f"/api/v1/projects/{project.pk}/runs", TINY_CONFIG, format="json")
    assert response.status_code == 201, response.json()
    run = wait_run(response.json()["id"], lambda r: r.is_finished, timeout=300)
    assert run.status == RunStatus.SUCCEEDED, (run.error, log_of(worker))
    assert run.device == "CPU, 2 processes"
    first = run.log_tail.splitlines()[0]
    assert "INFO world size 2: 2 process(es) on cpu (gloo), batch 4 per process" in first
    assert "global batch 8" in first
    assert sum(" epoch 2/2: " in line for line in run.log_tail.splitlines()) == 1  # rank 0's
    assert [h["epoch"] for h in run.history] == [1, 2]
    fetch_file(run.checkpoint_file, tmp_path / "last.pt")
    last = ckpt.load(tmp_path / "last.pt")
    assert (last["world_size"], last["global_batch"]) == (2, 8)
    assert ModelVersion.objects.filter(run=run).exists()
