"""Model pages (registry list, model page, compare) and what the pipeline stores for them."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from django.test import Client

from tests.training.model_fixtures import make_model_version
from training.ml.data import read_image
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def page_data(response) -> dict:
    match = re.search(
        r'<script id="page-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def model_url(model) -> str:
    return f"/projects/{model.project_id}/models/{model.pk}/"


def test_pipeline_stores_latency_parameters_and_per_image_detections(reviewed_model):
    latency = reviewed_model.export["latency"]
    assert latency["cpu_ms"] > 0
    assert latency["runs"] == 20
    assert latency["image_size"] == [128, 128]
    assert reviewed_model.export["parameters"] > 10_000
    report = reviewed_model.evaluation
    per_image = report["per_image"]
    assert len(per_image["images"]) == report["num_images"] == 12
    assert sum(len(i["gt"]) for i in per_image["images"]) == report["num_ground_truth"]
    assert report["confidence_sweep"]["thresholds"][:3] == [0.0, 0.01, 0.02]
    overall = report["confidence_sweep"]["iou_0.5"]["overall"]
    assert max(overall["tp"]) > 0, "the fixture's model should find some boxes"


def test_model_page_shows_the_headline(reviewed_model, project_team):
    response = client_for(project_team["users"]["viewer"]).get(model_url(reviewed_model))
    assert response.status_code == 200
    html = response.content.decode()
    metrics = reviewed_model.metrics
    headline = html[html.index('id="headline"') : html.index("</dl>")]
    assert f"{metrics['map']:.3f}" in headline
    assert f"{metrics['map50']:.3f}" in headline
    assert "ms on the worker's CPU" in headline
    assert "parameters" in headline
    assert "fast preset" in headline and "42 s" in headline
    assert "4" * 12 in headline  # the dataset version
    project_id = reviewed_model.project_id
    assert f'href="/projects/{project_id}/models/{reviewed_model.pk}/try/"' in html  # Try it
    data = page_data(response)
    assert data["can_train"] is False
    assert data["evaluation"]["per_image"]["images"]
    assert "per_image_errors" not in data["evaluation"]
    ids = [image["id"] for image in data["evaluation"]["per_image"]["images"]]
    assert sorted(data["images_present"]) == sorted(ids)
    project = reviewed_model.project_id
    assert data["urls"]["editor"] == f"/projects/{project}/annotate/{{id}}/"
    assert data["urls"]["thumbnail"] == f"/api/v1/projects/{project}/images/{{id}}/thumbnail"


def test_model_page_headline_precision_recall_at_the_saved_threshold(reviewed_model, project_team):
    sweep = reviewed_model.evaluation["confidence_sweep"]
    i = sweep["thresholds"].index(0.3)
    reviewed_model.threshold = 0.3
    reviewed_model.save()
    html = client_for(project_team["users"]["owner"]).get(model_url(reviewed_model)).content
    saved = html.decode().split('data-field="saved">')[1].split("</dd>")[0]
    overall = sweep["iou_0.5"]["overall"]
    assert f"precision {overall['precision'][i]:.3f}" in saved
    assert f"recall {overall['recall'][i]:.3f}" in saved


def test_per_class_overrides_add_up_in_the_headline(reviewed_model, project_team):
    sweep = reviewed_model.evaluation["confidence_sweep"]
    t = sweep["thresholds"]
    reviewed_model.threshold = 0.3
    reviewed_model.class_thresholds = {"red": 0.6}
    reviewed_model.save()
    html = client_for(project_team["users"]["owner"]).get(model_url(reviewed_model)).content
    saved = html.decode().split('data-field="saved">')[1].split("</dd>")[0]
    red, blue = sweep["iou_0.5"]["per_class"]["red"], sweep["iou_0.5"]["per_class"]["blue"]
    tp = red["tp"][t.index(0.6)] + blue["tp"][t.index(0.3)]
    fp = red["fp"][t.index(0.6)] + blue["fp"][t.index(0.3)]
    assert f"precision {tp / (tp + fp):.3f}" in saved
    assert "the classes' own" in saved


def test_old_and_empty_reports_still_render(reviewed_model, project_team):
    """A model evaluated before per-image detections were kept (a 0.05-step sweep, no
    per_image) and one without any evaluation: both pages render."""
    old = dict(reviewed_model.evaluation)
    old.pop("per_image")
    old.pop("num_ground_truth_by_size")
    old["confidence_sweep"] = {
        "thresholds": old["confidence_sweep"]["thresholds"][5:100:5],
        **{
            iou: {
                "overall": {k: v[5:100:5] for k, v in table["overall"].items()},
                "per_class": {
                    name: {k: v[5:100:5] for k, v in columns.items()}
                    for name, columns in table["per_class"].items()
                },
            }
            for iou, table in old["confidence_sweep"].items()
            if iou != "thresholds"
        },
    }
    reviewed_model.evaluation = old
    reviewed_model.export = {"metadata": reviewed_model.export["metadata"]}
    reviewed_model.save()
    client = client_for(project_team["users"]["owner"])
    response = client.get(model_url(reviewed_model))
    assert response.status_code == 200
    assert b"not measured" in response.content
    assert page_data(response)["evaluation"]["per_image"] is None
    reviewed_model.evaluation = {}
    reviewed_model.metrics = {}
    reviewed_model.save()
    response = client.get(model_url(reviewed_model))
    assert response.status_code == 200
    assert b"gallery-unavailable" in response.content


def test_model_pages_are_for_members_only(reviewed_model, project_team):
    outsider = client_for(project_team["users"]["outsider"])
    assert outsider.get(model_url(reviewed_model)).status_code == 404
    other = project_team["other"].pk
    # The model's id under the URL of a project the user belongs to: still 404.
    owner_of_other = client_for(project_team["users"]["outsider"])
    assert owner_of_other.get(f"/projects/{other}/models/{reviewed_model.pk}/").status_code == 404
    compare = f"/projects/{other}/models/compare/?a={reviewed_model.pk}&b={reviewed_model.pk}"
    assert owner_of_other.get(compare).status_code == 404
    assert Client().get(model_url(reviewed_model)).status_code == 302


def test_registry_list_and_compare(reviewed_model, project_team, trained_for_review, tmp_path):
    project = project_team["project"]
    second = make_model_version(project, trained_for_review, tmp_path, version_hash="5" * 64)
    second.is_production = True
    second.save()
    client = client_for(project_team["users"]["annotator"])
    html = client.get(f"/projects/{project.pk}/models/").content.decode()
    assert model_url(reviewed_model) in html and model_url(second) in html
    assert "Mark as production" not in html  # serving decisions are the owner's
    owner = client_for(project_team["users"]["owner"])
    owners = owner.get(f"/projects/{project.pk}/models/").content.decode()
    assert owners.count("Mark as production") == 1  # the other one is production
    assert "production</span>" in html
    response = client.get(f"/projects/{project.pk}/models/compare/")
    assert response.status_code == 200
    models = page_data(response)["models"]
    assert [m["version"] for m in models] == [1, 2]  # default: previous and latest
    assert models[0]["evaluation"]["pr_curves"]["iou_0.5"]
    assert "per_image" not in models[0]["evaluation"]
    picked = client.get(
        f"/projects/{project.pk}/models/compare/?a={second.pk}&b={reviewed_model.pk}"
    )
    assert [m["version"] for m in page_data(picked)["models"]] == [2, 1]
    project_page = client.get(f"/projects/{project.pk}/").content.decode()
    assert model_url(second) in project_page
    run = client.get(f"/api/v1/projects/{project.pk}/runs/{second.run_id}")
    assert run.json()["model_page"] == model_url(second)


def test_class_thresholds_through_the_api(reviewed_model, project_team, api_client_for):
    owner = api_client_for(project_team["users"]["owner"])
    url = f"/api/v1/models/{reviewed_model.pk}"
    bad = owner.patch(url, {"class_thresholds": {"green": 0.5}}, format="json")
    assert bad.status_code == 400
    assert "green" in json.dumps(bad.json())
    assert owner.patch(url, {"class_thresholds": {"red": 1.5}}, format="json").status_code == 400
    response = owner.patch(
        url, {"threshold": 0.35, "class_thresholds": {"red": 0.6}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["class_thresholds"] == {"red": 0.6}
    reviewed_model.refresh_from_db()
    assert (reviewed_model.threshold, reviewed_model.class_thresholds) == (0.35, {"red": 0.6})
    sidecar = owner.get(f"{url}/download?artifact=sidecar")
    assert json.loads(b"".join(sidecar.streaming_content))["class_thresholds"] == {"red": 0.6}
    body = b"".join(owner.get(f"{url}/download?artifact=onnx").streaming_content)
    meta = {p.key: p.value for p in onnx.load_model_from_string(body).metadata_props}
    assert json.loads(meta["class_thresholds"]) == {"red": 0.6}
    card = b"".join(owner.get(f"{url}/download?artifact=card").streaming_content).decode()
    assert "per class: red 0.60" in card
    cleared = owner.patch(url, {"class_thresholds": {}}, format="json")
    assert cleared.json()["class_thresholds"] == {}


def onnx_detections(session, pixels: np.ndarray, class_ids: list[int]):
    boxes, scores, labels, _ = session.run(None, {"images": pixels[None]})
    return [
        [*box.tolist(), float(score), class_ids[int(label)]]
        for box, score, label in zip(boxes, scores, labels, strict=True)
    ]


def unmatched(reference, other, threshold, *, box_tolerance=1.1, score_tolerance=1.1e-3):
    """Detections of ``reference`` at or above ``threshold`` without a counterpart in
    ``other`` (same class, box within 1 px + the stored rounding, score within 1e-3).
    Those within the score tolerance of the threshold may fall either side of it."""
    missing = []
    for det in reference:
        if det[4] < threshold + score_tolerance:
            continue
        if not any(
            o[5] == det[5]
            and max(abs(a - b) for a, b in zip(o[:4], det[:4], strict=True)) <= box_tolerance
            and abs(o[4] - det[4]) <= score_tolerance
            for o in other
        ):
            missing.append(det)
    return missing


def test_downloaded_onnx_gives_the_detections_the_page_shows(reviewed_model, project_team):
    """For every test image: the downloaded ONNX file's detections, run with onnxruntime
    on the image file, are the ones the model page draws (its stored detections)."""
    client = client_for(project_team["users"]["viewer"])
    response = client.get(f"/api/v1/models/{reviewed_model.pk}/download?artifact=onnx")
    session = ort.InferenceSession(
        b"".join(response.streaming_content), providers=["CPUExecutionProvider"]
    )
    data = page_data(client.get(model_url(reviewed_model)))
    shown = {i["id"]: i["det"] for i in data["evaluation"]["per_image"]["images"]}
    class_ids = reviewed_model.export["metadata"]["category_ids"]
    from labeling.models import Image
    from tests.conftest import media_root

    compared = 0
    for image_id, page_dets in shown.items():
        pixels = read_image(media_root() / Image.objects.get(pk=image_id).file.name).numpy()
        got = onnx_detections(session, pixels, class_ids)
        for threshold in (reviewed_model.threshold, 0.2):
            assert not unmatched(page_dets, got, threshold), (image_id, threshold)
            assert not unmatched(got, page_dets, threshold), (image_id, threshold)
            compared += sum(d[4] >= threshold for d in page_dets)
    assert compared > 20


def test_model_versions_list_api_is_unchanged(reviewed_model, project_team, api_client_for):
    listed = api_client_for(project_team["users"]["viewer"]).get(
        f"/api/v1/projects/{reviewed_model.project_id}/models"
    )
    assert [m["id"] for m in listed.json()] == [reviewed_model.pk]
    assert ModelVersion.objects.get().evaluation["per_image"]
