"""Class keys in the box editor: a key chooses the class of the NEXT box (the box just
drawn stays selected and keeps its class); Shift + the key, or the side list's button,
changes the selected box's class; the editor says which is which."""

from __future__ import annotations

import pytest

from tests.browser.editor_pages import (
    click,
    db_boxes,
    drag,
    idle,
    make_classes,
    make_images,
    open_as,
    state,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_press_1_draw_press_2_draw_gives_two_classes(page, studio_server, project_team):
    project = project_team["project"]
    rbc, wbc = make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    page.keyboard.press("1")
    drag(page, (100, 100), (250, 220))
    assert state(page)["selected"] == 0  # the box just drawn stays selected...
    page.keyboard.press("2")  # ...and the key is for the next box
    assert state(page)["boxes"][0]["category_id"] == rbc.pk
    assert state(page)["currentClass"] == wbc.pk
    drag(page, (400, 300), (520, 420))
    assert [b["category_id"] for b in state(page)["boxes"]] == [rbc.pk, wbc.pk]
    idle(page)
    assert [row[0] for row in db_boxes(image)] == ["RBC", "WBC"]


def test_shift_key_and_the_side_list_change_the_selected_box(page, studio_server, project_team):
    project = project_team["project"]
    rbc, wbc = make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    hint = page.get_by_test_id("class-hint")
    assert "next box" in hint.inner_text()
    drag(page, (100, 100), (250, 220))  # RBC, the first class
    assert "Shift+2" in hint.inner_text()  # what the keys do to the selected box
    page.keyboard.press("Shift+Digit2")
    assert state(page)["boxes"][0]["category_id"] == wbc.pk
    assert state(page)["currentClass"] == rbc.pk  # the next box's class is unchanged
    page.keyboard.press("Control+z")
    assert state(page)["boxes"][0]["category_id"] == rbc.pk

    apply_wbc = page.locator(f"#classes li[data-category='{wbc.pk}'] .class-apply")
    assert apply_wbc.is_visible()
    apply_wbc.click()  # the side list's separate, visible action
    assert state(page)["boxes"][0]["category_id"] == wbc.pk

    page.keyboard.press("Escape")  # nothing selected: no box to change
    assert not apply_wbc.is_visible()
    page.keyboard.press("Shift+Digit1")
    assert state(page)["boxes"][0]["category_id"] == wbc.pk
    assert "Select a box" in page.locator("#stage-message").inner_text()
    click(page, 170, 160)
    page.keyboard.press("Shift+Digit1")
    assert state(page)["boxes"][0]["category_id"] == rbc.pk

    page.keyboard.press("?")
    help_text = page.locator("#help").inner_text()
    assert "class of the next box" in help_text and "Shift + class key" in help_text
    page.keyboard.press("Escape")
    idle(page)
    assert [row[0] for row in db_boxes(image)] == ["RBC"]
