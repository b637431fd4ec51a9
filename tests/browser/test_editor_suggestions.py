"""Model-assisted labeling in the box editor, in Chromium: a tiny trained model pre-labels
images (through a real worker process), the editor shows its suggestions dashed with
their score, and the database holds exactly what the person accepted."""
# ruff: noqa: F811 - the tests take the imported fixtures as arguments

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from labeling.models import Annotation, AnnotationChange, Image, Suggestion, SuggestionStatus
from tests.browser.editor_pages import drag, idle, open_as, open_editor, state
from tests.training.conftest import WORKER_ENV, model_version, tiny_trained  # noqa: F401
from tests.training.prelabel_helpers import add_categories, add_images
from training import inference
from training.models import PrelabelJob, PrelabelStatus
from training.prelabel import prelabel_execute, prelabel_start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
THRESHOLD = 0.06  # the barely trained model scores about 0.07-0.08 at best


def _wait_job(job_id: int, timeout: float) -> PrelabelJob:
    deadline = time.monotonic() + timeout
    while True:
        job = PrelabelJob.objects.get(pk=job_id)
        if job.is_finished or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _richest(images: list[Image]) -> Image:
    """The image with the most pending suggestions (at least three: one accepted, one
    rejected, the rest left pending)."""
    image = max(images, key=lambda i: Suggestion.objects.filter(image=i).count())
    assert Suggestion.objects.filter(image=image, status=SuggestionStatus.PENDING).count() >= 3
    return image


def _pending(image: Image) -> list[Suggestion]:
    return list(
        Suggestion.objects.filter(image=image, status=SuggestionStatus.PENDING).order_by(
            "-score", "id"
        )
    )


def _statuses(image: Image) -> dict[int, str]:
    return dict(Suggestion.objects.filter(image=image).values_list("id", "status"))


def _row(page, suggestion: Suggestion):
    return page.locator(f"#suggestion-list li[data-suggestion='{suggestion.pk}']")


