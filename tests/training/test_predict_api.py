"""POST /api/v1/models/<id>/predict: detections, options, refusals, the session cache."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Category
from tests.labeling.imagefiles import image_bytes
from training import inference
from training.ml import runtime
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def upload(data: bytes, name: str = "a.png") -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def synthetic(tiny_trained, index: int = 1) -> Path:
    _, images, _ = tiny_trained
    return Path(images) / f"img_{index:03d}.png"


def predict(client, model, **data):
    return client.post(f"/api/v1/models/{model.pk}/predict", data, format="multipart")


def engine_detections(model: ModelVersion, path: Path):
    session = runtime.load_session(default_storage.path(model.onnx_file))
    return runtime.detect(session, np.asarray(PILImage.open(path).convert("RGB")))


@pytest.fixture
def viewer(project_team, api_client_for):
    return api_client_for(project_team["users"]["viewer"])


@pytest.fixture(autouse=True)
def _fresh_cache():
    inference.session_cache().clear()
    yield
    inference.session_cache().clear()


def test_detections_match_the_exported_model(model_version, tiny_trained, viewer):
    path = synthetic(tiny_trained)
    response = predict(viewer, model_version, image=upload(path.read_bytes()), threshold=0.0)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == {"id": model_version.pk, "version": 1, "project": 1} | {
        "project": model_version.project_id
    }
    [result] = body["results"]
    assert (result["file"], result["width"], result["height"]) == ("a.png", 128, 128)
    assert set(result["timing_ms"]) == {"decode", "inference", "postprocess"}
    assert body["timing_ms"]["total"] > 0
    boxes, scores, labels = engine_detections(model_version, path)
    assert len(result["detections"]) == len(scores) > 0
    want = list(zip(scores.tolist(), labels.tolist(), boxes.tolist(), strict=True))
    for d in result["detections"]:  # each matches one detection of the engine
        box = [d["x_min"], d["y_min"], d["x_max"], d["y_max"]]
        match = next(
            i
            for i, (score, label, engine_box) in enumerate(want)
            if label == d["class_id"]
            and abs(score - d["score"]) < 1e-5
            and np.abs(np.array(engine_box) - box).max() < 0.01
        )
        assert d["class_name"] == ["red", "blue"][d["class_id"]]
        want.pop(match)
    assert {d["category_id"] for d in result["detections"]} == {None}  # no such class here
    scores = [d["score"] for d in result["detections"]]
    assert scores == sorted(scores, reverse=True)


def test_boxes_are_in_the_pixels_of_the_uploaded_image(model_version, tiny_trained, viewer):
    """The same picture at twice the size: boxes twice as large (the model sees the same)."""
    path = synthetic(tiny_trained)
    small = PILImage.open(path).convert("RGB")
    big = small.resize((256, 256), PILImage.Resampling.NEAREST)
    out = io.BytesIO()
    big.save(out, "PNG")
    one = predict(viewer, model_version, image=upload(path.read_bytes()), threshold=0.0).json()
    two = predict(viewer, model_version, image=upload(out.getvalue()), threshold=0.0).json()
    assert (two["results"][0]["width"], two["results"][0]["height"]) == (256, 256)
    first, second = one["results"][0]["detections"][0], two["results"][0]["detections"][0]
    assert second["x_max"] == pytest.approx(2 * first["x_max"], abs=3)
    assert second["y_max"] == pytest.approx(2 * first["y_max"], abs=3)


def test_several_images_and_options(model_version, tiny_trained, project_team, viewer):
    red = Category.objects.create(project=project_team["project"], name="red")
    files = [upload(synthetic(tiny_trained, i).read_bytes(), f"img{i}.png") for i in (1, 2, 3)]
    response = predict(
        viewer,
        model_version,
        image=files,
        threshold=0.0,
        classes="red",
        max_detections=3,
        iou=0.3,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["file"] for r in body["results"]] == ["img1.png", "img2.png", "img3.png"]
    assert body["max_detections"] == 3
    assert body["iou"] == 0.3
    assert any(result["detections"] for result in body["results"])
    for result in body["results"]:
        detections = result["detections"]
        assert len(detections) <= 3
        assert {d["class_name"] for d in detections} <= {"red"}
        assert {d["category_id"] for d in detections} <= {red.pk}
        scores = [d["score"] for d in detections]
        assert scores == sorted(scores, reverse=True)
        boxes = np.array([[d["x_min"], d["y_min"], d["x_max"], d["y_max"]] for d in detections])
        for i in range(len(boxes)):  # the stricter NMS left no pair above 0.3 IoU
            for j in range(i + 1, len(boxes)):
                assert _iou(boxes[i], boxes[j]) <= 0.3 + 1e-6


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def test_default_thresholds_are_the_models_with_class_overrides(
    model_version, tiny_trained, viewer
):
    path = synthetic(tiny_trained)
    _, scores, labels = engine_detections(model_version, path)
    red = np.unique(scores[labels == 0])
    red_cut = float((red[len(red) // 2] + red[len(red) // 2 - 1]) / 2)  # between two scores
    ModelVersion.objects.filter(pk=model_version.pk).update(
        threshold=0.99, class_thresholds={"red": red_cut}
    )
    body = predict(viewer, model_version, image=upload(path.read_bytes())).json()
    assert body["threshold"] is None
    assert body["class_thresholds"] == {"red": pytest.approx(red_cut, abs=1e-6), "blue": 0.99}
    kept = body["results"][0]["detections"]
    assert {d["class_name"] for d in kept} == {"red"}
    assert len(kept) == int((scores[labels == 0] >= red_cut).sum())


def test_token_authentication(model_version, tiny_trained, project_team):
    token = Token.objects.create(user=project_team["users"]["annotator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = predict(client, model_version, image=upload(synthetic(tiny_trained).read_bytes()))
    assert response.status_code == 200
    assert APIClient().post(f"/api/v1/models/{model_version.pk}/predict").status_code == 401


def test_outsider_gets_404(model_version, tiny_trained, project_team, api_client_for):
    outsider = api_client_for(project_team["users"]["outsider"])
    response = predict(outsider, model_version, image=upload(synthetic(tiny_trained).read_bytes()))
    assert response.status_code == 404


CORRUPT_PNG = image_bytes("PNG", (64, 48))[:60]


@pytest.mark.parametrize(
    ("data", "name", "status", "words"),
    [
        (b"just some text, not an image", "notes.txt", 400, "not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "x.svg", 400, "SVG"),
        (CORRUPT_PNG, "broken.png", 400, "truncated or corrupt"),
        (b"", "empty.png", 400, "empty"),
    ],
    ids=["text", "svg", "corrupt", "empty"],
)
def test_bad_images_get_a_clear_4xx(model_version, viewer, data, name, status, words):
    response = predict(viewer, model_version, image=upload(data, name))
    assert response.status_code == status, response.content
    assert words in response.json()["detail"]
    assert name in response.json()["detail"]


def test_too_many_pixels_or_bytes_is_413(model_version, viewer, settings):
    settings.STUDIO_MAX_IMAGE_PIXELS = 100 * 100
    response = predict(viewer, model_version, image=upload(image_bytes("PNG", (200, 150))))
    assert response.status_code == 413
    assert "too many pixels" in response.json()["detail"]
    settings.STUDIO_MAX_IMAGE_PIXELS = 100_000_000
    settings.STUDIO_MAX_IMAGE_BYTES = 2048
    noisy = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(noisy).save(out, "PNG")
    response = predict(viewer, model_version, image=upload(out.getvalue()))
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_bad_requests(model_version, tiny_trained, viewer, settings):
    data = synthetic(tiny_trained).read_bytes()
    assert predict(viewer, model_version).status_code == 400  # no image
    response = predict(viewer, model_version, image=upload(data), threshold=2)
    assert response.status_code == 400
    assert "threshold" in response.json()["errors"]
    response = predict(viewer, model_version, image=upload(data), classes="cats")
    assert response.status_code == 400
    assert "Unknown class 'cats'" in response.json()["detail"]
    settings.STUDIO_PREDICT_MAX_IMAGES = 2
    response = predict(viewer, model_version, image=[upload(data) for _ in range(3)])
    assert response.status_code == 400
    assert "At most 2 images" in response.json()["detail"]
    json_body = viewer.post(
        f"/api/v1/models/{model_version.pk}/predict", {"image": "x"}, format="json"
    )
    assert json_body.status_code == 415


def test_model_not_ready_is_409(model_version, tiny_trained, viewer):
    data = synthetic(tiny_trained).read_bytes()
    ModelVersion.objects.filter(pk=model_version.pk).update(onnx_file="gone/model.onnx")
    response = predict(viewer, model_version, image=upload(data))
    assert response.status_code == 409
    assert "not ready" in response.json()["detail"]
    name = default_storage.save("broken/model.onnx", ContentFile(b"not an onnx file"))
    ModelVersion.objects.filter(pk=model_version.pk).update(onnx_file=name, onnx_sha256="")
    response = predict(viewer, model_version, image=upload(data))
    assert response.status_code == 409
    assert "cannot load" in response.json()["detail"]


# --- The session cache --------------------------------------------------------------------


def test_a_model_is_loaded_once_and_reloaded_when_its_file_changes(
    model_version, tiny_trained, viewer
):
    cache = inference.session_cache()
    loads = cache.loads
    data = synthetic(tiny_trained).read_bytes()
    for _ in range(3):
        assert predict(viewer, model_version, image=upload(data)).status_code == 200
    assert cache.loads == loads + 1
    first = cache.get(ModelVersion.objects.get(pk=model_version.pk)).session
    # A new file (another export) under the same model version: a new sha256.
    with default_storage.open(model_version.onnx_file, "rb") as handle:
        content = handle.read()
    name = default_storage.save("again/model.onnx", ContentFile(content))
    ModelVersion.objects.filter(pk=model_version.pk).update(onnx_file=name, onnx_sha256="")
    assert predict(viewer, model_version, image=upload(data)).status_code == 200
    assert cache.loads == loads + 2
    assert cache.get(ModelVersion.objects.get(pk=model_version.pk)).session is not first
    assert cache.cached_ids() == [model_version.pk]


class FakeModel:
    def __init__(self, pk: int, sha: str = "x", version: int = 1) -> None:
        self.pk, self.onnx_sha256, self.version = pk, sha, version


def fake_loader(nbytes: int, calls: list, delay: float = 0.0):
    import time

    def load(model):
        calls.append(model.pk)
        time.sleep(delay)
        return inference.LoadedModel(
            key=(model.pk, model.onnx_sha256), session=object(), class_names=["a"],
            category_ids=[1], nms_iou=0.6, max_detections=100, graph_score_threshold=0.05,
            input_size=32, nbytes=nbytes,
        )  # fmt: skip

    return load


def test_cache_is_bounded_by_count_and_bytes():
    calls: list[int] = []
    cache = inference.SessionCache(max_models=2, max_bytes=10_000, loader=fake_loader(4000, calls))
    for pk in (1, 2, 1, 3):  # 1 used again, so 2 is the least recently used
        cache.get(FakeModel(pk))
    assert cache.cached_ids() == [1, 3]
    assert calls == [1, 2, 3]
    small = inference.SessionCache(max_models=9, max_bytes=10_000, loader=fake_loader(4000, []))
    for pk in (1, 2, 3):
        small.get(FakeModel(pk))
    assert small.cached_ids() == [2, 3]  # 3 x 4000 bytes > 10000
    huge = inference.SessionCache(max_models=9, max_bytes=10, loader=fake_loader(4000, []))
    huge.get(FakeModel(1))
    assert huge.cached_ids() == [1]  # one model is always kept, whatever its size


def test_cache_loads_a_model_once_under_concurrent_requests():
    calls: list[int] = []
    cache = inference.SessionCache(max_models=4, max_bytes=10**9, loader=fake_loader(1, calls, 0.2))
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get(FakeModel(7)).session))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [7]
    assert len({id(session) for session in got}) == 1
    cache.get(FakeModel(7, sha="changed"))  # evicted on model change
    assert calls == [7, 7]


def test_very_large_pictures_are_shrunk_first(model_version, tiny_trained, viewer, monkeypatch):
    """Above MAX_GRAPH_PIXELS the picture is reduced by a whole factor before the graph
    (which works in float32); boxes still come in the uploaded picture's pixels."""
    path = synthetic(tiny_trained)
    big = PILImage.open(path).convert("RGB").resize((512, 512), PILImage.Resampling.NEAREST)
    out = io.BytesIO()
    big.save(out, "PNG")
    whole = predict(viewer, model_version, image=upload(out.getvalue()), threshold=0.0).json()
    monkeypatch.setattr(inference, "MAX_GRAPH_PIXELS", 256 * 256)  # so 512 px -> 256 px
    shrunk = predict(viewer, model_version, image=upload(out.getvalue()), threshold=0.0).json()
    assert (shrunk["results"][0]["width"], shrunk["results"][0]["height"]) == (512, 512)
    first = whole["results"][0]["detections"][0]
    again = shrunk["results"][0]["detections"][0]
    for key in ("x_min", "y_min", "x_max", "y_max"):
        assert again[key] == pytest.approx(first[key], abs=4)


