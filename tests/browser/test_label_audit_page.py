"""The label audit's gallery in Chromium: a model evaluated on images whose boxes are
partly missing lists the objects it found there; one click opens the editor with the
candidate as a suggestion, and accepting it there makes the annotation."""
# ruff: noqa: F811 - the tests take the imported fixtures as arguments

from __future__ import annotations

import json
import re

import pytest

from labeling.models import Annotation, Suggestion, SuggestionStatus
from tests.browser.editor_pages import VIEWPORT, idle, sign_in, state, wait_ready
from tests.training.model_fixtures import make_model_version
from tests.training.prelabel_helpers import add_categories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
UNLABELLED = 3  # test images whose boxes the data set "forgot"


@pytest.fixture
def audited_model(trained_for_review, project_team, tmp_path):
    """The review model, evaluated on its images with every box of three of them left out:
    what it finds there confidently are possible missing labels."""
    coco_path, images_dir, result = trained_for_review
    coco = json.loads(coco_path.read_text())
    forgotten = {image["id"] for image in coco["images"][:UNLABELLED]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in forgotten]
    path = tmp_path / "partly-labelled.json"
    path.write_text(json.dumps(coco))
    add_categories(project_team["project"])
    return make_model_version(project_team["project"], (path, images_dir, result), tmp_path)


def test_a_candidate_opens_in_the_editor_and_is_accepted(
    page, studio_server, audited_model, project_team
):
    model = audited_model
    candidates = model.label_audit["candidates"]
    assert model.label_audit["count"] >= 1, model.label_audit
    first = candidates[0]
    x1, y1, x2, y2 = first["box"]
    files = []
    page.on("response", lambda r: files.append(r) if re.search(r"/images/\d+/file$", r.url) else 0)
    page.set_viewport_size(VIEWPORT)
    sign_in(page.context, studio_server.url, project_team["users"]["annotator"])
    page.goto(f"/projects/{model.project_id}/models/{model.pk}/")
    page.wait_for_function(
        "document.querySelector('#missing-labels .audit-gallery').dataset.rendered"
    )

    cards = page.locator("#missing-labels li.audit-card")
    assert cards.count() == min(len(candidates), 48)
    summary = page.locator("#missing-labels [data-field=audit-summary]").inner_text()
    assert summary.startswith(f"{model.label_audit['count']} confident detection")
    assert "on the 12 test images" in summary
    card = cards.first
    assert card.get_attribute("data-index") == "0"
    caption = card.locator(".meta").inner_text()
    assert caption.startswith(f"{first['class']} {first['score']:.2f}\nimg_")
    # The crop: a square twice the box's longer side around it, from the full-size image.
    side = max(2 * max(x2 - x1, y2 - y1), 24)
    left, top = (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2
    view_box = [float(v) for v in card.locator("svg").get_attribute("viewBox").split()]
    assert view_box == pytest.approx([left, top, side, side])
    page.wait_for_function("document.querySelectorAll('#missing-labels image').length > 0")
    assert files and all(
        r.status == 200 and r.headers["content-type"] == "image/png" for r in files
    )

    # One click: the editor of that image, the candidate a selected pending suggestion.
    card.locator("button.audit-open").click()
    page.wait_for_url(re.compile(r"/annotate/\d+/"))
    wait_ready(page)
    [suggestion] = Suggestion.objects.all()
    assert (suggestion.image_id, suggestion.status, suggestion.job_id) == (
        first["image_id"],
        SuggestionStatus.PENDING,
        None,
    )
    now = state(page)
    assert now["imageId"] == first["image_id"]
    assert now["selectedSuggestion"] == suggestion.pk
    [shown] = [s for s in now["suggestions"] if s["id"] == suggestion.pk]
    assert shown["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert now["boxes"] == []

    # Accept it with its button: a normal annotation, the suggestion accepted.
    page.locator(
        f"#suggestion-list li[data-suggestion='{suggestion.pk}'] .suggestion-accept"
    ).click()
    idle(page)
    assert state(page)["save"] == "saved"
    [annotation] = Annotation.objects.filter(image_id=first["image_id"])
    assert annotation.category.name == first["class"]
    assert [annotation.x, annotation.y, annotation.w, annotation.h] == pytest.approx(shown["bbox"])
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.annotation_id) == ("accepted", annotation.pk)

    # Back on the model page, the candidate says so.
    page.goto(f"/projects/{model.project_id}/models/{model.pk}/")
    page.wait_for_function(
        "document.querySelector('#missing-labels .audit-gallery').dataset.rendered"
    )
    status = page.locator("#missing-labels li.audit-card[data-index='0'] [data-field=audit-status]")
    assert status.inner_text() == "accepted"