def test_a_worker_prelabels_then_the_editor_accepts_one_and_rejects_another(
    page, studio_server, model_version, tiny_trained, project_team, api_client_for, worker_factory
):
    inference.session_cache().clear()
    project = project_team["project"]
    categories = add_categories(project)
    images = add_images(project, tiny_trained, indices=(1, 2, 3))
    annotator = project_team["users"]["annotator"]
    worker = worker_factory(**WORKER_ENV)
    response = api_client_for(annotator).post(
        reverse("api-prelabel-jobs", args=[project.pk]),
        {"model": model_version.pk, "threshold": THRESHOLD, "confirm": True},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = _wait_job(response.json()["id"], timeout=120)
    assert job.status == PrelabelStatus.SUCCEEDED, (job.error, worker.log_path.read_text()[-3000:])
    assert Annotation.objects.count() == 0  # suggestions only
    image = _richest(images)
    accept, reject, *rest = _pending(image)

    open_as(page, studio_server.url, annotator, image)
    shown = state(page)["suggestions"]
    assert [s["id"] for s in shown] == [s.pk for s in [accept, reject, *rest]]
    assert shown[0]["bbox"] == [accept.x, accept.y, accept.w, accept.h]
    assert state(page)["boxes"] == []  # suggestions are no boxes
    name = {c.pk: c.name for c in categories.values()}[accept.category_id]
    assert _row(page, accept).inner_text().strip().startswith(f"{name} {accept.score:.2f}")
    assert page.locator("#suggestion-count").inner_text() == f"({len(shown)})"

    # Accept one: select it (its row), Shift+A (A alone is "previous image").
    _row(page, accept).click()
    assert state(page)["selectedSuggestion"] == accept.pk
    page.keyboard.press("Shift+A")
    now = state(page)
    assert now["boxes"] == [
        {
            "id": None,
            "category_id": accept.category_id,
            "bbox": [accept.x, accept.y, accept.w, accept.h],
            "suggestion_id": accept.pk,
        }
    ]
    assert now["selectedSuggestion"] == reject.pk  # on to the next one
    # Reject another with its button.
    _row(page, reject).locator(".suggestion-reject").click()
    assert [s["id"] for s in state(page)["suggestions"]] == [s.pk for s in rest]
    idle(page)
    assert state(page)["save"] == "saved"

    # Exactly the accepted box, as a normal, human-confirmed annotation.
    [box] = Annotation.objects.filter(image=image)
    assert Annotation.objects.count() == 1
    assert (box.category_id, [box.x, box.y, box.w, box.h]) == (
        accept.category_id,
        [accept.x, accept.y, accept.w, accept.h],
    )
    assert box.created_by_id == annotator.pk
    statuses = _statuses(image)
    assert statuses.pop(accept.pk) == SuggestionStatus.ACCEPTED
    assert statuses.pop(reject.pk) == SuggestionStatus.REJECTED
    assert set(statuses.values()) == {SuggestionStatus.PENDING}
    assert Suggestion.objects.get(pk=accept.pk).annotation_id == box.pk
    assert Suggestion.objects.exclude(image=image).exclude(status="pending").count() == 0
    changes = AnnotationChange.objects.filter(image=image)
    [change] = [c for c in changes if any("origin" in b for b in c.after)]
    assert change.after == [
        {
            "id": box.pk,
            "category_id": box.category_id,
            "bbox": [box.x, box.y, box.w, box.h],
            "area": box.area,
            "origin": {
                "suggestion_id": accept.pk,
                "model_id": model_version.pk,
                "model_version": model_version.version,
                "job": job.pk,
                "score": accept.score,
            },
        }
    ]

    # The history shows where the box came from.
    page.click("#history summary")
    origin = f"{name} from model v{model_version.version}, score {accept.score:.2f}"
    page.locator(".history-origin", has_text=origin).wait_for()

    # A reload shows the box and the suggestions still pending only.
    open_editor(page, image)
    assert [s["id"] for s in state(page)["suggestions"]] == [s.pk for s in rest]
    assert [b["id"] for b in state(page)["boxes"]] == [box.pk]


def test_undo_of_an_accept_and_adjust_then_accept(
    page, studio_server, model_version, tiny_trained, project_team
):
    inference.session_cache().clear()
    project = project_team["project"]
    add_categories(project)
    images = add_images(project, tiny_trained, indices=(1, 2, 3))
    job = prelabel_start(project=project, model=model_version, user=None, threshold=THRESHOLD)
    assert prelabel_execute(job.pk) == PrelabelStatus.SUCCEEDED  # the worker's part, in-process
    image = _richest(images)
    first, second, *_ = _pending(image)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)

    # Accept (Enter), saved; undo: the box goes, the suggestion is pending again.
    _row(page, first).click()
    page.keyboard.press("Enter")
    idle(page)
    [box] = Annotation.objects.filter(image=image)
    assert _statuses(image)[first.pk] == SuggestionStatus.ACCEPTED
    page.keyboard.press("Control+z")
    now = state(page)
    assert now["boxes"] == [] and first.pk in [s["id"] for s in now["suggestions"]]
    idle(page)
    assert Annotation.objects.filter(image=image).count() == 0
    reopened = Suggestion.objects.get(pk=first.pk)
    assert (reopened.status, reopened.annotation_id) == (SuggestionStatus.PENDING, None)
    # Redo: accepted again, as a new box.
    page.keyboard.press("Control+Shift+z")
    idle(page)
    [again] = Annotation.objects.filter(image=image)
    assert Suggestion.objects.get(pk=first.pk).annotation_id == again.pk != box.pk

    # Adjust then accept: resizing the selected suggestion makes the box, adjusted.
    _row(page, second).click()
    corner = (second.x + second.w, second.y + second.h)
    drag(page, corner, (corner[0] + 6, corner[1] + 4))
    adjusted = state(page)["boxes"][-1]
    assert adjusted["suggestion_id"] == second.pk
    assert adjusted["bbox"][:2] == pytest.approx([second.x, second.y], abs=0.01)
    assert adjusted["bbox"][2] > second.w + 3 and adjusted["bbox"][3] > second.h + 2
    idle(page)
    made = Annotation.objects.get(pk=Suggestion.objects.get(pk=second.pk).annotation_id)
    assert [made.x, made.y, made.w, made.h] == pytest.approx(adjusted["bbox"])
    assert Annotation.objects.filter(image=image).count() == 2
    # Accept and undo at once (before or after the save goes out: the same end).
    third = _pending(image)[0]
    _row(page, third).click()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+z")
    idle(page)
    assert Annotation.objects.filter(image=image).count() == 2
    assert _statuses(image)[third.pk] == SuggestionStatus.PENDING
    assert third.pk in [s["id"] for s in state(page)["suggestions"]]


