"""The verdict on a model version: in words, against fixed bars and a simple baseline;
a version not usable yet is never made the production or pre-labeling model without a
confirmation."""

from __future__ import annotations

import pytest

from training.models import ModelVersion
from training.verdict import judge, model_verdict

USELESS = {"map50": 0.001, "baseline_map50": 0.05, "epochs": 1, "run_seconds": 125.0,
           "epoch_seconds": 231.0, "on_gpu": False}  # fmt: skip


def test_a_useless_model_says_so_and_how_long_to_train():
    verdict = judge(**USELESS)
    assert verdict["level"] == "not_usable" and not verdict["usable"]
    assert verdict["text"] == (
        "Not usable yet: 1 epoch in 2 minutes; test mAP@0.5 0.001 (a box at each class's "
        "average place scores 0.050). Train longer (about 120 minutes on this machine for "
        "this dataset) or on a GPU."
    )  # 30 epochs of 231 s, rounded up to 5 minutes


def test_a_good_model_is_usable():
    verdict = judge(**{**USELESS, "map50": 0.91, "epochs": 40, "run_seconds": 900.0})
    assert verdict == {
        "level": "usable",
        "usable": True,
        "text": "Usable: test mAP@0.5 0.910 (a box at each class's average place scores 0.050).",
    }


def test_near_the_baseline_or_long_trained_and_still_bad():
    near = judge(**{**USELESS, "map50": 0.3, "baseline_map50": 0.25})
    assert near["level"] == "not_usable"  # beats 0.25, but not the baseline by 0.1
    long = judge(**{**USELESS, "map50": 0.1, "epochs": 45, "on_gpu": True})
    assert "More training alone is unlikely to fix it" in long["text"]
    assert "GPU" not in long["text"]
    care = judge(**{**USELESS, "map50": 0.4})
    assert care["level"] == "with_care" and care["usable"]
    assert care["text"].startswith("Usable with care: test mAP@0.5 0.400")


@pytest.mark.django_db
def test_a_model_not_usable_yet_needs_a_confirmation(model_version, project_team, api_client_for):
    client = api_client_for(project_team["users"]["owner"])
    verdict = model_verdict(model_version)
    assert verdict["level"] == "not_usable"  # one epoch on 12 synthetic images
    url = f"/api/v1/models/{model_version.pk}"
    assert client.get(url).json()["verdict"] == verdict
    refused = client.patch(url, {"is_production": True}, format="json")
    assert refused.status_code == 400, refused.json()
    message = refused.json()["errors"]["is_production"]
    assert message.startswith(f"Model v{model_version.version} is not usable yet")
    assert "confirm: true" in message
    assert not ModelVersion.objects.get(pk=model_version.pk).is_production
    prelabel = f"/api/v1/projects/{model_version.project_id}/prelabel"
    refused = client.post(prelabel, {"model": model_version.pk}, format="json")
    assert refused.status_code == 400
    assert "not usable yet" in refused.json()["errors"]["model"]
    assert client.post(prelabel, {"model": model_version.pk, "confirm": True},
                       format="json").status_code == 202  # fmt: skip
    confirmed = client.patch(url, {"is_production": True, "confirm": True}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["is_production"]


@pytest.mark.django_db
def test_a_usable_model_needs_no_confirmation(model_version, project_team, api_client_for):
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics={"map50": 0.9, "map": 0.6})
    client = api_client_for(project_team["users"]["owner"])
    response = client.patch(f"/api/v1/models/{model_version.pk}", {"is_production": True},
                            format="json")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["verdict"]["level"] == "usable"


def test_a_score_from_a_few_test_images_is_called_rough():
    tiny = judge(**{**USELESS, "map50": 0.91, "epochs": 40, "test_images": 3, "test_boxes": 40})
    assert tiny["level"] == "usable" and tiny["rough"]
    assert "Judged on only 3 test images (40 boxes), so the score is rough" in tiny["text"]
    few_boxes = judge(**{**USELESS, "test_images": 30, "test_boxes": 1})
    assert few_boxes["level"] == "not_usable" and "(1 box)" in few_boxes["text"]
    firm = judge(**{**USELESS, "map50": 0.91, "epochs": 40, "test_images": 72, "test_boxes": 900})
    assert "rough" not in firm and "rough" not in firm["text"]
    unknown = judge(**{**USELESS, "map50": 0.91, "epochs": 40})  # a model from before
    assert "rough" not in unknown
