"""Review: owners accept or reject an image's boxes; others may not."""

from __future__ import annotations

import pytest

from labeling.models import ImageStatus
from tests.labeling.annotation_helpers import make_categories, make_image, post, put, snapshot, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ctx(project_team, api_client_for):
    project = project_team["project"]
    [rbc] = make_categories(project, "RBC")
    users = project_team["users"]
    image = make_image(project)
    annotator = api_client_for(users["annotator"])
    boxes = [{"category_id": rbc.pk, "bbox": [1, 2, 30, 40]}]
    put(annotator, image, {"base_version": 0, "boxes": boxes})
    return {
        "image": image,
        "users": users,
        "annotator": annotator,
        "owner": api_client_for(users["owner"]),
        "viewer": api_client_for(users["viewer"]),
    }


def test_an_owner_accepts(ctx):
    image = ctx["image"]
    response = post(ctx["owner"], image, "review", {"decision": "accept", "base_version": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["reviewed_by"], body["version"]) == ("reviewed", "owner", 1)
    image.refresh_from_db()
    assert image.status == ImageStatus.REVIEWED
    assert image.reviewed_by == ctx["users"]["owner"] and image.reviewed_at is not None
    assert image.labeled_by == ctx["users"]["annotator"]  # who labeled is kept


def test_an_owner_rejects_with_a_comment_and_a_fix_puts_it_back_to_labeled(ctx):
    image = ctx["image"]
    body = {"decision": "reject", "comment": "  The left cell is missing. ", "base_version": 1}
    response = post(ctx["owner"], image, "review", body)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["review_comment"]) == (
        "rejected",
        "The left cell is missing.",
    )
    boxes = ctx["owner"].get(url(image)).json()["boxes"]
    fixed = [*boxes, {"category_id": boxes[0]["category_id"], "bbox": [50, 50, 9, 9]}]
    saved = put(ctx["annotator"], image, {"base_version": 1, "boxes": fixed}).json()
    assert saved["status"] == "labeled"
    assert saved["review_comment"] == "The left cell is missing."  # the last review stays


def test_a_rejection_needs_a_comment(ctx):
    before = snapshot(ctx["image"])
    response = post(ctx["owner"], ctx["image"], "review", {"decision": "reject", "base_version": 1})
    assert response.status_code == 400
    assert response.json()["detail"] == "comment: Say what to fix: a rejection needs a comment."
    assert snapshot(ctx["image"]) == before


def test_only_labeled_images_can_be_accepted(ctx, project_team):
    unlabeled = make_image(project_team["project"])
    response = post(ctx["owner"], unlabeled, "review", {"decision": "accept", "base_version": 0})
    assert response.status_code == 400
    assert "Only labeled images" in response.json()["detail"]


def test_a_review_of_an_old_version_is_409(ctx):
    before = snapshot(ctx["image"])
    response = post(ctx["owner"], ctx["image"], "review", {"decision": "accept", "base_version": 0})
    assert response.status_code == 409
    assert response.json()["current"]["version"] == 1
    assert snapshot(ctx["image"]) == before


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_annotators_and_viewers_cannot_review(ctx, role):
    before = snapshot(ctx["image"])
    for decision in ("accept", "reject"):
        body = {"decision": decision, "comment": "x", "base_version": 1}
        assert post(ctx[role], ctx["image"], "review", body).status_code == 403
    assert snapshot(ctx["image"]) == before
