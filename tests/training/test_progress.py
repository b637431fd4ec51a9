"""The engine's progress events recorded on the run's row: throttled, fenced by the claim."""

from __future__ import annotations

import pytest

from training import pipeline, progress
from training.models import DatasetVersion, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(project_team):
    project = project_team["project"]
    version = DatasetVersion.objects.create(
        project=project, content_hash="4" * 64, coco_file="x.json", image_count=0, box_count=0
    )
    run = TrainingRun.objects.create(project=project, dataset_version=version)
    return pipeline.claim(run.pk)


def step(n: int) -> dict:
    return {
        "event": "step", "epoch": 1, "step": n, "steps": 50, "images": 4 * n,
        "images_total": 200, "images_per_second": 3.5, "loss": 2.0 / n, "global_step": n,
        "losses": {"loss": 2.0 / n}, "elapsed_seconds": 10.0 + n, "eta_seconds": 90.0 - n,
    }  # fmt: skip


def test_steps_within_an_epoch_reach_the_row_every_few_seconds(claimed, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    tail = pipeline.LogTail()
    tail.lines.append("epoch 1: step 1 of 50")
    record = progress.Progress(claimed, tail)
    record({"event": "phase", "phase": "decoding images", "elapsed_seconds": 0.5})
    record({"event": "decoding", "images": 200, "images_total": 200, "elapsed_seconds": 3.0})
    row = TrainingRun.objects.get(pk=claimed.pk)
    assert row.phase == "decoding images"
    assert row.progress == {"images": 200, "images_total": 200}

    record({"event": "phase", "phase": "training", "elapsed_seconds": 3.1})
    clock[0] += progress.WRITE_SECONDS
    record(step(1))
    row = TrainingRun.objects.get(pk=claimed.pk)
    assert row.phase == "training"
    assert row.progress == {
        "epoch": 1, "step": 1, "steps": 50, "images": 4, "images_total": 200,
        "images_per_second": 3.5, "loss": 2.0,
    }  # fmt: skip
    assert (row.elapsed_seconds, row.eta_seconds) == (11.0, 89.0)
    assert row.log_tail == "epoch 1: step 1 of 50"

    clock[0] += 0.5  # too soon: kept for the chart, not written
    record(step(2))
    assert TrainingRun.objects.get(pk=claimed.pk).progress["step"] == 1
    clock[0] += progress.WRITE_SECONDS
    tail.lines.append("epoch 1: step 3 of 50")
    record(step(3))
    row = TrainingRun.objects.get(pk=claimed.pk)
    assert row.progress["step"] == 3
    assert [p[0] for p in row.loss_points] == [1, 2, 3]
    assert row.log_tail.endswith("step 3 of 50")


def test_progress_of_a_run_claimed_again_is_refused(claimed):
    record = progress.Progress(claimed, pipeline.LogTail())
    TrainingRun.objects.filter(pk=claimed.pk).update(claim_token="another")
    with pytest.raises(pipeline.RunSuperseded):
        record(step(1))
    assert TrainingRun.objects.get(pk=claimed.pk).progress == {}


def test_the_project_pages_runs_table_comes_alone_for_its_poll(claimed, project_team, client):
    """The project page fetches its runs table again while a run is unfinished: the
    fragment names the unfinished runs (the poll stops when none is) and shows the phase."""
    url = f"/projects/{claimed.project_id}/runs/table/"
    client.force_login(project_team["users"]["outsider"])
    assert client.get(url).status_code == 404  # another team's project
    client.force_login(project_team["users"]["viewer"])
    TrainingRun.objects.filter(pk=claimed.pk).update(
        phase="training", elapsed_seconds=30, eta_seconds=90
    )
    html = client.get(url).content.decode()
    assert f'data-unfinished="{claimed.pk} "' in html and "training" in html
    assert 'value="0.250"' in html and "30 s" in html
    TrainingRun.objects.filter(pk=claimed.pk).update(status="succeeded")
    html = client.get(url).content.decode()
    assert 'data-unfinished=""' in html and "Succeeded" in html
