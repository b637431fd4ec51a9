"""The project page leads: the workflow strip's counts and next step at each stage, and
a project created with its classes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.models import Annotation, Category, Image, Project
from tests.labeling.test_image_grid import _images
from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db


def _page(client, project):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("project-detail", args=[project.pk]))
    assert response.status_code == 200
    flow = response.context["workflow"]
    steps = {s["key"]: (s["detail"], s["done"]) for s in flow["steps"]}
    return steps, flow["next"], response.content.decode(), len(queries)


def _model(project, version: int, *, production=False, status=RunStatus.SUCCEEDED, map50=0.8125):
    dataset = DatasetVersion.objects.create(
        project=project, content_hash=f"{version:064d}", coco_file="x.json",
        image_count=1, box_count=1,
    )  # fmt: skip
    run = TrainingRun.objects.create(project=project, dataset_version=dataset, status=status)
    return ModelVersion.objects.create(
        project=project, run=run, version=version, metrics={"map50": map50},
        is_production=production,
    )  # fmt: skip


def test_the_strip_leads_from_no_images_to_a_deployed_model(project_team, client):
    project, owner = project_team["project"], project_team["users"]["owner"]
    client.force_login(owner)
    p = project.pk

    steps, step, _, _ = _page(client, project)
    assert steps["images"] == ("0 images", False)
    assert step == {"step": "images", "text": "Add images to label",
                    "url": reverse("project-upload", args=[p])}  # fmt: skip

    images = _images(project, 4)
    cell = Category.objects.create(project=project, name="cell")
    steps, step, _, queries = _page(client, project)
    assert steps["labeled"] == ("0 of 4", False)
    assert step["text"] == "Label the 4 untagged images"
    assert step["url"] == reverse("annotate", args=[p, images[0].pk]) + "?tagged=false"

    Annotation.objects.create(image=images[0], category=cell, x=1, y=1, w=5, h=5, area=25)
    Image.objects.filter(pk=images[1].pk).update(no_objects=True)
    steps, step, _, _ = _page(client, project)
    assert steps["labeled"] == ("2 of 4", False)
    assert step == {"step": "trained", "text": "Train a model on the 2 labeled images",
                    "url": reverse("train", args=[p])}  # fmt: skip

    first = _model(project, 1)
    steps, step, html, _ = _page(client, project)
    assert steps["trained"] == ("1 model", True)
    assert steps["reviewed"] == ("v1 to review, mAP@0.5 0.812", False)
    assert step["url"] == reverse("model-detail", args=[p, first.pk])
    assert step["text"] == "Review v1 (precision, recall, errors) and mark it production"

    running = TrainingRun.objects.create(
        project=project, dataset_version=first.run.dataset_version, status=RunStatus.RUNNING
    )
    steps, step, _, _ = _page(client, project)
    assert steps["trained"] == (f"1 model, run #{running.pk} in progress", True)
    assert step["url"] == reverse("run-detail", args=[p, running.pk])
    TrainingRun.objects.filter(pk=running.pk).update(status=RunStatus.FAILED)

    ModelVersion.objects.filter(pk=first.pk).update(is_production=True)
    steps, step, _, _ = _page(client, project)
    assert steps["deployed"] == ("v1 in production", True)
    assert step["text"] == "Label the 2 untagged images, then train again"
    assert step["url"] == reverse("annotate", args=[p, images[2].pk]) + "?tagged=false"

    Image.objects.filter(pk__in=[images[2].pk, images[3].pk]).update(no_objects=True)
    steps, step, html, more_queries = _page(client, project)
    assert all(done for _, done in steps.values())
    assert step["text"] == "Download v1 or call it through the API"
    assert f'<a href="{reverse("model-detail", args=[p, first.pk])}">Download v1' in html
    assert more_queries <= queries  # aggregate queries: no more at a later stage


def test_a_model_not_usable_yet_leads_to_training_again_not_to_production(project_team, client):
    project, owner = project_team["project"], project_team["users"]["owner"]
    client.force_login(owner)
    _images(project, 2)
    Image.objects.filter(project=project).update(no_objects=True)
    useless = _model(project, 1, map50=0.001)
    _, step, html, _ = _page(client, project)
    assert step["step"] == "trained"
    assert step["url"] == reverse("train", args=[project.pk])
    assert step["text"].startswith("v1 is not usable yet: train again. Not usable yet:")
    assert "mark it production" not in html
    ModelVersion.objects.filter(pk=useless.pk).update(metrics={"map50": 0.8125})
    _, step, _, _ = _page(client, project)
    assert step["text"] == "Review v1 (precision, recall, errors) and mark it production"


def test_a_viewer_is_told_the_step_without_a_link_it_cannot_take(project_team, client):
    project = project_team["project"]
    client.force_login(project_team["users"]["viewer"])
    _, step, html, _ = _page(client, project)
    assert step["url"] is None
    assert step["text"] == "Add images to label (your role cannot: ask an owner or annotator)"
    model = _model(project, 1)
    _images(project, 1)
    Image.objects.filter(project=project).update(no_objects=True)
    _, step, _, _ = _page(client, project)
    assert step["text"] == "Review v1: an owner marks the production model"
    assert step["url"] == reverse("model-detail", args=[project.pk, model.pk])


def test_a_project_is_created_with_its_classes(make_user, api_client_for):
    client = api_client_for(make_user("maker"))
    response = client.post(
        reverse("api-projects"),
        {"name": "Blood", "classes": ["RBC", " WBC ", "Platelets", "RBC"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    project = Project.objects.get(pk=response.json()["id"])
    classes = list(Category.objects.filter(project=project).values_list("name", "shortcut"))
    assert classes == [("RBC", "1"), ("WBC", "2"), ("Platelets", "3")]

    response = client.post(
        reverse("api-projects"), {"name": "Broken", "classes": ["ok", " "]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("classes:")
    assert not Project.objects.filter(name="Broken").exists()
