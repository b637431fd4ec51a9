"""Import and export through the API: upload a zip, read and download the report, export."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.dataset_import import dataset_import_run
from labeling.models import DatasetImport, Image
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.django_db


def _coco_zip() -> bytes:
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 0]},
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("data/annotations.json", json.dumps(document))
        archive.writestr("data/a.png", image_bytes("PNG", (40, 30)))
    return out.getvalue()


def test_import_zip_report_and_export(
    project_team, api_client_for, django_capture_on_commit_callbacks
):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    url = reverse("api-imports", args=[project.pk])
    upload = SimpleUploadedFile("cells.zip", _coco_zip())
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url, {"file": upload, "format": "auto"}, format="multipart")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert len(queued) == 1  # the job is sent to the workers once the request commits
    dataset_import_run(import_id=response.json()["id"])  # what the worker does
    body = client.get(reverse("api-import", args=[project.pk, response.json()["id"]])).json()
    assert body["status"] == "succeeded"
    assert (body["format"], body["images_added"], body["boxes_added"]) == ("coco", 1, 1)
    assert body["report"]["summary"] == {"box_degenerate": 1}
    report = client.get(reverse("api-import-report", args=[project.pk, body["id"]]))
    assert report["Content-Disposition"].startswith("attachment")
    assert json.loads(report.content)["report"]["problems"][0]["kind"] == "box_degenerate"
    listed = client.get(url).json()
    assert [r["id"] for r in listed] == [body["id"]]

    export = client.get(reverse("api-project-export", args=[project.pk, "coco"]))
    assert export.status_code == 200
    assert export["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content)))
    split = Image.objects.get(project=project).split
    files = sorted(name for name in archive.namelist() if not name.endswith("/"))
    assert files == [f"annotations/instances_{split}.json", f"images/{split}/a.png"]
    unknown = client.get(reverse("api-project-export", args=[project.pk, "pdf"]))
    assert unknown.status_code == 404


def test_failed_import_says_why_and_keeps_nothing(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    upload = SimpleUploadedFile("labels.json", b'{"images": "nope"')
    response = client.post(
        reverse("api-imports", args=[project.pk]), {"file": upload}, format="multipart"
    )
    assert response.status_code == 202
    record = dataset_import_run(import_id=response.json()["id"])
    assert record.status == "failed"
    assert "not valid JSON" in record.error
    assert record.upload == ""  # the uploaded file is removed once the job has run
    assert dataset_import_run(import_id=record.pk) is None  # a redelivered job does nothing
    assert not Image.objects.filter(project=project).exists()


def test_import_of_another_project_is_404(project_team, api_client_for):
    theirs = DatasetImport.objects.create(
        project=project_team["other"], source_name="x.zip", status="succeeded"
    )
    client = api_client_for(project_team["users"]["owner"])
    url = reverse("api-import-report", args=[project_team["project"].pk, theirs.pk])
    assert client.get(url).status_code == 404


def test_project_page_lists_imports_with_their_problems(project_team, client):
    project = project_team["project"]
    DatasetImport.objects.create(
        project=project,
        source_name="cells.zip",
        format="voc",
        status="succeeded",
        images_added=3,
        report={
            "summary": {"box_degenerate": 1},
            "problems": [{"kind": "box_degenerate", "item": "a.jpg", "message": "no area"}],
        },
    )
    client.force_login(project_team["users"]["viewer"])
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "cells.zip" in page
    assert "a.jpg: no area" in page
    assert "Import labels" not in page  # a viewer cannot import
    assert "Labeled images only" in page and "?images=all" in page  # what an export holds


@pytest.mark.slow
def test_queued_import_runs_in_a_real_worker(
    project_team, api_client_for, celery_worker_process, django_capture_on_commit_callbacks
):
    import time

    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    upload = SimpleUploadedFile("cells.zip", _coco_zip())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api-imports", args=[project.pk]), {"file": upload}, format="multipart"
        )
    record = DatasetImport.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 60
    while record.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        record.refresh_from_db()
    assert record.status == "succeeded", celery_worker_process.log_path.read_text()[-6000:]
    assert (record.images_added, record.boxes_added) == (1, 1)


def test_too_large_upload_is_refused(project_team, api_client_for, settings):
    settings.STUDIO_ZIP_MAX_BYTES = 1024
    client = api_client_for(project_team["users"]["owner"])
    upload = SimpleUploadedFile("big.zip", _coco_zip() + b"\0" * 2048)
    response = client.post(
        reverse("api-imports", args=[project_team["project"].pk]),
        {"file": upload},
        format="multipart",
    )
    assert response.status_code == 400
    assert "larger than" in response.json()["detail"]
    assert not DatasetImport.objects.exists()
