"""The studio on a phone (390x844, touch): the navigation folds behind "Menu", the
editor's canvas takes the screen with the side panel as a drawer, and a finger draws,
moves and resizes boxes (real touch input through Chromium's DevTools protocol)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.editor_pages import (
    close_to,
    db_boxes,
    editor_url,
    idle,
    make_classes,
    make_images,
    screen,
    sign_in,
    state,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, studio_server):
    context = browser.new_context(
        base_url=studio_server.url, viewport=PHONE, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def touch_drag(page, start, end, steps: int = 6) -> None:
    """A finger from image pixel ``start`` to ``end``."""
    cdp = page.context.new_cdp_session(page)
    (x0, y0), (x1, y1) = screen(page, *start), screen(page, *end)
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]}
    )
    for i in range(1, steps + 1):
        x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_phone_menu_editor_drawer_and_touch(phone, studio_server, project_team):
    project = project_team["project"]
    rbc, wbc = make_classes(project)
    [image] = make_images(project, 1)
    sign_in(phone.context, studio_server.url, project_team["users"]["annotator"])

    phone.goto(reverse("project-list"))
    projects_link = phone.locator("#site-nav a", has_text="Projects")
    assert not projects_link.is_visible()  # folded
    phone.get_by_test_id("nav-toggle").click()
    assert projects_link.is_visible()

    phone.goto(editor_url(image))
    wait_ready(phone)
    canvas = phone.locator("#layer-overlay").bounding_box()
    assert canvas["width"] >= 389 and canvas["height"] >= 0.8 * PHONE["height"] - 100
    assert state(phone)["view"]["scale"] > 0.4  # 800 px wide image fitted to 390 px
    assert phone.evaluate("document.documentElement.scrollHeight") <= PHONE["height"] + 1
    side = phone.locator("#editor-side")
    assert side.bounding_box()["x"] >= PHONE["width"] - 1  # the drawer is shut
    phone.get_by_test_id("side-toggle").tap()  # a finger, as on a phone
    phone.wait_for_timeout(300)  # its slide
    box = side.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"] + 1 and box["x"] < PHONE["width"] - 200
    phone.locator(f"#classes li[data-category='{wbc.pk}'] .class-pick").tap()
    phone.get_by_test_id("side-close").tap()
    phone.wait_for_timeout(300)
    assert state(phone)["currentClass"] == wbc.pk

    scale = state(phone)["view"]["scale"]
    tolerance = 1 / scale + 0.5
    touch_drag(phone, (100, 100), (300, 250))  # draw
    [drawn] = state(phone)["boxes"]
    assert drawn["category_id"] == wbc.pk
    assert close_to(drawn["bbox"], [100, 100, 200, 150], tolerance), drawn
    touch_drag(phone, (200, 175), (240, 195))  # move by (40, 20)
    assert close_to(state(phone)["boxes"][0]["bbox"], [140, 120, 200, 150], tolerance)
    # The SE handle (340, 270), by a finger 20 image pixels off it (about 10 screen
    # pixels: beyond the mouse's reach of 7, within a finger's 16).
    touch_drag(phone, (360, 290), (420, 340))
    [resized] = state(phone)["boxes"]
    x, y, w, h = resized["bbox"]
    assert close_to([x, y], [140, 120], tolerance), resized  # the NW corner stays
    assert w > 240 and h > 180, resized  # a resize, not a new box or a move
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    idle(phone)
    assert [row[0] for row in db_boxes(image)] == ["WBC"]
