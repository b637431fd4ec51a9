"""Starting runs: the data check, frozen dataset versions (in the worker), double clicks,
cancel, roles."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from labeling.models import Annotation, Image
from training import pipeline
from training.models import DatasetVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, project, **body):
    return client.post(f"/api/v1/projects/{project.pk}/runs", body, format="json")


def test_start_queues_a_run_at_once_and_the_worker_freezes_its_data(
    make_bccd_project, api_client_for
):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    response = start(client, project, preset="fast", time_budget_minutes=5, epochs=3)
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == RunStatus.QUEUED
    assert run.config["preset"] == "fast"
    assert run.config["epochs"] == 3
    # Nothing frozen in the request: the run's worker does it, as its first phase.
    assert response.json()["dataset"] is None
    assert run.dataset_version is None
    assert not DatasetVersion.objects.filter(project=project).exists()
    version = freeze(run)
    assert version.image_count == 14
    assert version.split_counts == {"train": 8, "val": 3, "test": 3}
    coco = json.loads(default_storage.open(version.coco_file.name).read())
    assert [c["name"] for c in coco["categories"]] == version.class_names
    assert (
        len(coco["annotations"])
        == version.box_count
        == Annotation.objects.filter(image__project=project).count()
    )
    detail = client.get(f"/api/v1/projects/{project.pk}/runs/{run.pk}").json()
    assert detail["dataset"]["id"] == version.pk

    # Unchanged data: the next run shares the version. A change makes a new one.
    second = TrainingRun.objects.get(pk=start(client, project, preset="fast").json()["id"])
    assert freeze(second).pk == version.pk
    box = Annotation.objects.filter(image__project=project).first()
    box.x += 1
    box.save()
    third = TrainingRun.objects.get(pk=start(client, project, preset="fast").json()["id"])
    assert freeze(third).pk != version.pk
    assert DatasetVersion.objects.filter(project=project).count() == 2
    # The first version still holds the old coordinates: later edits don't change it.
    old = json.loads(default_storage.open(version.coco_file.name).read())
    assert any(a["id"] == box.pk and a["bbox"][0] == box.x - 1 for a in old["annotations"])


def freeze(run: TrainingRun) -> DatasetVersion:
    """What the run's worker does first: claim it and freeze its data."""
    claimed = pipeline.claim(run.pk)
    pipeline._freeze(claimed)
    return TrainingRun.objects.get(pk=run.pk).dataset_version


def test_double_click_makes_one_run(make_bccd_project, api_client_for):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    first = start(client, project, request_key="click-1")
    again = start(client, project, request_key="click-1")
    assert first.json()["id"] == again.json()["id"]
    assert TrainingRun.objects.filter(project=project).count() == 1


def test_data_check_says_what_is_missing(make_bccd_project, api_client_for, settings):
    project = make_bccd_project()
    settings.STUDIO_MIN_BOXES_PER_CLASS = 10_000
    Image.objects.filter(project=project, split="val").update(split="train")
    response = start(api_client_for(project.created_by), project)
    assert response.status_code == 400
    problems = response.json()["errors"]["dataset"]
    assert any("'WBC'" in p and "at least 10000" in p for p in problems)
    assert any("val split has 0 labeled images" in p for p in problems)
    assert TrainingRun.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preset": "huge"}, "preset"),
        ({"image_size": 100}, "config"),
        ({"epochs": 0}, "epochs"),
        ({"time_budget_minutes": 100000}, "time_budget_minutes"),
    ],
)
def test_bad_settings_are_refused(make_bccd_project, api_client_for, body, field):
    project = make_bccd_project()
    response = start(api_client_for(project.created_by), project, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert TrainingRun.objects.count() == 0


def test_cancel_a_queued_run(make_bccd_project, api_client_for):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    run_id = start(client, project).json()["id"]
    url = f"/api/v1/projects/{project.pk}/runs/{run_id}/cancel"
    assert client.post(url).json()["status"] == "cancelled"
    second = client.post(url)
    assert second.status_code == 400
    assert "already cancelled" in second.json()["detail"]


def test_viewer_cannot_train_and_outsider_sees_nothing(
    make_bccd_project, api_client_for, make_user
):
    from labeling.models import Membership

    project = make_bccd_project()
    viewer = make_user("viewer")
    Membership.objects.create(project=project, user=viewer, role="viewer")
    assert start(api_client_for(viewer), project).status_code == 403
    run_id = start(api_client_for(project.created_by), project).json()["id"]
    outsider = api_client_for(make_user("outsider"))
    assert outsider.get(f"/api/v1/projects/{project.pk}/runs/{run_id}").status_code == 404
    assert outsider.post(f"/api/v1/projects/{project.pk}/runs/{run_id}/cancel").status_code == 404
    assert TrainingRun.objects.get(pk=run_id).status == RunStatus.QUEUED
