"""Re-splitting, setting the split of selected images, and the dataset health report."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labeling import health, splits
from labeling.models import Annotation, Category, Image
from tests.labeling.test_image_grid import _images

pytestmark = pytest.mark.django_db


def test_resplit_exact_proportions_and_repeatable(project_team):
    project = project_team["project"]
    _images(project, 50)
    counts = splits.project_resplit(project=project, train=80, val=10, test=10, seed="a")
    assert counts == {"train": 40, "val": 5, "test": 5}
    first = dict(Image.objects.values_list("pk", "split"))
    splits.project_resplit(project=project, train=80, val=10, test=10, seed="a")
    assert dict(Image.objects.values_list("pk", "split")) == first
    splits.project_resplit(project=project, train=80, val=10, test=10, seed="b")
    assert dict(Image.objects.values_list("pk", "split")) != first
    with pytest.raises(ValidationError):
        splits.project_resplit(project=project, train=0, val=0, test=0)


def test_set_split_only_touches_this_project(project_team, api_client_for):
    mine = _images(project_team["project"], 2)
    theirs = _images(project_team["other"], 1, start=10)
    client = api_client_for(project_team["users"]["owner"])
    url = reverse("api-images-split", args=[project_team["project"].pk])
    ids = [mine[0].pk, theirs[0].pk]
    response = client.post(url, {"image_ids": ids, "split": "test"}, format="json")
    assert response.json() == {"changed": 1}
    assert Image.objects.get(pk=mine[0].pk).split == "test"
    assert Image.objects.get(pk=theirs[0].pk).split == theirs[0].split


def test_health_report(project_team):
    project = project_team["project"]
    rbc = Category.objects.create(project=project, name="RBC", order=0)
    wbc = Category.objects.create(project=project, name="WBC", order=1)
    images = _images(project, 6)  # splits cycle train, val, test
    boxes = [
        (images[0], rbc, 10, 10),  # small (100)
        (images[0], rbc, 40, 40),  # medium (1600)
        (images[3], rbc, 100, 100),  # large, train
        (images[1], wbc, 10, 50),  # val, tall 1:5
        (images[1], wbc, 60, 20),  # val, wide 3:1
    ]
    Annotation.objects.bulk_create(
        Annotation(image=i, category=c, x=0, y=0, w=w, h=h, area=w * h) for i, c, w, h in boxes
    )
    Image.objects.filter(pk=images[5].pk).update(no_objects=True)
    report = health.project_health(project=project)
    assert report["image_count"] == 6
    assert report["splits"] == {"train": 2, "val": 2, "test": 2}
    assert report["box_count"] == 5
    assert report["images_without_boxes"] == 2  # images 2 and 4; 5 is marked no objects
    assert report["images_marked_no_objects"] == 1
    assert [(c["name"], c["train"], c["val"], c["test"]) for c in report["classes"]] == [
        ("RBC", 3, 0, 0),
        ("WBC", 0, 2, 0),
    ]
    assert len(report["warnings"]) == 2
    assert report["box_sizes"] == {"small": 2, "medium": 2, "large": 1}
    aspects = {a["label"]: a["count"] for a in report["aspect_ratios"]}
    assert aspects["tall < 1:4"] == 1
    assert aspects["2:1 – 4:1"] == 1
    assert aspects["1:1 – 2:1"] == 3
    assert report["image_sizes"] == [{"size": "64×48", "count": 6}]


def test_health_page_uses_the_vendored_chart_library(project_team, client):
    client.force_login(project_team["users"]["viewer"])
    page = client.get(reverse("project-health", args=[project_team["project"].pk]))
    assert page.status_code == 200
    assert b"vendor/chartjs/chart.umd" in page.content