def _prelabeled(project_team, model_version, tiny_trained) -> Image:
    """A job run in-process (the worker's part); the image with the most suggestions."""
    inference.session_cache().clear()
    project = project_team["project"]
    add_categories(project)
    images = add_images(project, tiny_trained, indices=(1, 2, 3))
    job = prelabel_start(project=project, model=model_version, user=None, threshold=THRESHOLD)
    assert prelabel_execute(job.pk) == PrelabelStatus.SUCCEEDED
    return _richest(images)


def _wait_save_state(page, wanted: str) -> None:
    page.wait_for_function(
        "(wanted) => document.querySelector('[data-testid=save-state]').dataset.state === wanted",
        arg=wanted,
    )


def test_decisions_are_kept_in_the_browser_offline_and_across_a_reload(
    page, studio_server, model_version, tiny_trained, project_team
):
    image = _prelabeled(project_team, model_version, tiny_trained)
    first, second, *_ = _pending(image)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)
    _row(page, first).click()
    page.keyboard.press("Enter")
    idle(page)
    assert _statuses(image)[first.pk] == SuggestionStatus.ACCEPTED

    # The server gets nothing now: undo the (saved) accept, reject another, reload.
    page.route(
        "**/annotations", lambda r: r.abort() if r.request.method == "PUT" else r.continue_()
    )
    page.keyboard.press("Control+z")
    _row(page, second).locator(".suggestion-reject").click()
    _wait_save_state(page, "offline")
    page.on("dialog", lambda dialog: dialog.accept())  # leaving with unsaved edits asks
    page.reload()
    page.wait_for_function("window.__editor !== undefined")
    page.evaluate("window.__editor.ready")
    restored = state(page)
    assert restored["boxes"] == []
    assert restored["decided"] == {str(second.pk): "rejected"}
    shown = [s["id"] for s in restored["suggestions"]]
    assert first.pk in shown and second.pk not in shown  # the undone accept: pending again

    page.unroute("**/annotations")
    page.keyboard.press("Control+s")
    idle(page)
    assert Annotation.objects.filter(image=image).count() == 0
    statuses = _statuses(image)
    assert (statuses[first.pk], statuses[second.pk]) == ("pending", "rejected")


def test_a_conflict_then_a_suggestion_someone_else_decided(
    page, studio_server, model_version, tiny_trained, project_team, api_client_for
):
    image = _prelabeled(project_team, model_version, tiny_trained)
    theirs, mine, *_ = _pending(image)
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)  # version 0
    owner = api_client_for(project_team["users"]["owner"])
    saved = owner.put(
        reverse("api-image-annotations", args=[image.project_id, image.pk]),
        {
            "base_version": 0,
            "boxes": [{"category_id": theirs.category_id, "bbox": [1, 1, 9, 9]}],
            "rejected_suggestions": [theirs.pk],
        },  # fmt: skip
        format="json",
    )
    assert saved.status_code == 200, saved.content

    # The annotator accepts the suggestion the owner rejected: 409 first (version 0).
    _row(page, theirs).click()
    page.keyboard.press("Enter")
    page.wait_for_selector("#conflict", state="visible")
    page.click("#conflict-mine")  # on version 1: the accept is refused (already rejected)
    page.locator("#stage-message", has_text="decided elsewhere").wait_for()
    idle(page)
    assert state(page)["save"] == "saved"
    [kept] = Annotation.objects.filter(image=image)  # hers, as a plain box; the owner's gone
    assert [kept.x, kept.y, kept.w, kept.h] == [theirs.x, theirs.y, theirs.w, theirs.h]
    assert Suggestion.objects.get(pk=theirs.pk).status == SuggestionStatus.REJECTED
    assert state(page)["boxes"][0]["suggestion_id"] is None

    # Later decisions go through as usual.
    _row(page, mine).click()
    page.keyboard.press("Enter")
    idle(page)
    accepted = Suggestion.objects.get(pk=mine.pk)
    assert accepted.status == SuggestionStatus.ACCEPTED
    assert Annotation.objects.filter(image=image).count() == 2