def test_classes_map_to_the_categories_the_model_was_trained_on(
    model_version, tiny_trained, project_team, viewer
):
    """A class renamed since training keeps its category (the dataset version records the
    studio's category ids); a class without one falls back to the project's same name."""
    import hashlib
    import json

    from training.models import DatasetVersion

    project = project_team["project"]
    renamed = Category.objects.create(project=project, name="Red cells")  # was "red"
    blue = Category.objects.create(project=project, name="blue")
    coco = {
        "images": [],
        "annotations": [],
        "categories": [
            {"id": 1, "name": "red", "studio_id": renamed.pk},
            {"id": 2, "name": "blue"},
        ],
    }
    payload = json.dumps(coco).encode()
    name = default_storage.save("datasets/renamed.json", ContentFile(payload))
    DatasetVersion.objects.filter(pk=model_version.run.dataset_version_id).update(
        coco_file=name, content_hash=hashlib.sha256(payload).hexdigest()
    )
    response = predict(
        viewer, model_version, image=upload(synthetic(tiny_trained).read_bytes()), threshold=0.0
    )
    mapping = {
        d["class_name"]: d["category_id"] for d in response.json()["results"][0]["detections"]
    }
    assert mapping.get("red", renamed.pk) == renamed.pk
    assert mapping.get("blue", blue.pk) == blue.pk
    assert "red" in mapping
