"""Freezing a dataset version: in the worker (a run's first phase), in one streamed query."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Annotation, ImageStatus
from tests.labeling.annotation_helpers import make_categories, make_image
from training import pipeline
from training.datasets import canonical_bytes, dataset_version_freeze, project_coco
from training.models import FREEZING, DatasetVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


def fill(project, images: int) -> None:
    """Images of every kind: boxed (some rejected, one marked no objects as well),
    marked "no objects", unlabeled; in three splits, with two classes."""
    a, b = make_categories(project, "a", "b")
    for i in range(images):
        image = make_image(project)
        image.split = ["train", "val", "test"][i % 3]
        image.no_objects = i % 5 == 1
        image.status = ImageStatus.REJECTED if i % 7 == 6 else ImageStatus.LABELED
        image.save()
        for k in range(i % 4 if i % 5 != 4 else 0):  # i % 5 == 4: unlabeled, no boxes
            w, h = 10.5 + k, 7.25 * (k + 1)
            Annotation.objects.create(
                image=image, category=[a, b][k % 2], x=k * 3.1, y=1.0 / 3, w=w, h=h, area=w * h
            )


@pytest.mark.parametrize("images", [3, 30])
def test_freeze_writes_the_canonical_document_in_a_fixed_number_of_queries(project_team, images):
    project = project_team["project"]
    fill(project, images)
    expected = canonical_bytes(project_coco(project=project))
    with CaptureQueriesContext(connection) as queries:
        version = dataset_version_freeze(project=project, user=None)
    # Categories, the one streamed query of images and boxes, the version lookup and
    # its insert (+ savepoints): the same count at 3 and at 30 images.
    assert len([q for q in queries if "SAVEPOINT" not in q["sql"]]) == 4
    payload = default_storage.open(version.coco_file.name).read()
    assert payload == expected  # byte for byte the in-memory document
    assert version.content_hash == hashlib.sha256(payload).hexdigest()
    coco = json.loads(payload)
    assert version.image_count == len(coco["images"]) > 0
    assert version.box_count == len(coco["annotations"])
    assert sum(version.split_counts.values()) == version.image_count
    assert version.class_names == ["a", "b"]
    # Unchanged data: the same version again.
    assert dataset_version_freeze(project=project, user=None).pk == version.pk


def test_an_empty_project_freezes_to_an_empty_document(project_team):
    project = project_team["project"]
    version = dataset_version_freeze(project=project, user=None)
    payload = default_storage.open(version.coco_file.name).read()
    assert payload == canonical_bytes(project_coco(project=project))
    assert (version.image_count, version.box_count) == (0, 0)


def test_the_worker_freezes_as_the_runs_first_phase(project_team):
    project = project_team["project"]
    fill(project, 6)
    run = TrainingRun.objects.create(project=project, created_by=project_team["users"]["owner"])
    assert run.dataset_version is None  # the Train request froze nothing
    claimed = pipeline.claim(run.pk)
    assert claimed.phase == FREEZING == "freezing dataset"
    assert TrainingRun.objects.get(pk=run.pk).phase == FREEZING
    pipeline._freeze(claimed)
    stored = TrainingRun.objects.get(pk=run.pk)
    assert stored.dataset_version == DatasetVersion.objects.get(project=project)
    assert stored.phase == "preparing"
    assert stored.dataset_version.image_count == len(project_coco(project=project)["images"])


def test_a_run_not_frozen_yet_reads_so(project_team, api_client_for, client):
    project = project_team["project"]
    run = TrainingRun.objects.create(project=project, status=RunStatus.QUEUED)
    api = api_client_for(project_team["users"]["owner"])
    body = api.get(f"/api/v1/projects/{project.pk}/runs/{run.pk}").json()
    assert body["dataset"] is None
    assert api.get(f"/api/v1/projects/{project.pk}/runs").json()[0]["dataset"] is None
    client.force_login(project_team["users"]["owner"])
    page = client.get(f"/projects/{project.pk}/runs/{run.pk}/").content.decode()
    assert "not frozen yet" in page
    assert client.get(f"/projects/{project.pk}/train/").status_code == 200
    assert client.get(f"/projects/{project.pk}/").status_code == 200
