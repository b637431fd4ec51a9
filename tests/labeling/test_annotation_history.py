"""The append-only history of an image's boxes, and reverting to a past state."""

from __future__ import annotations

import pytest

from labeling.models import AnnotationChange
from tests.labeling.annotation_helpers import (
    make_categories,
    make_image,
    post,
    put,
    snapshot,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ctx(project_team, api_client_for):
    project = project_team["project"]
    [rbc] = make_categories(project, "RBC")
    users = project_team["users"]
    image = make_image(project)
    annotator = api_client_for(users["annotator"])
    a = [
        {"category_id": rbc.pk, "bbox": [1, 2, 30, 40]},
        {"category_id": rbc.pk, "bbox": [5, 5, 5, 5]},
    ]
    first = put(annotator, image, {"base_version": 0, "request_id": "one", "boxes": a}).json()
    b = [{**first["boxes"][0], "bbox": [100, 100, 10, 10]}]  # moved one, deleted the other
    second = put(annotator, image, {"base_version": 1, "request_id": "two", "boxes": b}).json()
    return {
        "image": image,
        "first": first,
        "second": second,
        "annotator": annotator,
        "owner": api_client_for(users["owner"]),
        "viewer": api_client_for(users["viewer"]),
    }


def test_history_lists_every_change_newest_first(ctx):
    response = ctx["viewer"].get(url(ctx["image"], "history"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert (newest["version"], newest["request_id"], newest["kind"]) == (2, "two", "save")
    assert newest["user"] == "annotator"
    assert newest["before"] == ctx["first"]["boxes"]
    assert newest["after"] == ctx["second"]["boxes"]
    assert (oldest["version"], oldest["before"], oldest["after"]) == (1, [], ctx["first"]["boxes"])


def test_revert_restores_the_boxes_after_a_change_as_a_new_change(ctx):
    image = ctx["image"]
    first_change = ctx["first"]["change_id"]
    response = post(ctx["owner"], image, "revert", {"change_id": first_change, "base_version": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 3 and body["status"] == "labeled"
    assert [b["bbox"] for b in body["boxes"]] == [[1, 2, 30, 40], [5, 5, 5, 5]]
    # The box that survived keeps its id; the deleted one comes back as a new row.
    assert body["boxes"][0]["id"] == ctx["first"]["boxes"][0]["id"]
    assert ctx["owner"].get(url(image)).json()["boxes"] == body["boxes"]
    change = AnnotationChange.objects.get(pk=body["change_id"])
    assert (change.kind, change.reverted_to_id, change.version) == ("revert", first_change, 3)
    assert change.before == ctx["second"]["boxes"]
    assert AnnotationChange.objects.filter(image=image).count() == 3  # nothing rewritten


def test_revert_to_before_a_change(ctx):
    first_change = ctx["first"]["change_id"]
    body = {"change_id": first_change, "base_version": 2, "to": "before"}
    response = post(ctx["annotator"], ctx["image"], "revert", body)
    assert response.status_code == 200
    assert (response.json()["boxes"], response.json()["status"]) == ([], "in_progress")


def test_revert_on_an_old_version_is_409_and_changes_nothing(ctx):
    image = ctx["image"]
    before = snapshot(image)
    body = {"change_id": ctx["first"]["change_id"], "base_version": 1}
    response = post(ctx["annotator"], image, "revert", body)
    assert response.status_code == 409
    assert response.json()["current"]["boxes"] == ctx["second"]["boxes"]
    assert snapshot(image) == before


def test_revert_refusals_change_nothing(ctx, project_team, api_client_for):
    image = ctx["image"]
    before = snapshot(image)
    other_image = make_image(project_team["project"])
    change = ctx["first"]["change_id"]
    assert (
        post(ctx["viewer"], image, "revert", {"change_id": change, "base_version": 2}).status_code
        == 403
    )
    # A change of another image is not this image's.
    assert (
        post(
            ctx["annotator"], other_image, "revert", {"change_id": change, "base_version": 0}
        ).status_code
        == 400
    )
    outsider = api_client_for(project_team["users"]["outsider"])
    assert (
        post(outsider, image, "revert", {"change_id": change, "base_version": 2}).status_code == 404
    )
    assert snapshot(image) == before


def test_a_repeated_revert_is_applied_once(ctx):
    body = {"change_id": ctx["first"]["change_id"], "base_version": 2, "request_id": "rv"}
    first = post(ctx["annotator"], ctx["image"], "revert", body).json()
    repeat = post(ctx["annotator"], ctx["image"], "revert", body).json()
    assert repeat["replayed"] is True and repeat["version"] == first["version"] == 3
    assert AnnotationChange.objects.filter(image=ctx["image"]).count() == 3
