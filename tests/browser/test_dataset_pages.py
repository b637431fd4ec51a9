"""Project classes, the image grid (splits) and the health charts, in Chromium."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse

from labeling import ingest
from labeling.models import Annotation, Category, Image
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.browser


def _sign_in(page, studio_server, user) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": studio_server.url,
            }
        ]
    )


@pytest.fixture
def cells(project_team):
    project = project_team["project"]
    sources = [
        ingest.Source(f"{i}.png", io.BytesIO(image_bytes(color=(i * 40, 10, 10)))) for i in range(4)
    ]
    ids = [r.image_id for r in ingest.images_ingest(project=project, sources=sources)]
    rbc = Category.objects.create(project=project, name="RBC", color="#ff0000", order=0)
    Category.objects.create(project=project, name="red cell", color="#00ff00", order=1)
    Annotation.objects.bulk_create(
        Annotation(image_id=image_id, category=rbc, x=1, y=1, w=8, h=8, area=64) for image_id in ids
    )
    Image.objects.filter(pk__in=ids).update(split="train")
    return project


def test_classes_rename_merge_and_delete(page, studio_server, project_team, cells):
    _sign_in(page, studio_server, project_team["users"]["owner"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(reverse("project-detail", args=[cells.pk]))
    rbc = Category.objects.get(project=cells, name="RBC")
    row = page.locator(f"tr[data-category='{rbc.pk}']")
    row.locator(".category-name").fill("Red blood cell")
    row.locator(".category-name").dispatch_event("change")
    page.wait_for_selector("input.category-name[value='Red blood cell']")
    assert Annotation.objects.filter(category__name="Red blood cell").count() == 4

    other = Category.objects.get(project=cells, name="red cell")
    page.locator(f"tr[data-category='{other.pk}'] .category-merge").select_option(str(rbc.pk))
    page.wait_for_function(f"!document.querySelector(\"tr[data-category='{other.pk}']\")")
    assert list(Category.objects.filter(project=cells).values_list("name", flat=True)) == [
        "Red blood cell"
    ]

    page.locator(f"tr[data-category='{rbc.pk}'] .category-delete").click()
    page.wait_for_selector("#classes .empty")
    assert not Annotation.objects.filter(image__project=cells).exists()

    page.fill("#category-add input[name=name]", "WBC")
    page.click("#category-add button[type=submit]")
    page.wait_for_selector("input.category-name[value='WBC']")


def test_grid_split_selection_and_health_charts(page, studio_server, project_team, cells):
    _sign_in(page, studio_server, project_team["users"]["owner"])
    page.goto(reverse("project-images", args=[cells.pk]))
    assert page.locator("#thumbs li").count() == 4
    page.wait_for_function(  # the thumbnails, served to a member through the API
        "[...document.images].every((img) => img.complete && img.naturalWidth > 0)"
    )
    first, second = Image.objects.filter(project=cells).order_by("id")[:2]
    page.check(f"input.pick[value='{first.pk}']")
    page.check(f"input.pick[value='{second.pk}']")
    page.select_option("#split-choice", "test")
    page.click("#split-apply")
    page.wait_for_selector(f"li[data-image='{first.pk}'] .split-test")
    assert Image.objects.filter(project=cells, split="test").count() == 2

    page.goto(reverse("project-images", args=[cells.pk]) + "?split=test")
    assert page.locator("#thumbs li").count() == 2

    page.goto(reverse("project-health", args=[cells.pk]))
    page.wait_for_function("window.Chart && Object.keys(window.Chart.instances).length === 5")
    assert "fewer than" in page.inner_text("[data-testid=health-warning]")
