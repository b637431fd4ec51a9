"""Dataset health warns, each warning linking to the images concerned (a grid filter)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.models import Annotation, Category, Image
from tests.labeling.test_image_grid import _images

pytestmark = pytest.mark.django_db


def _box(image, category, x=1, y=1, w=10, h=10):
    return Annotation(image=image, category=category, x=x, y=y, w=w, h=h, area=w * h)


@pytest.fixture
def skewed(project_team, settings):
    """64x48 images: 'cell' on 22 of them (110 boxes), 'dust' 10 boxes on 2, 'spore'
    none; one tiny box, one huge box; 3 images untagged, one marked no objects."""
    settings.STUDIO_MIN_BOXES_PER_CLASS = 5
    project = project_team["project"]
    cell, dust, _spore = (
        Category.objects.create(project=project, name=n, order=i)
        for i, n in enumerate(["cell", "dust", "spore"])
    )
    images = _images(project, 28)
    Image.objects.update(split="train")
    boxes = [_box(image, cell) for image in images[:22] for _ in range(5)]
    boxes += [_box(images[22], dust) for _ in range(9)]
    boxes += [_box(images[23], dust, w=2, h=30)]  # tiny: 2 px wide
    boxes[0] = _box(images[0], cell, x=0, y=0, w=64, h=46)  # huge: 96% of the image
    Annotation.objects.bulk_create(boxes)
    Image.objects.filter(pk=images[24].pk).update(no_objects=True)
    return project, images, {"cell": cell, "dust": dust, "spore": _spore}


def _grid(client, url) -> list[int]:
    response = client.get(url)
    assert response.status_code == 200
    return [image.pk for image in response.context["images"]]


def test_warnings_say_what_is_wrong_and_link_to_the_images(project_team, client, skewed):
    project, images, classes = skewed
    client.force_login(project_team["users"]["viewer"])
    response = client.get(reverse("project-health", args=[project.pk]))
    alerts = {a["kind"]: a for a in response.context["health"]["alerts"]}
    grid = reverse("project-images", args=[project.pk])

    assert alerts["imbalance"]["message"].startswith(
        "Class imbalance: dust has 11x fewer boxes than cell (10 vs 110)"
    )
    assert alerts["imbalance"]["url"] == f"{grid}?category={classes['dust'].pk}"
    assert _grid(client, alerts["imbalance"]["url"]) == [images[22].pk, images[23].pk]

    assert alerts["too_few"]["message"].startswith("spore: 0 boxes in train, fewer than the 5")
    assert alerts["too_few"]["url"] == f"{grid}?tagged=false"
    assert alerts["untagged"]["message"].startswith("3 images without boxes")
    assert _grid(client, alerts["untagged"]["url"]) == [i.pk for i in images[25:]]

    assert alerts["tiny"]["message"].startswith("1 tiny box (a side under 4 px or 1% of")
    assert _grid(client, alerts["tiny"]["url"]) == [images[23].pk]
    assert alerts["huge"]["message"].startswith("1 huge box (covering 90% of the image")
    assert _grid(client, alerts["huge"]["url"]) == [images[0].pk]

    html = response.content.decode()
    assert html.count('data-testid="health-warning"') == len(alerts) == 5
    assert f'<a href="{alerts["tiny"]["url"]}">Show the images</a>' in html
    api = client.get(reverse("api-project-health", args=[project.pk])).json()
    assert [a["kind"] for a in api["alerts"]] == list(alerts)


def test_a_healthy_dataset_has_no_warnings(project_team, client, settings):
    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    project = project_team["project"]
    cell, dust = (Category.objects.create(project=project, name=n) for n in ("cell", "dust"))
    images = _images(project, 2)
    Annotation.objects.bulk_create([_box(images[0], cell), _box(images[1], dust)])
    Image.objects.update(split="train")
    client.force_login(project_team["users"]["viewer"])
    response = client.get(reverse("project-health", args=[project.pk]))
    assert response.context["health"]["alerts"] == []
    assert 'data-testid="health-ok"' in response.content.decode()


def test_warnings_cost_the_same_queries_for_more_images(project_team, client, skewed):
    project, _, classes = skewed
    client.force_login(project_team["users"]["viewer"])
    url = reverse("api-project-health", args=[project.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    before = queries()
    more = _images(project, 40, start=100)
    Annotation.objects.bulk_create(_box(image, classes["dust"], w=1, h=1) for image in more)
    assert queries() == before
