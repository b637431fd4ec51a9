"""The editor never loses work: conflicts between two people, lost answers, offline
edits, reloads and closing the tab, in Chromium against the live server."""

from __future__ import annotations

import pytest

from labeling.models import AnnotationChange
from tests.browser.editor_pages import (
    VIEWPORT,
    db_boxes,
    db_rects,
    drag,
    idle,
    make_classes,
    make_images,
    open_as,
    open_editor,
    sign_in,
    state,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ANNOTATIONS = "**/annotations"


def _save_state(page) -> str:
    return page.get_by_test_id("save-state").get_attribute("data-state")


def _wait_save_state(page, wanted: str) -> None:
    page.wait_for_function(
        "(wanted) => document.querySelector('[data-testid=save-state]').dataset.state === wanted",
        arg=wanted,
    )


def _stored_keys(page) -> list[str]:
    return page.evaluate(
        "Object.keys(localStorage).filter((key) => key.startsWith('studio.editor'))"
    )


@pytest.fixture
def two_pages(browser, studio_server, project_team):
    """The annotator and the owner, each in their own browser."""
    pages = []
    contexts = []
    for role in ("annotator", "owner"):
        context = browser.new_context(base_url=studio_server.url, viewport=VIEWPORT)
        sign_in(context, studio_server.url, project_team["users"][role])
        page = context.new_page()
        page.set_default_timeout(15_000)
        contexts.append(context)
        pages.append(page)
    yield pages
    for context in contexts:
        context.close()


def test_conflict_shows_and_lets_each_keep_theirs_or_take_the_other(two_pages, project_team):
    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    alice, bob = two_pages  # annotator, owner
    open_editor(alice, image)
    open_editor(bob, image)  # both start from version 0

    drag(alice, (100, 100), (200, 200))
    idle(alice)
    assert len(db_boxes(image)) == 1

    drag(bob, (300, 300), (400, 400))  # based on version 0: refused with 409
    bob.wait_for_selector("#conflict", state="visible")
    text = bob.locator("#conflict-text").inner_text()
    assert "Version 1 was saved by annotator" in text and "1 box(es)" in text
    assert _save_state(bob) == "conflict"
    assert db_rects(image) == [(100, 100, 100, 100)]  # nothing overwritten

    bob.click("#conflict-theirs")  # take the annotator's boxes
    assert [b["bbox"] for b in state(bob)["boxes"]] == [list(db_boxes(image)[0][1:5])]
    assert state(bob)["version"] == 1 and _save_state(bob) == "saved"
    drag(bob, (500, 300), (600, 400))  # on version 1 now: saved as version 2
    idle(bob)
    assert len(db_boxes(image)) == 2

    drag(alice, (100, 300), (200, 400))  # the annotator is still on version 1
    alice.wait_for_selector("#conflict", state="visible")
    alice.click("#conflict-mine")  # keeps hers, knowingly
    idle(alice)
    assert db_rects(image) == [(100, 100, 100, 100), (100, 300, 100, 100)]
    changes = AnnotationChange.objects.filter(image=image).order_by("id")
    assert [c.version for c in changes] == [1, 2, 3]
    assert [round(v) for v in changes[2].before[-1]["bbox"]] == [500, 300, 100, 100]  # kept


def test_a_save_whose_answer_was_lost_is_applied_once(page, studio_server, project_team):
    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)
    sent = []

    def lose_the_first_answer(route):
        if route.request.method != "PUT":
            route.continue_()
            return
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server applies the save...
            route.abort()  # ...and its answer is lost on the way (a timeout)
        else:
            route.continue_()

    page.route(ANNOTATIONS, lose_the_first_answer)
    drag(page, (100, 100), (200, 200))
    _wait_save_state(page, "offline")
    idle(page)  # retried by itself
    assert len(sent) == 2 and sent[0]["request_id"] == sent[1]["request_id"]
    assert sent[0]["base_version"] == sent[1]["base_version"] == 0
    assert len(db_boxes(image)) == 1
    assert AnnotationChange.objects.filter(image=image).count() == 1
    assert state(page)["version"] == 1 and state(page)["boxes"][0]["id"] is not None
    assert _stored_keys(page) == []


def test_offline_edits_are_kept_in_the_browser_and_sent_when_online(
    page, studio_server, project_team
):
    project = project_team["project"]
    make_classes(project)
    [image] = make_images(project, 1)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    page.context.set_offline(True)
    drag(page, (100, 100), (200, 200))
    _wait_save_state(page, "offline")
    assert "kept in this browser" in page.get_by_test_id("save-state").inner_text()
    assert len(_stored_keys(page)) == 1
    drag(page, (300, 300), (350, 350))  # more edits while offline
    assert db_boxes(image) == []

    page.context.set_offline(False)
    _wait_save_state(page, "saved")
    idle(page)
    assert db_rects(image) == [(100, 100, 100, 100), (300, 300, 50, 50)]
    assert _stored_keys(page) == []


def test_unsaved_edits_survive_a_reload_and_leaving_warns(page, studio_server, project_team):
    project = project_team["project"]
    make_classes(project)
    first, second = make_images(project, 2)
    open_as(page, studio_server.url, project_team["users"]["annotator"], first)
    page.route(
        ANNOTATIONS, lambda r: r.abort() if r.request.method == "PUT" else r.continue_()
    )  # the server never gets the saves

    drag(page, (100, 100), (200, 200))
    _wait_save_state(page, "offline")
    page.keyboard.press("d")
    page.wait_for_function(f"window.__editor.state().imageId === {second.pk}")
    drag(page, (300, 300), (400, 400))
    _wait_save_state(page, "offline")
    assert len(_stored_keys(page)) == 2

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    page.reload()  # leaving with unsaved edits asks first
    wait_ready(page)
    assert dialogs == ["beforeunload"]
    assert state(page)["imageId"] == second.pk
    assert [[round(v) for v in b["bbox"]] for b in state(page)["boxes"]] == [[300, 300, 100, 100]]
    # Restored from this browser, and being sent again (the keepalive request sent while
    # the page unloaded may have reached the server: its request id makes it apply once).
    _wait_save_state(page, "offline")
    assert len(_stored_keys(page)) == 2

    page.unroute(ANNOTATIONS)
    page.keyboard.press("Control+s")  # save now: every image with kept edits
    idle(page)
    assert db_rects(first) == [(100, 100, 100, 100)]
    assert db_rects(second) == [(300, 300, 100, 100)]
    assert AnnotationChange.objects.filter(image__in=[first, second]).count() == 2
    assert _stored_keys(page) == []
