"""The pipeline reads the cancel flag between its phases (in-process, real database).

The worker-level behaviour is in test_worker_cancel.py; these pin the phase checks
that a tiny run passes too quickly to hit reliably from outside.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from tests.training.conftest import TINY_CONFIG
from training import pipeline
from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun
from training.services import run_cancel, run_start

pytestmark = pytest.mark.django_db


def test_a_cancel_while_freezing_stops_before_training(make_bccd_project):
    project = make_bccd_project()
    run = run_start(project=project, config=TINY_CONFIG, user=None)  # not enqueued: no commit
    claimed = pipeline.claim(run.pk)
    assert claimed.phase == "freezing dataset"  # the first phase; read after the freeze
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    idle_heartbeat = SimpleNamespace(cancel_requested=False)  # the row is what counts here
    with pytest.raises(pipeline.RunCancelled):
        pipeline._execute(claimed, idle_heartbeat, pipeline.LogTail())
    run.refresh_from_db()
    assert run.phase == "preparing" and run.epoch == 0 and not run.loss_points


@pytest.fixture
def trained_run(tiny_trained, project_team):
    coco_path, images, result = tiny_trained
    coco = json.loads(Path(coco_path).read_text())
    for image in coco["images"]:
        image["split"] = "test"
    version = DatasetVersion.objects.create(
        project=project_team["project"],
        content_hash="3" * 64,
        coco_file="x.json",
        image_count=12,
        box_count=1,
    )
    run = TrainingRun.objects.create(
        project=project_team["project"],
        dataset_version=version,
        status=RunStatus.RUNNING,
        config={"preset": "fast"},
    )
    return run, coco, Path(images), result


def test_a_cancel_after_training_makes_no_model_version(trained_run, tmp_path):
    run, coco, images, result = trained_run
    run_cancel(run=run)
    with pytest.raises(pipeline.RunCancelled):
        pipeline._evaluate_and_export(run, coco, images, tmp_path, result)
    assert not ModelVersion.objects.filter(run=run).exists()


def test_a_run_with_its_model_version_can_no_longer_be_cancelled(trained_run, tmp_path):
    run, coco, images, result = trained_run
    model = pipeline._evaluate_and_export(run, coco, images, tmp_path, result)
    with pytest.raises(ValidationError) as refused:
        run_cancel(run=run)
    assert f"model version {model.version}" in str(refused.value)
    run.refresh_from_db()
    assert not run.cancel_requested
