"""Retraining from the last model through a real Celery worker: a tiny run, then a class
added to the project and a second run started from the first's model version."""

from __future__ import annotations

import io

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from labeling.models import Annotation, Category, Image
from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from tests.training.test_worker_runs import log_of, wait_run
from training.ml.finetune import FINETUNE_WARMUP_STEPS
from training.models import ModelVersion, RunStatus
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A frozen BatchNorm statistic of the backbone: no step of training changes it, so the
# marker below, written into the first model's checkpoint, reaches the second model only
# if the second run started from that checkpoint.
FROZEN_KEY = "backbone.body.0.1.running_mean"
MARKER = 0.375


def read_checkpoint(name: str) -> dict:
    with default_storage.open(name, "rb") as handle:
        return torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=True)


def mark_checkpoint(name: str) -> torch.Tensor:
    """Add MARKER to FROZEN_KEY in the stored checkpoint (its model and its EMA)."""
    checkpoint = read_checkpoint(name)
    checkpoint["model"][FROZEN_KEY] += MARKER
    if checkpoint.get("ema"):
        checkpoint["ema"]["model"][FROZEN_KEY] += MARKER
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    default_storage.delete(name)
    assert default_storage.save(name, ContentFile(buffer.getvalue())) == name
    return checkpoint["model"][FROZEN_KEY].clone()


def test_second_run_fine_tunes_from_the_first_with_a_class_added(
    make_bccd_project, api_client_for, worker_factory
):
    project = make_bccd_project({"train": 6, "val": 2, "test": 2})
    worker = worker_factory(**WORKER_ENV)
    config = {**TINY_CONFIG, "epochs": 1}
    first = run_start(project=project, config=config, user=None)
    first = wait_run(first.pk, lambda r: r.is_finished, timeout=300)
    assert first.status == RunStatus.SUCCEEDED, (first.error, log_of(worker))
    assert first.started_from == {}
    model = ModelVersion.objects.get(run=first)
    imagenet = read_checkpoint(model.checkpoint_file)["model"][FROZEN_KEY].clone()
    marked = mark_checkpoint(model.checkpoint_file)

    # A new class, with a box on every image (the worker's check wants one per split).
    old_classes = list(project.categories.order_by("order", "id").values_list("name", flat=True))
    ghost = Category.objects.create(project=project, name="Ghost", order=99)
    for image in Image.objects.filter(project=project):
        Annotation.objects.create(image=image, category=ghost, x=10, y=10, w=60, h=60, area=3600)

    client = api_client_for(project.created_by)
    response = client.post(
        f"/api/v1/projects/{project.pk}/runs",
        {"time_budget_minutes": 10, "epochs": 1, "image_size": 128, "start_from": model.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    second = wait_run(response.json()["id"], lambda r: r.is_finished, timeout=300)
    assert second.status == RunStatus.SUCCEEDED, (second.error, log_of(worker))
    assert second.start_model_id == model.pk
    new_model = ModelVersion.objects.get(run=second)
    # Its initial weights were the first model's: the marked frozen statistic came along.
    weights = read_checkpoint(new_model.checkpoint_file)["model"]
    assert torch.equal(weights[FROZEN_KEY], marked)
    assert not torch.equal(weights[FROZEN_KEY], imagenet)
    assert second.config["warmup_steps"] == FINETUNE_WARMUP_STEPS
    # The engine's class match, made on the frozen dataset's classes.
    assert second.started_from["classes"] == {
        "matched": old_classes,
        "new": ["Ghost"],
        "dropped": [],
    }
    assert "fine-tuning from" in second.log_tail
    origin = f"{project.name} v1 (classes matched: {', '.join(old_classes)}; new: Ghost)"
    assert new_model.version == 2
    assert client.get(f"/api/v1/models/{new_model.pk}").json()["started_from"]["text"] == origin
    # The light head's rows: one per class (Ghost's a fresh one), 4 box and 1 centre-ness.
    assert weights["head.predictor.weight"].shape[0] == len(old_classes) + 1 + 5

    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.pk}/runs/{second.pk}/").content.decode()
    assert origin in page
