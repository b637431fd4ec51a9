"""The image grid in Chromium: boxes drawn over thumbnails, tagged or not, sort and
search, and deleting selected images after a confirmation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Annotation, Category, Image
from tests.browser.editor_pages import make_images, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each thumbnail's drawn boxes, in page pixels, and the image's drawn rectangle.
DRAWN = """() => [...document.querySelectorAll('#thumbs li')].map((li) => {
  const img = li.querySelector('img').getBoundingClientRect();
  return {
    name: li.querySelector('img').alt,
    tag: li.querySelector('.tag').textContent.trim(),
    img: [img.x, img.y, img.width, img.height],
    rects: [...li.querySelectorAll('svg.boxes rect')].map((rect) => {
      const r = rect.getBoundingClientRect();
      return {box: [r.x, r.y, r.width, r.height], stroke: rect.getAttribute('stroke')};
    }),
  };
})"""


@pytest.fixture
def grid(project_team):
    project = project_team["project"]
    cell = Category.objects.create(project=project, name="cell", color="#ff0000")
    images = make_images(project, 3, size=(400, 200))  # 000.png 001.png 002.png
    Annotation.objects.create(image=images[0], category=cell, x=100, y=50, w=200, h=100, area=2e4)
    Annotation.objects.bulk_create(
        Annotation(image=images[1], category=cell, x=10 * i, y=10, w=8, h=8, area=64)
        for i in range(3)
    )
    return project, images


def test_thumbnails_draw_their_boxes_and_say_tagged_or_untagged(
    page, studio_server, project_team, grid
):
    project, images = grid
    sign_in(page.context, studio_server.url, project_team["users"]["viewer"])
    page.goto(reverse("project-images", args=[project.pk]))
    drawn = page.evaluate(DRAWN)
    assert [d["tag"] for d in drawn] == ["tagged", "tagged", "untagged"]
    assert [len(d["rects"]) for d in drawn] == [1, 3, 0]
    # 400x200 fitted into the thumbnail box (contain): the box [100, 50, 200, 100] is the
    # middle half of the image, wherever the image lands in its box.
    x, y, width, height = drawn[0]["img"]
    scale = min(width / 400, height / 200)
    left, top = x + (width - 400 * scale) / 2, y + (height - 200 * scale) / 2
    box = drawn[0]["rects"][0]["box"]
    expected = [left + 100 * scale, top + 50 * scale, 200 * scale, 100 * scale]
    assert all(abs(a - b) < 2.5 for a, b in zip(box, expected, strict=True)), (box, expected)
    assert drawn[0]["rects"][0]["stroke"] == "#ff0000"
    assert page.locator("#delete-selected").count() == 0  # a viewer cannot delete


def test_sort_and_search_from_the_grid_form(page, studio_server, project_team, grid):
    project, _ = grid
    sign_in(page.context, studio_server.url, project_team["users"]["viewer"])
    page.goto(reverse("project-images", args=[project.pk]))
    page.select_option("select[name=sort]", "boxes")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**sort=boxes**")
    assert page.evaluate(DRAWN)[0]["name"] == "001.png"  # 3 boxes first
    page.fill("input[name=q]", "002")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**q=002**")
    assert [d["name"] for d in page.evaluate(DRAWN)] == ["002.png"]
    assert page.locator("[data-testid=image-count]").text_content() == "(1)"


def test_delete_selected_images_after_confirming(page, studio_server, project_team, grid):
    project, images = grid
    sign_in(page.context, studio_server.url, project_team["users"]["owner"])
    page.goto(reverse("project-images", args=[project.pk]))
    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.check(f"input.pick[value='{images[0].pk}']")
    page.check(f"input.pick[value='{images[1].pk}']")
    page.click("#delete-selected")
    page.wait_for_selector("#split-status:has-text('Nothing deleted.')")
    assert Image.objects.filter(project=project).count() == 3
    assert "Delete these 2 images with their boxes and history?" in questions[0]

    page.once("dialog", lambda dialog: answer(dialog, True))
    with page.expect_navigation():
        page.click("#delete-selected")
    assert list(Image.objects.filter(project=project)) == [images[2]]
    assert not Annotation.objects.filter(image__project=project).exists()
    assert [d["name"] for d in page.evaluate(DRAWN)] == ["002.png"]
    assert page.locator("[data-testid=image-count]").text_content() == "(1)"


def test_a_health_warning_leads_to_the_images_concerned(page, studio_server, project_team, grid):
    project, images = grid
    dust = Category.objects.create(project=project, name="dust", color="#0000ff")
    Annotation.objects.create(image=images[2], category=dust, x=5, y=5, w=2, h=50, area=100)
    sign_in(page.context, studio_server.url, project_team["users"]["viewer"])
    page.goto(reverse("project-health", args=[project.pk]))
    tiny = page.locator("[data-testid=health-warning][data-kind=tiny]")
    assert tiny.inner_text().startswith("1 tiny box")
    tiny.locator("a:has-text('Show the images')").click()
    page.wait_for_url("**/images/?boxes=tiny")
    assert [d["name"] for d in page.evaluate(DRAWN)] == ["002.png"]
    assert page.locator("select[name=boxes]").input_value() == "tiny"


def test_an_owner_assigns_images_and_the_annotator_finds_them(
    page, studio_server, project_team, grid
):
    project, images = grid
    users = project_team["users"]
    sign_in(page.context, studio_server.url, users["owner"])
    page.goto(reverse("project-detail", args=[project.pk]))
    page.fill("#assign-form input[name=count]", "5")
    page.select_option("#assign-form select[name=username]", "annotator")
    with page.expect_navigation():
        page.click("#assign-form button[type=submit]")
    row = page.locator("#jobs tr[data-assignee=annotator] td")
    assert row.all_inner_texts() == ["annotator", "1", "0", "1"]  # the one untagged image
    assert Image.objects.get(assigned_to=users["annotator"]) == images[2]

    page.context.clear_cookies()
    sign_in(page.context, studio_server.url, users["annotator"])
    page.goto(reverse("project-images", args=[project.pk]))
    page.click("[data-testid=my-images]")
    page.wait_for_url("**assignee=*")
    assert [d["name"] for d in page.evaluate(DRAWN)] == ["002.png"]
