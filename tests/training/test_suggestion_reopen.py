"""The editor's undo of a saved decision: ``reopened_suggestions`` in the annotation save
sets accepted or rejected suggestions back to pending (labeling/suggestions.py, part 3)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Annotation, Suggestion
from tests.labeling.annotation_helpers import put
from tests.training.prelabel_helpers import add_categories, add_images
from training import inference
from training.models import PrelabelStatus
from training.prelabel import prelabel_execute, prelabel_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(model_version, tiny_trained, project_team, api_client_for):
    """An image with at least two pending suggestions, and the annotator's client."""
    inference.session_cache().clear()
    project = project_team["project"]
    add_categories(project)
    images = add_images(project, tiny_trained, indices=(1, 2))
    job = prelabel_start(project=project, model=model_version, user=None, threshold=0.06)
    assert prelabel_execute(job.pk) == PrelabelStatus.SUCCEEDED
    client = api_client_for(project_team["users"]["annotator"])
    image = max(images, key=lambda i: Suggestion.objects.filter(image=i).count())
    url = reverse("api-image-suggestions", args=[project.pk, image.pk])
    found = client.get(url).json()["suggestions"]
    assert len(found) >= 2
    return {"client": client, "image": image, "suggestions": found, "url": url}


def _box(suggestion: dict, **extra) -> dict:
    return {"category_id": suggestion["category_id"], "bbox": suggestion["bbox"], **extra}


def _status(suggestion: dict) -> str:
    return Suggestion.objects.get(pk=suggestion["id"]).status


def test_an_undone_accept_and_reject_are_pending_again(pending):
    client, image = pending["client"], pending["image"]
    one, two = pending["suggestions"][:2]
    saved = put(client, image, {"base_version": 0, "boxes": [_box(one, suggestion_id=one["id"])],
                                "rejected_suggestions": [two["id"]]})  # fmt: skip
    assert saved.status_code == 200, saved.content
    assert (_status(one), _status(two)) == ("accepted", "rejected")
    # Undo both: the box goes, both suggestions are pending again, listed for the editor.
    undone = put(client, image, {"base_version": 1, "boxes": [],
                                 "reopened_suggestions": [one["id"], two["id"]]})  # fmt: skip
    assert undone.status_code == 200, undone.content
    assert Annotation.objects.filter(image=image).count() == 0
    assert (_status(one), _status(two)) == ("pending", "pending")
    reopened = Suggestion.objects.get(pk=one["id"])
    assert (reopened.annotation_id, reopened.decided_by_id, reopened.decided_at) == (None,) * 3
    listed = {s["id"] for s in client.get(pending["url"]).json()["suggestions"]}
    assert {one["id"], two["id"]} <= listed
    # Decided again (redo), then the other way round: reopened and decided in one save.
    again = put(client, image, {"base_version": 2, "boxes": [_box(one, suggestion_id=one["id"])],
                                "rejected_suggestions": [two["id"]]})  # fmt: skip
    assert again.status_code == 200, again.content
    [box] = Annotation.objects.filter(image=image)
    assert Suggestion.objects.get(pk=one["id"]).annotation_id == box.pk
    flipped = put(client, image, {"base_version": 3, "boxes": [_box(two, suggestion_id=two["id"])],
                                  "rejected_suggestions": [one["id"]],
                                  "reopened_suggestions": [one["id"], two["id"]]})  # fmt: skip
    assert flipped.status_code == 200, flipped.content
    assert (_status(one), _status(two)) == ("rejected", "accepted")


def test_refused_reopenings_change_nothing(pending):
    client, image = pending["client"], pending["image"]
    one, two = pending["suggestions"][:2]
    saved = put(client, image, {"base_version": 0, "boxes": [_box(one, suggestion_id=one["id"])]})
    [box_id] = [b["id"] for b in saved.json()["boxes"]]
    cases = [
        # its box is kept by the same save
        {"boxes": [_box(one, id=box_id)], "reopened_suggestions": [one["id"]]},
        # still pending: nothing to reopen
        {"boxes": [], "reopened_suggestions": [two["id"]]},
        # twice
        {"boxes": [], "reopened_suggestions": [one["id"], one["id"]]},
        # not a suggestion of this image
        {"boxes": [], "reopened_suggestions": [999_999]},
    ]
    for body in cases:
        response = put(client, image, {"base_version": 1, **body})
        assert response.status_code == 400, (body, response.content)
        assert "suggestion" in response.json()["detail"].lower()
    assert Annotation.objects.filter(image=image).count() == 1
    assert (_status(one), _status(two)) == ("accepted", "pending")
