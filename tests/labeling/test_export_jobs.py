"""A large export as a job: the worker's zip equals the direct export, its progress is
recorded while it is written, a failure says why, and only members see or download it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.urls import reverse

from labeling import export_jobs, ingest
from labeling.dataset_export import ExportOptions, export_zip_stream
from labeling.export_jobs import export_job_enqueue, export_job_run
from labeling.models import Annotation, Category, DatasetExport
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.django_db


def _images(project, count: int = 5, labeled: int = 4) -> None:
    sources = [
        ingest.Source(f"cell-{n}.png", io.BytesIO(image_bytes("PNG", (32, 24), (n, 9, 9))))
        for n in range(count)
    ]
    ids = [r.image_id for r in ingest.images_ingest(project=project, sources=sources)]
    category = Category.objects.create(project=project, name="cell")
    for image_id in ids[:labeled]:
        Annotation.objects.create(image_id=image_id, category=category, x=1, y=2, w=5, h=6, area=30)


def _contents(data: bytes) -> dict[str, object]:
    """Every entry of a zip: JSON documents parsed (without their creation time), bytes
    otherwise."""
    out: dict[str, object] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            body = archive.read(name)
            if name.endswith(".json"):
                document = json.loads(body)
                document.get("info", {}).pop("date_created", None)
                out[name] = document
            else:
                out[name] = body
    return out


def _stored(record: DatasetExport) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(record.file, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("format", ["coco", "voc"])
def test_the_job_writes_the_direct_export_and_records_its_progress(
    project_team, monkeypatch, format, django_capture_on_commit_callbacks
):
    project = project_team["project"]
    _images(project)
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY", 2)
    seen: list[tuple[str, int, int]] = []
    real = export_jobs.export_zip_stream

    def watched(**kwargs):  # the real stream; the job's row is read after each piece
        for piece in real(**kwargs):
            row = DatasetExport.objects.get(pk=record.pk)
            seen.append((row.status, row.images_done, row.images_total))
            yield piece

    monkeypatch.setattr(export_jobs, "export_zip_stream", watched)
    with django_capture_on_commit_callbacks() as queued:
        record = export_job_enqueue(
            project=project, format=format, options=ExportOptions(),
            user=project_team["users"]["owner"],
        )  # fmt: skip
    assert len(queued) == 1  # sent to the workers once the transaction commits
    assert (record.status, record.images_done, record.images_total) == ("queued", 0, 4)
    done = export_job_run(export_id=record.pk)
    assert done.status == "succeeded", done.error
    assert (done.images_done, done.images_total) == (4, 4)
    assert done.finished_at is not None and done.size == len(_stored(done))
    assert ("running", 2, 4) in seen and ("running", 4, 4) in seen
    assert {status for status, _, _ in seen} == {"running"}
    direct = b"".join(export_zip_stream(project=project, format=format, options=ExportOptions()))
    assert _contents(_stored(done)) == _contents(direct)
    assert export_job_run(export_id=record.pk) is None  # a redelivered job does nothing


def test_a_failed_export_says_why(project_team, monkeypatch):
    project = project_team["project"]
    _images(project, count=2, labeled=2)
    record = export_job_enqueue(project=project, format="coco", options=ExportOptions())
    image = Annotation.objects.filter(image__project=project).first().image
    image.file.storage.delete(image.file.name)  # an image's pixels are gone from the storage
    done = export_job_run(export_id=record.pk)
    assert done.status == "failed"
    assert done.error.startswith("The export could not be written: a file is missing from")
    assert image.file.name in done.error
    assert done.file == ""


def test_api_prepare_follow_and_download(project_team, api_client_for):
    project = project_team["project"]
    _images(project, count=3, labeled=2)
    viewer = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-exports", args=[project.pk])
    started = viewer.post(url, {"format": "coco", "images": "all"}, format="json")
    assert started.status_code == 202, started.content
    body = started.json()
    assert (body["status"], body["images_total"], body["download"]) == ("queued", 3, None)
    detail = reverse("api-export", args=[project.pk, body["id"]])
    file_url = reverse("api-export-file", args=[project.pk, body["id"]])
    assert viewer.get(file_url).status_code == 404  # nothing to download before it is ready
    export_job_run(export_id=body["id"])
    state = viewer.get(detail).json()
    assert (state["status"], state["images_done"], state["download"]) == ("succeeded", 3, file_url)
    response = viewer.get(file_url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="cells-coco.zip"')
    data = b"".join(response.streaming_content)
    assert len(data) == state["size"]
    direct = b"".join(
        export_zip_stream(
            project=project, format="coco", options=ExportOptions(include_unlabeled=True)
        )
    )
    assert _contents(data) == _contents(direct)
    bad = viewer.post(url, {"format": "voc", "layout": "single"}, format="json")
    assert bad.status_code == 400


def test_non_members_get_404(project_team, api_client_for):
    project = project_team["project"]
    record = export_job_enqueue(project=project, format="coco", options=ExportOptions())
    export_job_run(export_id=record.pk)
    outsider = api_client_for(project_team["users"]["outsider"])
    assert outsider.post(
        reverse("api-exports", args=[project.pk]), {"format": "coco"}, format="json"
    ).status_code == 404  # fmt: skip
    for name in ("api-export", "api-export-file"):
        assert outsider.get(reverse(name, args=[project.pk, record.pk])).status_code == 404
    # through another project's URL, an export is not found either
    owner = api_client_for(project_team["users"]["owner"])
    other = project_team["other"].pk
    assert owner.get(reverse("api-export", args=[other, record.pk])).status_code == 404
    assert not DatasetExport.objects.filter(project=project).exclude(pk=record.pk).exists()


def test_project_page_offers_to_prepare_an_export(project_team, client):
    client.force_login(project_team["users"]["viewer"])
    page = client.get(reverse("project-detail", args=[project_team["project"].pk]))
    html = page.content.decode()
    assert 'id="export-prepare"' in html and "Prepare export" in html
    assert '<a id="export-download" download hidden>' in html  # no link until it is ready


@pytest.mark.slow
def test_a_prepared_export_runs_in_a_real_worker(
    project_team, api_client_for, celery_worker_process, django_capture_on_commit_callbacks
):
    import time

    project = project_team["project"]
    _images(project, count=2, labeled=2)
    client = api_client_for(project_team["users"]["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api-exports", args=[project.pk]), {"format": "coco"}, format="json"
        )
    record = DatasetExport.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 60
    while record.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        record.refresh_from_db()
    assert record.status == "succeeded", celery_worker_process.log_path.read_text()[-6000:]
    data = b"".join(
        client.get(reverse("api-export-file", args=[project.pk, record.pk])).streaming_content
    )
    direct = b"".join(export_zip_stream(project=project, format="coco", options=ExportOptions()))
    assert _contents(data) == _contents(direct)
