"""The box editor in Chromium: draw, select, move, resize, classes, undo/redo, zoom and
reload, with the boxes checked in the database in original-image pixels."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Annotation, Category
from tests.browser.conftest import log_in
from tests.browser.editor_pages import (
    VIEWPORT,
    click,
    close_to,
    db_boxes,
    drag,
    idle,
    make_classes,
    make_images,
    open_as,
    screen,
    sign_in,
    state,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "editor-Long-pass-11"


def _bbox(page, index: int) -> list[float]:
    return state(page)["boxes"][index]["bbox"]


def test_draw_move_resize_class_undo_redo_and_reload_at_two_zooms(page, project_team):
    project = project_team["project"]
    annotator = project_team["users"]["annotator"]
    annotator.set_password(PASSWORD)
    annotator.save()
    rbc, wbc = make_classes(project)
    image, _ = make_images(project, 2)
    page.set_viewport_size(VIEWPORT)

    log_in(page, "annotator", PASSWORD)
    page.wait_for_url("**/projects/")
    page.goto(reverse("project-images", args=[project.pk]))
    page.locator(f"#thumbs li[data-image='{image.pk}'] a").click()  # from the grid
    page.wait_for_url(f"**/projects/{project.pk}/annotate/{image.pk}/**")
    wait_ready(page)
    first = state(page)
    assert first["boxes"] == [] and first["status"] == "unlabeled"
    fit_scale = first["view"]["scale"]
    assert 1.2 < fit_scale < 1.5  # the 800x600 image fitted to the stage

    # Zoom 1 (fit): box A, drawn with the mouse.
    drag(page, (100, 100), (300, 250))
    tolerance = 1 / fit_scale + 0.01
    [a] = state(page)["boxes"]
    assert a["category_id"] == rbc.pk
    assert close_to(a["bbox"], [100, 100, 200, 150], tolerance), a

    # Zoom 2 (100%, then three steps in: 195%): box B, then resize A and move B.
    page.keyboard.press("o")
    for _ in range(3):
        page.keyboard.press("+")
    zoom = state(page)["view"]["scale"]
    assert zoom == pytest.approx(1.25**3)
    assert page.get_by_test_id("zoom-level").inner_text() == "195%"
    drag(page, (350, 250), (450, 330))
    tolerance = max(tolerance, 1 / zoom + 0.01)
    assert close_to(_bbox(page, 1), [350, 250, 100, 80], tolerance)

    click(page, 200, 175)  # select A (the click does not move it)
    assert state(page)["selected"] == 0
    a_now = _bbox(page, 0)
    drag(page, (a_now[0] + a_now[2], a_now[1] + a_now[3]), (330, 270))  # its SE handle
    assert close_to(_bbox(page, 0), [a_now[0], a_now[1], 230, 170], tolerance)

    b_now = _bbox(page, 1)
    drag(page, (400, 290), (420, 300))  # inside B: moves it by (20, 10)
    assert state(page)["selected"] == 1
    assert close_to(_bbox(page, 1), [b_now[0] + 20, b_now[1] + 10, 100, 80], 0.02)

    # The selected box's class by Shift + its key, then undo and redo it.
    page.keyboard.press("Shift+Digit2")
    assert state(page)["boxes"][1]["category_id"] == wbc.pk
    page.keyboard.press("Control+z")
    assert state(page)["boxes"][1]["category_id"] == rbc.pk
    page.keyboard.press("Control+Shift+z")
    assert state(page)["boxes"][1]["category_id"] == wbc.pk
    expected = state(page)["boxes"]
    assert state(page)["undo"] == 5  # draw, draw, resize, move, class

    idle(page)
    assert page.get_by_test_id("save-state").get_attribute("data-state") == "saved"
    page.reload()
    wait_ready(page)
    reloaded = state(page)
    assert [b["bbox"] for b in reloaded["boxes"]] == [b["bbox"] for b in expected]
    assert reloaded["status"] == "labeled"
    rows = db_boxes(image)
    assert [r[0] for r in rows] == ["RBC", "WBC"]
    for row, box in zip(rows, expected, strict=True):
        assert list(row[1:5]) == pytest.approx(box["bbox"])
        assert row[5] == pytest.approx(box["bbox"][2] * box["bbox"][3])
    assert close_to(list(rows[0][1:5]), [100, 100, 230, 170], tolerance)
    assert close_to(list(rows[1][1:5]), [370, 260, 100, 80], tolerance)


def test_delete_tiny_boxes_clamping_copy_paste_hide_and_help(page, studio_server, project_team):
    project = project_team["project"]
    rbc, wbc = make_classes(project)
    image, _ = make_images(project, 2)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    drag(page, (10, 10), (13, 11), steps=2)  # under 2x2 image pixels: not kept
    assert state(page)["boxes"] == []
    assert "smaller than 2×2" in page.locator("#stage-message").inner_text()

    page.keyboard.press("-")  # zoomed out a little: room around the image
    drag(page, (700, 500), (850, 650))  # past the corner: clamped to the image
    [box] = state(page)["boxes"]
    assert box["bbox"][0] + box["bbox"][2] == pytest.approx(800)
    assert box["bbox"][1] + box["bbox"][3] == pytest.approx(600)

    page.locator("#classes li").nth(1).locator(".class-apply").click()  # WBC from the list
    assert state(page)["boxes"][0]["category_id"] == wbc.pk
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")  # a copy next to it (10 px away, kept in the image)
    boxes = state(page)["boxes"]
    assert len(boxes) == 2 and boxes[1]["category_id"] == wbc.pk
    assert boxes[1]["bbox"] != boxes[0]["bbox"]

    page.locator("#boxes li").first.click()  # the box list selects
    assert state(page)["selected"] == 0
    page.keyboard.press("Delete")
    assert len(state(page)["boxes"]) == 1

    wbc_toggle = page.locator(f"#classes li[data-category='{wbc.pk}'] .class-visible")
    wbc_toggle.uncheck()
    page.wait_for_selector("#boxes li.hidden-box")
    click(page, 750, 550)  # a hidden box cannot be picked
    assert state(page)["selected"] is None
    wbc_toggle.check()

    page.keyboard.press("?")
    help_text = page.locator("#help").inner_text()
    for shortcut in ("Ctrl+Z", "Delete", "Ctrl+C", "Space", "Escape", "repeat the previous"):
        assert shortcut in help_text
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden()

    idle(page)
    assert [r[0] for r in db_boxes(image)] == ["WBC"]


def test_next_previous_follow_the_grid_filter_prefetch_and_repeat_boxes(
    page, studio_server, project_team
):
    project = project_team["project"]
    rbc, _ = make_classes(project)
    images = make_images(project, 5)
    labeled = images[1]
    Annotation.objects.create(image=labeled, category=rbc, x=1, y=1, w=9, h=9, area=81)
    labeled.status = "labeled"
    labeled.save()
    page.set_viewport_size(VIEWPORT)
    sign_in(page.context, studio_server.url, project_team["users"]["annotator"])

    page.goto(reverse("project-images", args=[project.pk]) + "?status=unlabeled")
    page.locator("#thumbs li").first.locator("a").click()
    wait_ready(page)
    assert state(page)["imageId"] == images[0].pk
    assert page.get_by_test_id("position").inner_text() == "1 / 4"
    drag(page, (100, 100), (200, 180))
    page.wait_for_function(f"window.__editor.state().prefetched.includes({images[2].pk})")

    page.keyboard.press("d")  # skips the labeled image: the grid's filter
    page.wait_for_function(f"window.__editor.state().imageId === {images[2].pk}")
    assert "status=unlabeled" in page.url and f"/annotate/{images[2].pk}/" in page.url
    page.keyboard.press("p")  # the previous image's boxes, here
    [repeated] = state(page)["boxes"]
    assert close_to(repeated["bbox"], [100, 100, 100, 80], 1)

    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"window.__editor.state().imageId === {images[3].pk}")
    page.keyboard.press("a")
    page.wait_for_function(f"window.__editor.state().imageId === {images[2].pk}")
    assert len(state(page)["boxes"]) == 1  # its edits, still here
    page.keyboard.press("Control+z")
    assert state(page)["boxes"] == []  # and its undo history
    page.keyboard.press("Control+Shift+z")
    idle(page)
    assert len(db_boxes(images[0])) == len(db_boxes(images[2])) == 1
    assert page.locator("#back-to-grid").get_attribute("href").endswith("?status=unlabeled")


def test_class_keys_change_with_a_conflict_check(page, studio_server, project_team):
    project = project_team["project"]
    rbc, wbc = make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    page.click("#keys-edit")
    rbc_key = page.get_by_label("Key of RBC")
    wbc_key = page.get_by_label("Key of WBC")
    wbc_key.fill("1")  # RBC has it
    page.click("#keys-form button[type=submit]")
    assert "given to two classes" in page.locator("#keys-form .error").inner_text()
    wbc_key.fill("d")  # the editor's "next image"
    page.click("#keys-form button[type=submit]")
    assert "editor's own keys" in page.locator("#keys-form .error").inner_text()

    rbc_key.fill("2")  # a swap, in one request
    wbc_key.fill("1")
    page.click("#keys-form button[type=submit]")
    page.wait_for_selector("#keys-form", state="hidden")
    assert dict(Category.objects.filter(project=project).values_list("name", "shortcut")) == {
        "RBC": "2",
        "WBC": "1",
    }
    page.keyboard.press("1")
    drag(page, (50, 50), (150, 150))
    assert state(page)["boxes"][0]["category_id"] == wbc.pk


def test_zoom_and_pan_keep_boxes_in_image_pixels(page, studio_server, project_team):
    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    x, y = screen(page, 400, 300)
    page.mouse.move(x, y)
    for _ in range(12):
        page.mouse.wheel(0, -300)  # zoom in at the pointer, up to the cap
    view = state(page)["view"]
    assert view["scale"] == pytest.approx(16)  # at least 8x
    canvas = page.locator("#layer-overlay").bounding_box()
    under = [(x - canvas["x"] - view["ox"]) / 16, (y - canvas["y"] - view["oy"]) / 16]
    assert close_to(under, [400, 300], 0.5)  # the image point stayed under the pointer

    page.keyboard.down("Space")  # pan with space + drag
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 160, y - 80, steps=4)
    page.mouse.up()
    page.keyboard.up("Space")
    assert state(page)["boxes"] == []  # panning draws nothing
    after = state(page)["view"]
    assert (after["ox"] - view["ox"], after["oy"] - view["oy"]) == pytest.approx((-160, -80))

    drag(page, (405, 302), (410, 306))  # 5x4 image pixels, drawn at 1600%
    [box] = state(page)["boxes"]
    assert close_to(box["bbox"], [405, 302, 5, 4], 1 / 16 + 0.01)
    page.mouse.move(x, y)
    page.mouse.down(button="middle")  # pan with the middle button too
    page.mouse.move(x + 40, y, steps=2)
    page.mouse.up(button="middle")
    assert state(page)["view"]["ox"] == pytest.approx(after["ox"] + 40)
    page.keyboard.press("f")
    assert page.get_by_test_id("zoom-level").inner_text() == "133%"
    idle(page)
    [row] = db_boxes(image)
    assert close_to(list(row[1:5]), [405, 302, 5, 4], 1 / 16 + 0.01)
