"""The DeepStack / CodeProject.AI compatible endpoint (/v1/vision/detection)."""

from __future__ import annotations

import io
import ipaddress
from pathlib import Path

import pytest
from django.test import Client

from tests.labeling.imagefiles import image_bytes
from training import inference
from training.models import ModelVersion

pytestmark = pytest.mark.django_db
KEY = "s3cret-key-for-blue-iris"


@pytest.fixture
def served(model_version, settings):
    settings.STUDIO_DEEPSTACK_API_KEY = KEY
    settings.STUDIO_DEEPSTACK_PROJECTS = [model_version.project_id]
    settings.STUDIO_DEEPSTACK_MODEL = 0
    settings.STUDIO_DEEPSTACK_TRUSTED_NETWORKS = []
    ModelVersion.objects.filter(pk=model_version.pk).update(is_production=True, threshold=0.0)
    inference.session_cache().clear()
    return model_version


def image(tiny_trained, index: int = 1, name: str = "cam1.png") -> io.BytesIO:
    _, images, _ = tiny_trained
    handle = io.BytesIO((Path(images) / f"img_{index:03d}.png").read_bytes())
    handle.name = name
    return handle


def post(path: str = "/v1/vision/detection", **data):
    return Client().post(path, data)


def test_detection_answers_like_deepstack(served, tiny_trained):
    response = post(image=image(tiny_trained), api_key=KEY, min_confidence="0.06")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["code"] == 200
    assert body["moduleId"] == "detection-studio"
    assert isinstance(body["inferenceMs"], int) and isinstance(body["processMs"], int)
    assert body["count"] == len(body["predictions"]) > 0
    for p in body["predictions"]:
        assert set(p) == {"label", "confidence", "x_min", "y_min", "x_max", "y_max"}
        assert p["label"] in ("red", "blue")
        assert p["confidence"] >= 0.06
        for key in ("x_min", "y_min", "x_max", "y_max"):
            assert isinstance(p[key], int)
            assert 0 <= p[key] <= 128
        assert p["x_min"] <= p["x_max"] and p["y_min"] <= p["y_max"]
    # Without min_confidence: the model's saved threshold.
    everything = post(image=image(tiny_trained), api_key=KEY).json()
    assert everything["count"] >= body["count"]


def test_the_key_is_required_and_may_come_as_a_header(served, tiny_trained):
    missing = post(image=image(tiny_trained))
    assert missing.status_code == 401
    assert missing.json()["success"] is False
    assert "API key" in missing.json()["error"]
    wrong = post(image=image(tiny_trained), api_key="guess")
    assert wrong.status_code == 401
    header = Client().post(
        "/v1/vision/detection", {"image": image(tiny_trained)}, HTTP_X_API_KEY=KEY
    )
    assert header.status_code == 200
    bearer = Client().post(
        "/v1/vision/detection",
        {"image": image(tiny_trained)},
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
    )
    assert bearer.status_code == 200


def test_trusted_network_needs_no_key(served, tiny_trained, settings):
    settings.STUDIO_DEEPSTACK_TRUSTED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert post(image=image(tiny_trained)).status_code == 200
    settings.STUDIO_DEEPSTACK_TRUSTED_NETWORKS = [ipaddress.ip_network("192.168.1.0/24")]
    assert post(image=image(tiny_trained)).status_code == 401


def test_off_without_a_key(served, tiny_trained, settings):
    settings.STUDIO_DEEPSTACK_API_KEY = ""
    response = post(image=image(tiny_trained), api_key="")
    assert response.status_code == 401
    assert "STUDIO_DEEPSTACK_API_KEY" in response.json()["error"]


def test_custom_model_by_project_name_or_id(served, tiny_trained):
    project = served.project  # "Cells"
    for name in ("cells", str(project.pk)):
        response = post(f"/v1/vision/custom/{name}", image=image(tiny_trained), api_key=KEY)
        assert response.status_code == 200, response.content
        assert response.json()["success"] is True
    unknown = post("/v1/vision/custom/other", image=image(tiny_trained), api_key=KEY)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "success": False,
        "error": "No served model is called 'other'.",
        "message": "No served model is called 'other'.",
        "code": 404,
    }


def test_only_listed_projects_are_served(served, tiny_trained, project_team, settings):
    other = project_team["other"]
    response = post(f"/v1/vision/custom/{other.pk}", image=image(tiny_trained), api_key=KEY)
    assert response.status_code == 404
    settings.STUDIO_DEEPSTACK_PROJECTS = []
    assert post(image=image(tiny_trained), api_key=KEY).status_code == 404


def test_a_pinned_model_version(served, tiny_trained, settings):
    ModelVersion.objects.filter(pk=served.pk).update(is_production=False)
    assert post(image=image(tiny_trained), api_key=KEY).status_code == 404  # no production
    settings.STUDIO_DEEPSTACK_MODEL = served.pk
    assert post(image=image(tiny_trained), api_key=KEY).status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({}, 400, "field 'image'"),
        ({"image": io.BytesIO(image_bytes("PNG", (64, 48))[:60])}, 400, "truncated or corrupt"),
        ({"image": io.BytesIO(b"hello")}, 400, "not an image"),
        ({"min_confidence": "high"}, 400, "min_confidence"),
        ({"min_confidence": "1.5"}, 400, "between 0 and 1"),
    ],
    ids=["no-image", "corrupt", "text", "bad-confidence", "confidence-range"],
)
def test_bad_requests_get_success_false(served, tiny_trained, data, status, words):
    data = {"image": image(tiny_trained), **data} if "min_confidence" in data else data
    response = post(api_key=KEY, **data)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == status
    assert words in body["error"]


def test_too_many_pixels_and_model_not_ready(served, settings):
    settings.STUDIO_MAX_IMAGE_PIXELS = 50 * 50
    big = io.BytesIO(image_bytes("PNG", (200, 100)))
    response = post(image=big, api_key=KEY)
    assert response.status_code == 413
    assert response.json()["success"] is False
    settings.STUDIO_MAX_IMAGE_PIXELS = 100_000_000
    ModelVersion.objects.filter(pk=served.pk).update(onnx_file="gone.onnx")
    inference.session_cache().clear()
    response = post(image=io.BytesIO(image_bytes("PNG", (20, 20))), api_key=KEY)
    assert response.status_code == 409
    assert "not ready" in response.json()["error"]


def test_get_is_refused_in_json(served):
    response = Client().get("/v1/vision/detection")
    assert response.status_code == 405
    assert response.json()["success"] is False
