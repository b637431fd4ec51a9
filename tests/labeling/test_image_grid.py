"""The image grid and list: filters, and a constant number of SQL queries per page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.models import Annotation, Category, Image

pytestmark = pytest.mark.django_db


def _images(project, count: int, start: int = 0) -> list[Image]:
    """Rows only (no files): the grid reads rows, the thumbnails are separate requests."""
    return Image.objects.bulk_create(
        Image(
            project=project,
            file=f"p/{i}.png",
            thumbnail=f"t/{i}.jpg",
            original_name=f"{i}.png",
            width=64,
            height=48,
            sha256=f"{i:064x}",
            bytes=100,
            format="png",
            split=("train", "val", "test")[i % 3],
        )
        for i in range(start, start + count)
    )


def _boxes(images, category, per_image: int = 2):
    Annotation.objects.bulk_create(
        Annotation(image=image, category=category, x=1, y=1, w=5, h=5, area=25)
        for image in images
        for _ in range(per_image)
    )


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("name", ["project-images", "api-images"])
def test_queries_per_page_do_not_grow_with_the_page(project_team, client, name):
    project = project_team["project"]
    category = Category.objects.create(project=project, name="cell")
    client.force_login(project_team["users"]["viewer"])
    _boxes(_images(project, 5), category)
    url = reverse(name, args=[project.pk])
    small = _count_queries(client, url)
    _boxes(_images(project, 95, start=5), category, per_image=3)
    large = _count_queries(client, url + "?limit=100")
    filtered = _count_queries(client, url + f"?category={category.pk}&split=val")
    assert small == large == filtered
    assert large <= 8


def test_grid_filters(project_team, client):
    project = project_team["project"]
    cell, dust = (Category.objects.create(project=project, name=n) for n in ("cell", "dust"))
    images = _images(project, 6)
    _boxes(images[:2], cell)
    _boxes(images[2:3], dust)
    Image.objects.filter(pk=images[5].pk).update(no_objects=True, status="labeled")
    client.force_login(project_team["users"]["viewer"])
    url = reverse("project-images", args=[project.pk])

    def names(**query):
        response = client.get(url, query)
        return [image.original_name for image in response.context["images"]]

    assert names() == [f"{i}.png" for i in range(6)]
    assert names(category=cell.pk) == ["0.png", "1.png"]
    assert names(split="val") == ["1.png", "4.png"]
    assert names(status="labeled") == ["5.png"]
    assert names(no_objects="true") == ["5.png"]
    assert names(split="nonsense") == names()  # an invalid filter is ignored
    page = client.get(url).content.decode()
    assert reverse("api-image-thumbnail", args=[project.pk, images[0].pk]) in page
