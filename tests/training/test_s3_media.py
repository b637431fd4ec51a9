"""Media on a real S3-compatible server (moto's, over HTTP on loopback).

The whole loop runs on it: upload, import (a worker reads the uploaded zip from the
bucket), train (a real Celery worker process reads the frozen dataset and the images
from the bucket and writes its checkpoints and the model there), download, predict.
Neither the web process nor the worker has a media folder: nothing is written under
either's MEDIA_ROOT. Member-only files stay member-only: the studio's links are its own
permission-checked views, a non-member gets 404, and the bucket answers an unsigned
request for any of the studio's objects with 403.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path, PurePosixPath

import onnx
import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import DatasetImport, Image
from tests.labeling.imagefiles import image_bytes
from tests.training.conftest import TINY_CONFIG, WORKER_ENV, bccd_subset
from training.models import ModelVersion, RunStatus, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def voc_zip(folder: Path) -> bytes:
    root = bccd_subset(folder, {"train": 8, "val": 2, "test": 2})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(root.parent).as_posix())
    return out.getvalue()


def named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def wait_for(read, done, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: {value!r}\n{log()}"
        time.sleep(0.3)


def local_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_upload_import_train_download_predict_on_s3(
    s3_media, make_user, api_client_for, worker_factory, tmp_path, settings
):
    from labeling.models import Membership, Project, Role

    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    web_media = Path(settings.MEDIA_ROOT)
    shutil.rmtree(web_media, ignore_errors=True)
    worker_data = tmp_path / "node"
    worker = worker_factory(
        **WORKER_ENV,
        **s3_media.env(),
        STUDIO_DATA_DIR=str(worker_data),
        MEDIA_ROOT=str(worker_data / "media"),
    )
    log = lambda: worker.log_path.read_text()[-4000:]  # noqa: E731
    owner, outsider = make_user("owner"), make_user("outsider")
    project = Project.objects.create(name="Cells on S3", created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    client, stranger = api_client_for(owner), api_client_for(outsider)

    # Upload one image, then import a VOC zip (the worker reads the zip from the bucket).
    response = client.post(
        reverse("api-images", args=[project.pk]),
        {"files": [named(image_bytes("PNG", (64, 48)), "extra.png")]},
        format="multipart",
    )
    assert response.status_code in (200, 201), response.content
    response = client.post(
        reverse("api-imports", args=[project.pk]),
        {"file": named(voc_zip(tmp_path / "voc"), "bccd.zip"), "format": "auto"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    record = wait_for(
        lambda: DatasetImport.objects.get(pk=response.json()["id"]),
        lambda r: r.status not in ("queued", "running"),
        120,
        "import",
        log,
    )
    assert record.status == "succeeded", (record.error, log())
    assert record.images_added == 12
    image = Image.objects.filter(project=project, original_name__endswith=".jpg").first()
    keys = s3_media.keys(f"projects/{project.pk}/")
    assert image.file.name in keys and image.thumbnail.name in keys
    assert not any("/imports/" in k for k in s3_media.keys()), "the import's upload was kept"

    # The image and its thumbnail, through the studio's view, to members only.
    file_url = reverse("api-image-file", args=[project.pk, image.pk])
    response = client.get(file_url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    stored = s3_media.client().get_object(Bucket="studio-media", Key=image.file.name)
    assert body == stored["Body"].read()
    assert stranger.get(file_url).status_code == 404
    thumb_url = reverse("api-image-thumbnail", args=[project.pk, image.pk])
    assert stranger.get(thumb_url).status_code == 404

    # An export streams the images from the bucket into the zip.
    export = client.get(reverse("api-project-export", args=[project.pk, "coco"]))
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content))) as archive:
        sizes = {PurePosixPath(n).name: archive.getinfo(n).file_size for n in archive.namelist()}
    assert sizes[PurePosixPath(image.original_name).name] == image.file.size

    # Train in the worker: the frozen dataset, the images, checkpoints and model on S3.
    response = client.post(f"/api/v1/projects/{project.pk}/runs", TINY_CONFIG, format="json")
    assert response.status_code == 201, response.content
    run = wait_for(
        lambda: TrainingRun.objects.get(pk=response.json()["id"]),
        lambda r: r.is_finished,
        240,
        "run",
        log,
    )
    assert run.status == RunStatus.SUCCEEDED, (run.error, log())
    model = ModelVersion.objects.get(run=run)
    keys = s3_media.keys()
    for name in (model.onnx_file, model.checkpoint_file, run.dataset_version.coco_file.name):
        assert name in keys
    assert run.checkpoint_file in keys  # the last epoch's, which a resume starts from

    # The pages' links are the studio's own views: no bucket URL, signed or not.
    browser = Client()
    browser.force_login(owner)
    listing = client.get(reverse("api-images", args=[project.pk])).json()
    links = [i[k] for i in listing["results"] for k in ("file_url", "thumbnail_url")]
    assert links and all(
        link.startswith(f"/api/v1/projects/{project.pk}/images/") for link in links
    )
    pages = [
        reverse("project-images", args=[project.pk]),
        reverse("run-detail", args=[project.pk, run.pk]),
        reverse("model-detail", args=[project.pk, model.pk]),
    ]
    for page in pages:
        html = browser.get(page).content.decode()
        assert s3_media.endpoint not in html and "studio-media" not in html, page
        assert "X-Amz-" not in html and "AWSAccessKeyId" not in html, page

    # Download: the ONNX model (with the studio's metadata) and the checkpoint.
    download = reverse("api-model-download", args=[model.pk])
    response = client.get(download, {"artifact": "onnx"})
    assert response.status_code == 200
    proto = onnx.load_model_from_string(b"".join(response.streaming_content))
    assert "WBC" in {p.key: p.value for p in proto.metadata_props}["class_names"]
    response = client.get(download, {"artifact": "checkpoint"})
    assert response.status_code == 200
    checkpoint = s3_media.client().get_object(Bucket="studio-media", Key=model.checkpoint_file)
    assert b"".join(response.streaming_content) == checkpoint["Body"].read()
    assert stranger.get(download, {"artifact": "checkpoint"}).status_code == 404

    # Predict with the model loaded from the bucket.
    jpeg = s3_media.client().get_object(Bucket="studio-media", Key=image.file.name)
    response = client.post(
        f"/api/v1/models/{model.pk}/predict",
        {"images": named(jpeg["Body"].read(), "cells.jpg"), "threshold": 0.01},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    assert response.json()["model"]["version"] == model.version
    denied = stranger.post(
        f"/api/v1/models/{model.pk}/predict",
        {"images": named(image_bytes("PNG"), "a.png")},
        format="multipart",
    )
    assert denied.status_code == 404

    # Nothing went to a local media folder; the bucket serves no object without a signature.
    assert local_files(web_media) == []
    assert local_files(worker_data / "media") == []
    multipart = []
    for key in s3_media.keys():
        etag = s3_media.client().head_object(Bucket="studio-media", Key=key)["ETag"]
        if "-" in etag:
            # Uploaded in parts (past 8 MB). moto records no ACL on those unless one is
            # sent, and then serves them to anyone; S3 itself keeps an object sent
            # without an ACL private (and buckets with ACLs disabled refuse any other).
            multipart.append(key)
            continue
        assert s3_media.unsigned_get(key) == 403, key
    assert run.checkpoint_file in multipart  # a large file streams up in parts


@pytest.fixture
def s3_model(s3_media, model_version):
    """A model version made with the media on S3 (the fixture's files went there)."""
    assert model_version.onnx_file in s3_media.keys()
    return model_version


@pytest.mark.django_db(transaction=False)
def test_a_large_checkpoint_goes_up_in_parts_and_down_in_chunks(
    s3_model, s3_media, project_team, api_client_for, tmp_path
):
    import hashlib
    import os
    import tracemalloc

    from django.core.management import call_command

    from training.run_files import store_file

    big = tmp_path / "big.pt"
    big.write_bytes(os.urandom(24 * 1024 * 1024))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    name = store_file(big, s3_model.checkpoint_file)
    assert name == s3_model.checkpoint_file
    head = s3_media.client().head_object(Bucket="studio-media", Key=name)
    assert head["ContentLength"] == 24 * 1024 * 1024
    assert head["ETag"].rstrip('"').endswith("-3")  # three 8 MB parts

    client = api_client_for(project_team["users"]["viewer"])
    download = reverse("api-model-download", args=[s3_model.pk])
    tracemalloc.start()
    try:
        # The baseline: a small artifact of the same model (its row, the view, DRF).
        assert client.get(download, {"artifact": "labels"}).status_code == 200
        _, baseline = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        response = client.get(download, {"artifact": "checkpoint"})
        assert response.status_code == 200
        assert int(response["Content-Length"]) == 24 * 1024 * 1024
        received = hashlib.sha256()
        for chunk in response.streaming_content:
            received.update(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call_command(
            "download_model", str(s3_model.project_id), "--version", "latest", "--checkpoint",
            "--out", str(tmp_path / "o"),
        )  # fmt: skip
        _, command_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received.hexdigest() == digest
    assert hashlib.sha256((tmp_path / "o" / "checkpoint.pt").read_bytes()).hexdigest() == digest
    # Never the whole 24 MB in memory: a few chunks at a time (the model's ONNX file,
    # ~8 MB, is read whole by the command for its metadata, as before).
    assert download_peak - baseline < 4 * 1024 * 1024, (download_peak, baseline)
    assert command_peak < 24 * 1024 * 1024, command_peak
    outsider = api_client_for(project_team["users"]["outsider"])
    assert outsider.get(download, {"artifact": "checkpoint"}).status_code == 404
