"""Annotation jobs: an owner assigns images (by filter and count) to an annotator, who
finds them under "my images"; the project page shows each annotator's progress."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Annotation, Category, Image
from tests.labeling.test_image_grid import _images

pytestmark = pytest.mark.django_db


def _assign(client, project, **body):
    return client.post(reverse("api-images-assign", args=[project.pk]), body, format="json")


def test_assign_by_filter_and_count_then_my_images_and_progress(
    project_team, api_client_for, client
):
    project, users = project_team["project"], project_team["users"]
    owner = api_client_for(users["owner"])
    images = _images(project, 6)  # splits train, val, test, train, val, test
    cell = Category.objects.create(project=project, name="cell")
    Annotation.objects.create(image=images[0], category=cell, x=1, y=1, w=5, h=5, area=25)

    response = _assign(owner, project, username="annotator", count=2, tagged=False, split="train")
    assert response.status_code == 200, response.content
    assert response.json() == {"assigned": 1}  # images[0] is tagged: only images[3]
    response = _assign(owner, project, username="annotator", count=2)
    assert response.json() == {"assigned": 2}  # the first two still unassigned
    assigned = Image.objects.filter(assigned_to=users["annotator"]).order_by("id")
    assert [i.pk for i in assigned] == [images[0].pk, images[1].pk, images[3].pk]
    response = _assign(owner, project, username="owner", count=10)
    assert response.json() == {"assigned": 3}  # the rest, never one assigned already

    for name in ("viewer", "outsider", "nobody"):
        response = _assign(owner, project, username=name, count=1)
        assert response.status_code == 400, name

    client.force_login(users["annotator"])
    grid = client.get(
        reverse("project-images", args=[project.pk]), {"assignee": users["annotator"].pk}
    )
    assert [i.pk for i in grid.context["images"]] == [i.pk for i in assigned]
    assert 'data-testid="my-images"' in grid.content.decode()

    page = client.get(reverse("project-detail", args=[project.pk]))
    rows = page.context["assignments"]
    progress = {a["username"]: (a["assigned"], a["tagged"], a["left"]) for a in rows}
    assert progress == {"annotator": (3, 1, 2), "owner": (3, 0, 3)}
    assert 'id="assign-form"' not in page.content.decode()  # an annotator does not assign


def test_editor_walks_my_images_only(project_team, api_client_for):
    project, users = project_team["project"], project_team["users"]
    images = _images(project, 4)
    Image.objects.filter(pk__in=[images[1].pk, images[3].pk]).update(assigned_to=users["annotator"])
    client = api_client_for(users["annotator"])
    url = reverse("api-image-neighbours", args=[project.pk, images[1].pk])
    found = client.get(url, {"assignee": users["annotator"].pk}).json()
    assert found["previous"] is None and found["next"]["id"] == images[3].pk
    assert found["count"] == 2
