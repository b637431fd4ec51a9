"""Model versions: threshold, production flag, downloads (API and command)."""

from __future__ import annotations

import io
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

pytestmark = pytest.mark.django_db


def url(model, suffix=""):
    return f"/api/v1/models/{model.pk}{suffix}"


def detections(model_bytes: bytes, image: np.ndarray):
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": image[None]})


def test_list_and_update(model_version, project_team, api_client_for):
    owner = api_client_for(project_team["users"]["owner"])
    listed = owner.get(f"/api/v1/projects/{model_version.project_id}/models").json()
    assert [m["version"] for m in listed] == [1]
    assert listed[0]["class_names"]
    response = owner.patch(
        url(model_version), {"threshold": 0.42, "is_production": True, "confirm": True}
    )  # a one-epoch model: not usable yet, so confirmed
    assert response.status_code == 200
    model_version.refresh_from_db()
    assert model_version.threshold == 0.42
    assert model_version.is_production
    bad = owner.patch(url(model_version), {"threshold": 1.5}, format="json")
    assert bad.status_code == 400
    model_version.refresh_from_db()
    assert model_version.threshold == 0.42
    viewer = api_client_for(project_team["users"]["viewer"])
    assert viewer.patch(url(model_version), {"threshold": 0.1}).status_code == 403
    outsider = api_client_for(project_team["users"]["outsider"])
    assert outsider.get(url(model_version)).status_code == 404
    assert outsider.get(url(model_version, "/download")).status_code == 404


def test_onnx_download_carries_the_saved_threshold_and_runs(
    model_version, project_team, api_client_for
):
    client = api_client_for(project_team["users"]["viewer"])
    owner = api_client_for(project_team["users"]["owner"])
    owner.patch(url(model_version), {"threshold": 0.37})
    response = client.get(url(model_version, "/download?artifact=onnx"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    data = b"".join(response.streaming_content)
    proto = onnx.load_model_from_string(data)
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["score_threshold"] == "0.37"
    assert meta["model_version"] == "1"
    assert meta["dataset_version"] == "2" * 64
    assert json.loads(meta["class_names"]) == model_version.export["metadata"]["class_names"]
    assert "map50" in json.loads(meta["metrics"])
    # Same detections as the stored, parity-checked model: only metadata changed.
    image = np.asarray(PILImage.new("RGB", (96, 80), (40, 160, 90))).transpose(2, 0, 1).copy()
    with default_storage.open(model_version.onnx_file, "rb") as handle:
        stored = handle.read()
    for got, want in zip(detections(data, image), detections(stored, image), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("artifact", "filename", "check"),
    [
        ("sidecar", "model.json", lambda body: json.loads(body)["threshold"] is not None),
        ("labels", "classes.txt", lambda body: body.decode().endswith("\n")),
        ("card", "MODEL_CARD.md", lambda body: b"## Intended use and limits" in body),
        ("checkpoint", "checkpoint.pt", lambda body: len(body) > 1000),
    ],
)
def test_other_artifacts(model_version, project_team, api_client_for, artifact, filename, check):
    client = api_client_for(project_team["users"]["viewer"])
    response = client.get(url(model_version, f"/download?artifact={artifact}"))
    assert response.status_code == 200
    assert filename in response["Content-Disposition"]
    assert check(b"".join(response.streaming_content))


def test_unknown_artifact_is_a_clear_400(model_version, project_team, api_client_for):
    client = api_client_for(project_team["users"]["owner"])
    response = client.get(url(model_version, "/download?artifact=../../etc/passwd"))
    assert response.status_code == 400
    assert "Unknown artifact" in response.json()["detail"]


def test_download_model_command(model_version, tmp_path):
    project = model_version.project
    with pytest.raises(CommandError, match="no production model"):
        call_command("download_model", str(project.pk), "--out", str(tmp_path / "a"))
    out = io.StringIO()
    call_command(
        "download_model", project.name, "--version", "latest", "--out", str(tmp_path / "b"),
        stdout=out,
    )  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert files == ["MODEL_CARD.md", "classes.txt", "model.json", "model.onnx"]
    onnx.checker.check_model(onnx.load(str(tmp_path / "b" / "model.onnx")))
    sidecar = json.loads((tmp_path / "b" / "model.json").read_text())
    names = (tmp_path / "b" / "classes.txt").read_text().splitlines()
    assert sidecar["class_names"] == names
    assert sidecar["model_version"] == 1
