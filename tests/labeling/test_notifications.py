"""Notifications: a run or an import that ends tells each member of its project once;
each user reads only their own, of projects they are still in; opening one marks it read."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.dataset_import import dataset_import_run
from labeling.models import Membership, Notification
from tests.labeling.test_datasets_api import _coco_zip
from training import services
from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun
from training.run_notifications import run_ended_notify

pytestmark = pytest.mark.django_db
LIST = reverse("api-notifications")


def _import(client, project, name: str, content: bytes) -> int:
    upload = SimpleUploadedFile(name, content)
    response = client.post(
        reverse("api-imports", args=[project.pk]), {"file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_an_import_that_ends_tells_every_member_once(project_team, api_client_for):
    project, users = project_team["project"], project_team["users"]
    owner = api_client_for(users["owner"])
    assert owner.get(LIST).json()["unread"] == 0
    done = _import(owner, project, "cells.zip", _coco_zip())
    assert owner.get(LIST).json()["unread"] == 0  # queued: nothing has ended
    dataset_import_run(import_id=done)  # what the worker does
    dataset_import_run(import_id=done)  # a redelivered job tells nobody again
    failed = _import(owner, project, "labels.json", b'{"images": "nope"')
    dataset_import_run(import_id=failed)
    for who in ("owner", "annotator", "viewer"):
        body = api_client_for(users[who]).get(LIST).json()
        assert body["unread"] == 2, who
        first, second = body["notifications"]  # newest first
        assert first["level"] == "error" and first["text"].startswith(
            "Import of labels.json into Cells failed: "
        )
        assert "not valid JSON" in first["text"]
        assert second["text"] == (
            "Import of cells.zip into Cells finished: 1 image(s) added, 1 box(es)."
        )
        assert second["url"] == f"/projects/{project.pk}/#imports"
        assert body["poll_seconds"] >= 1
    assert api_client_for(users["outsider"]).get(LIST).json() == {
        "unread": 0,
        "notifications": [],
        "poll_seconds": owner.get(LIST).json()["poll_seconds"],
    }
    assert Notification.objects.count() == 6
    assert api_client_for().get(LIST).status_code == 401


def _run(project, **fields) -> TrainingRun:
    version, _ = DatasetVersion.objects.get_or_create(
        project=project,
        content_hash="9" * 64,
        defaults={"coco_file": "x.json", "image_count": 1, "box_count": 1},
    )
    return TrainingRun.objects.create(project=project, dataset_version=version, **fields)


def test_runs_that_end_succeeded_failed_cancelled(
    project_team, api_client_for, django_capture_on_commit_callbacks
):
    project, users = project_team["project"], project_team["users"]
    running = _run(project, status=RunStatus.RUNNING)
    run_ended_notify(run_id=running.pk)  # not ended: nothing
    assert not Notification.objects.exists()
    failed = _run(project, status=RunStatus.FAILED, error="No space left on device.")
    run_ended_notify(run_id=failed.pk)
    queued = _run(project, status=RunStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(run=queued)  # a queued run is cancelled at once
    succeeded = _run(project, status=RunStatus.SUCCEEDED)
    model = ModelVersion.objects.create(project=project, run=succeeded, version=4)
    run_ended_notify(run_id=succeeded.pk)
    texts = [n["text"] for n in api_client_for(users["viewer"]).get(LIST).json()["notifications"]]
    assert texts == [
        f"Run #{succeeded.pk} of Cells succeeded: model v4 is ready to review.",
        f"Run #{queued.pk} of Cells was cancelled.",
        f"Run #{failed.pk} of Cells failed: No space left on device.",
    ]
    urls = {n.url for n in Notification.objects.filter(key=f"run:{failed.pk}")}
    assert urls == {f"/projects/{project.pk}/runs/{failed.pk}/"}
    urls = {n.url for n in Notification.objects.filter(key=f"run:{succeeded.pk}")}
    assert urls == {f"/projects/{project.pk}/models/{model.pk}/"}


def test_open_marks_read_only_ones_own_and_leaving_hides_them(project_team, api_client_for):
    from django.test import Client

    project, users = project_team["project"], project_team["users"]
    run = _run(project, status=RunStatus.FAILED, error="x")
    run_ended_notify(run_id=run.pk)
    mine = Notification.objects.get(user=users["annotator"])
    theirs = Notification.objects.get(user=users["viewer"])
    browser = Client()
    browser.force_login(users["annotator"])
    response = browser.get(reverse("notification-open", args=[mine.pk]))
    assert response.status_code == 302 and response["Location"] == mine.url
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert browser.get(reverse("notification-open", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    annotator = api_client_for(users["annotator"])
    assert annotator.get(LIST).json()["unread"] == 0
    assert annotator.get(LIST).json()["notifications"][0]["read"] is True
    viewer = api_client_for(users["viewer"])
    assert viewer.post(reverse("api-notifications-read-all")).json() == {"read": 1}
    assert viewer.get(LIST).json()["unread"] == 0
    # A member who leaves the project no longer sees its notifications.
    Membership.objects.filter(user=users["viewer"]).delete()
    assert viewer.get(LIST).json()["notifications"] == []