def test_viewers_see_suggestions_and_decide_nothing(
    page, studio_server, model_version, tiny_trained, project_team
):
    image = _prelabeled(project_team, model_version, tiny_trained)
    first, *_ = _pending(image)
    open_as(page, studio_server.url, project_team["users"]["viewer"], image)
    assert page.get_by_test_id("read-only").is_visible()
    assert len(state(page)["suggestions"]) == len(_pending(image))
    assert _row(page, first).locator("button").count() == 0
    _row(page, first).click()
    assert state(page)["selectedSuggestion"] == first.pk
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Delete")
    assert state(page)["boxes"] == [] and state(page)["decided"] == {}
    assert _statuses(image)[first.pk] == SuggestionStatus.PENDING


def test_the_score_slider_shows_those_above_it_and_accepts_all_shown(
    page, studio_server, model_version, tiny_trained, project_team
):
    image = _prelabeled(project_team, model_version, tiny_trained)
    # Eight suggestions scoring 0.90, 0.80, ... 0.20 (the tiny model scores them all ~0.07).
    made = [s.pk for s in _pending(image)]
    Suggestion.objects.filter(pk__in=made[8:]).delete()
    for i, pk in enumerate(made[:8]):
        Suggestion.objects.filter(pk=pk).update(score=round(0.9 - 0.1 * i, 2))
    pending = _pending(image)
    assert len(pending) == 8
    steps = 55  # the slider at 0.55: four above, four below
    above = [s.pk for s in pending if s.score >= steps / 100]
    open_as(page, studio_server.url, project_team["users"]["annotator"], image)
    listed = "els => els.map(e => Number(e.dataset.suggestion))"
    assert page.eval_on_selector_all("#suggestion-list li[data-suggestion]", listed) == [
        s.pk for s in pending
    ]
    page.focus("#suggestion-min")
    for _ in range(steps):
        page.keyboard.press("ArrowRight")
    assert page.inner_text("[data-testid=suggestion-min-value]") == f"{steps / 100:.2f}"
    page.wait_for_function(  # the side list is drawn in the next frame
        f"document.querySelectorAll('#suggestion-list li[data-suggestion]').length === {len(above)}"
    )
    assert page.eval_on_selector_all("#suggestion-list li[data-suggestion]", listed) == above
    assert state(page)["shownSuggestions"] == above  # drawn
    assert page.inner_text("#suggestion-count") == f"({len(above)} of {len(pending)})"
    assert page.inner_text("#suggestions-accept-all") == f"Accept all shown ({len(above)})"
    below = len(pending) - len(above)
    assert page.inner_text("#suggestion-below") == f"{below} below {steps / 100:.2f} not shown."

    page.click("#suggestions-accept-all")
    idle(page)
    statuses = _statuses(image)
    assert {pk for pk, status in statuses.items() if status == SuggestionStatus.ACCEPTED} == set(
        above
    )
    assert sum(status == SuggestionStatus.PENDING for status in statuses.values()) == below
    assert Annotation.objects.filter(image=image).count() == len(above)
    # The ones below stay pending, listed again once the slider goes back to 0.
    page.focus("#suggestion-min")
    page.keyboard.press("Home")
    page.wait_for_function(
        f"document.querySelectorAll('#suggestion-list li[data-suggestion]').length === {below}"
    )
