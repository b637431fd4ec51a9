"""Marking an image as having no objects, review by an owner, history and revert, and the
read-only editor of a viewer, in Chromium."""

from __future__ import annotations

import pytest

from labeling.annotations import annotations_save
from labeling.models import Image
from tests.browser.editor_pages import (
    db_rects,
    drag,
    idle,
    make_classes,
    make_images,
    open_as,
    state,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _status(page) -> str:
    return page.get_by_test_id("image-status").inner_text()


def test_mark_as_no_objects(page, studio_server, project_team):
    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)
    assert _status(page) == "unlabeled"

    page.keyboard.press("n")
    idle(page)
    image.refresh_from_db()
    assert (image.no_objects, image.status, image.annotations.count()) == (True, "labeled", 0)
    assert _status(page) == "labeled" and page.locator("#no-objects").is_checked()

    drag(page, (100, 100), (200, 200))  # a box: the mark goes, in the same edit
    assert state(page)["noObjects"] is False
    page.keyboard.press("n")  # refused while there are boxes
    assert "Delete the boxes first" in page.locator("#stage-message").inner_text()
    idle(page)
    image.refresh_from_db()
    assert (image.no_objects, image.status) == (False, "labeled")

    page.keyboard.press("Delete")  # deleting the selected box leaves an image in progress
    idle(page)
    image.refresh_from_db()
    assert (image.no_objects, image.status, db_rects(image)) == (False, "in_progress", [])
    page.click("#no-objects")  # the checkbox marks it too
    idle(page)
    image.refresh_from_db()
    assert (image.no_objects, image.status) == (True, "labeled")


def test_owner_reviews_and_reverts_from_the_history(page, studio_server, project_team):
    project = project_team["project"]
    rbc, _ = make_classes(project)
    first, second = make_images(project, 2)
    annotator = project_team["users"]["annotator"]
    box = {"category_id": rbc.pk, "bbox": [10, 10, 50, 50]}
    moved = {"category_id": rbc.pk, "bbox": [100, 100, 50, 50]}
    annotations_save(image=first, user=annotator, base_version=0, boxes=[box])
    annotations_save(image=first, user=annotator, base_version=1, boxes=[box, moved])
    open_as(page, studio_server.url, project_team["users"]["owner"], first)
    assert "annotator" in page.locator("#review-facts").inner_text()  # who labeled it

    page.click("#review-accept")
    page.wait_for_function(
        "document.querySelector('[data-testid=image-status]').textContent === 'reviewed'"
    )
    first.refresh_from_db()
    assert (first.status, first.reviewed_by.username) == ("reviewed", "owner")
    assert "owner" in page.locator("#review-facts").inner_text()

    page.click("#review-reject")  # a rejection needs a comment
    error = page.locator("#review-form .error")
    error.wait_for(state="visible")
    assert "needs a comment" in error.inner_text()
    page.fill("#review-form textarea", "The second box is not a cell.")
    page.click("#review-reject")
    page.wait_for_function(
        "document.querySelector('[data-testid=image-status]').textContent === 'rejected'"
    )
    first.refresh_from_db()
    assert (first.status, first.review_comment) == ("rejected", "The second box is not a cell.")

    page.locator("#history summary").click()
    rows = page.locator("#history-list li")
    rows.nth(1).wait_for()
    assert rows.count() == 2 and "v2" in rows.first.inner_text()
    rows.nth(1).locator(".history-revert").click()  # back to version 1's boxes
    page.wait_for_function("window.__editor.state().version === 3")
    assert db_rects(first) == [(10, 10, 50, 50)]
    assert [b["bbox"] for b in state(page)["boxes"]] == [[10, 10, 50, 50]]
    page.locator("#history-list li").nth(2).wait_for()
    assert "revert" in page.locator("#history-list li").first.inner_text()
    idle(page)
    assert Image.objects.get(pk=first.pk).annotation_version == 3  # no extra save


def test_viewer_gets_a_read_only_editor(page, studio_server, project_team):
    project = project_team["project"]
    rbc, _ = make_classes(project)
    [image] = make_images(project, 1)
    owner = project_team["users"]["owner"]
    box = {"category_id": rbc.pk, "bbox": [10, 10, 50, 50]}
    annotations_save(image=image, user=owner, base_version=0, boxes=[box])
    writes = []
    page.on("request", lambda r: r.method not in ("GET", "HEAD") and writes.append(r.url))
    open_as(page, studio_server.url, project_team["users"]["viewer"], image)

    assert page.get_by_test_id("read-only").is_visible()
    drag(page, (100, 100), (200, 200))
    drag(page, (30, 30), (300, 300))  # neither draws nor moves
    page.keyboard.press("n")
    page.keyboard.press("Delete")
    assert [b["bbox"] for b in state(page)["boxes"]] == [[10, 10, 50, 50]]
    assert page.locator("#review-form, #undo, #keys-edit").count() == 0
    page.locator("#history summary").click()
    page.locator("#history-list li").first.wait_for()
    assert page.locator(".history-revert").count() == 0
    assert writes == []


def test_history_names_an_import(page, studio_server, project_team):
    """A change made by a dataset import reads "import" in the history, not "save"."""
    from labeling.models import AnnotationChange

    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    owner = project_team["users"]["owner"]
    Image.objects.filter(pk=image.pk).update(annotation_version=1)
    AnnotationChange.objects.create(
        image=image, version=1, kind=AnnotationChange.Kind.IMPORT, user=owner, after=[]
    )
    open_as(page, studio_server.url, owner, image)
    page.locator("#history summary").click()
    row = page.locator("#history-list li").first
    row.wait_for()
    assert " import by owner" in row.inner_text()
