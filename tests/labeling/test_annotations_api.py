"""Saving an image's boxes through the API: round trip, versions, repeats, validation."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, AnnotationChange, ImageStatus
from tests.labeling.annotation_helpers import (
    make_categories,
    make_image,
    put,
    snapshot,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ctx(project_team, api_client_for):
    project = project_team["project"]
    rbc, wbc = make_categories(project, "RBC", "WBC")
    [foreign] = make_categories(project_team["other"], "Foreign")
    users = project_team["users"]
    return {
        "image": make_image(project, width=640, height=480),
        "rbc": rbc,
        "wbc": wbc,
        "foreign": foreign,
        "users": users,
        "annotator": api_client_for(users["annotator"]),
        "owner": api_client_for(users["owner"]),
        "viewer": api_client_for(users["viewer"]),
        "outsider": api_client_for(users["outsider"]),
    }


def _boxes(ctx):
    return [
        {"category_id": ctx["rbc"].pk, "bbox": [10.25, 20.5, 100.125, 50.0]},
        {"category_id": ctx["wbc"].pk, "bbox": [600, 400, 40, 80]},  # touches both edges
    ]


def test_boxes_round_trip_in_original_pixels(ctx):
    image = ctx["image"]
    response = put(
        ctx["annotator"], image, {"base_version": 0, "request_id": "r1", "boxes": _boxes(ctx)}
    )
    assert response.status_code == 200, response.content
    saved = response.json()
    assert (saved["version"], saved["status"], saved["no_objects"]) == (1, "labeled", False)
    assert saved["replayed"] is False and saved["change_id"] is not None
    assert [b["bbox"] for b in saved["boxes"]] == [[10.25, 20.5, 100.125, 50.0], [600, 400, 40, 80]]
    assert saved["boxes"][0]["area"] == pytest.approx(100.125 * 50)
    assert saved["image"] == {"width": 640, "height": 480}
    assert saved["labeled_by"] == "annotator"

    loaded = ctx["viewer"].get(url(image)).json()
    assert loaded["boxes"] == saved["boxes"]
    assert loaded["version"] == 1
    rows = Annotation.objects.filter(image=image).order_by("id")
    assert [(r.category_id, r.x, r.y, r.w, r.h) for r in rows] == [
        (ctx["rbc"].pk, 10.25, 20.5, 100.125, 50.0),
        (ctx["wbc"].pk, 600, 400, 40, 80),
    ]
    assert rows[0].created_by == ctx["users"]["annotator"]
    image.refresh_from_db()
    assert image.labeled_by == ctx["users"]["annotator"] and image.labeled_at is not None
    [change] = AnnotationChange.objects.filter(image=image)
    assert (change.version, change.kind, change.request_id) == (1, "save", "r1")
    assert change.before == [] and change.after == saved["boxes"]
    assert change.user == ctx["users"]["annotator"]


def test_a_save_keeps_the_ids_of_kept_boxes_and_deletes_missing_ones(ctx):
    image = ctx["image"]
    first = put(ctx["annotator"], image, {"base_version": 0, "boxes": _boxes(ctx)}).json()
    kept, dropped = first["boxes"]
    moved = {**kept, "bbox": [11, 21, 30, 30], "category_id": ctx["wbc"].pk}
    new = {"category_id": ctx["rbc"].pk, "bbox": [1, 1, 2, 2]}
    second = put(ctx["annotator"], image, {"base_version": 1, "boxes": [new, moved]}).json()
    assert second["version"] == 2
    assert second["boxes"][1]["id"] == kept["id"]  # the response keeps the request's order
    assert second["boxes"][1]["bbox"] == [11, 21, 30, 30]
    assert second["boxes"][0]["id"] not in (kept["id"], dropped["id"])
    assert not Annotation.objects.filter(pk=dropped["id"]).exists()
    assert Annotation.objects.get(pk=kept["id"]).category_id == ctx["wbc"].pk


def test_boxes_within_a_pixel_outside_are_clipped(ctx):
    boxes = [
        {"category_id": ctx["rbc"].pk, "bbox": [-0.5, -1, 10, 10]},
        {"category_id": ctx["rbc"].pk, "bbox": [630, 470, 10.75, 11]},
    ]
    response = put(ctx["annotator"], ctx["image"], {"base_version": 0, "boxes": boxes})
    assert response.status_code == 200, response.content
    assert [b["bbox"] for b in response.json()["boxes"]] == [[0, 0, 9.5, 9], [630, 470, 10, 10]]


def test_status_rules(ctx):
    image, client = ctx["image"], ctx["annotator"]
    empty = put(client, image, {"base_version": 0, "boxes": []}).json()
    assert (empty["status"], empty["version"]) == ("in_progress", 1)
    marked = put(client, image, {"base_version": 1, "boxes": [], "no_objects": True}).json()
    assert (marked["status"], marked["no_objects"]) == ("labeled", True)
    boxed = put(client, image, {"base_version": 2, "boxes": _boxes(ctx)}).json()
    assert (boxed["status"], boxed["no_objects"], boxed["version"]) == ("labeled", False, 3)
    image.refresh_from_db()
    assert image.status == ImageStatus.LABELED


def test_a_save_that_changes_nothing_is_a_no_op(ctx):
    image = ctx["image"]
    saved = put(ctx["annotator"], image, {"base_version": 0, "boxes": _boxes(ctx)}).json()
    before = snapshot(image)
    again = put(ctx["owner"], image, {"base_version": 1, "boxes": saved["boxes"]})
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["change_id"]) == (1, None)
    assert snapshot(image) == before


def test_an_old_version_is_409_with_the_server_state(ctx):
    image = ctx["image"]
    alice, bob = ctx["annotator"], ctx["owner"]
    assert alice.get(url(image)).json()["version"] == bob.get(url(image)).json()["version"] == 0
    mine = put(alice, image, {"base_version": 0, "boxes": _boxes(ctx)[:1]})
    assert mine.status_code == 200
    before = snapshot(image)
    theirs = put(bob, image, {"base_version": 0, "boxes": _boxes(ctx)[1:]})
    assert theirs.status_code == 409
    body = theirs.json()
    assert "changed since" in body["detail"]
    assert body["current"]["version"] == 1
    assert body["current"]["boxes"] == mine.json()["boxes"]
    assert snapshot(image) == before
    # Taking the server's version and saving on it works.
    retry = put(bob, image, {"base_version": 1, "boxes": _boxes(ctx)[1:]})
    assert retry.status_code == 200 and retry.json()["version"] == 2


def test_a_repeated_request_is_applied_once(ctx):
    image = ctx["image"]
    body = {"base_version": 0, "request_id": "6f1c-aa", "boxes": _boxes(ctx)}
    first = put(ctx["annotator"], image, body).json()
    after_first = snapshot(image)
    repeat = put(ctx["annotator"], image, body)
    assert repeat.status_code == 200
    assert repeat.json()["replayed"] is True
    assert repeat.json()["boxes"] == first["boxes"]
    assert repeat.json()["version"] == 1
    assert snapshot(image) == after_first
    # Someone else saves; a late repeat still returns that save's result, changes nothing.
    put(ctx["owner"], image, {"base_version": 1, "boxes": []})
    after_other = snapshot(image)
    late = put(ctx["annotator"], image, body).json()
    assert (late["replayed"], late["version"], late["boxes"]) == (True, 1, first["boxes"])
    assert late["status"] == "labeled"
    assert snapshot(image) == after_other
    assert Annotation.objects.filter(image=image).count() == 0


def _refusals(ctx):
    rbc = ctx["rbc"].pk

    def body(*bboxes, **extra):
        boxes = [{"category_id": rbc, "bbox": b} for b in bboxes]
        return {"base_version": 1, "request_id": "bad", "boxes": boxes, **extra}

    nan = '{"base_version": 1, "boxes": [{"category_id": ID, "bbox": [NaN, 1, 2, 2]}]}'
    nan = nan.replace("ID", str(rbc))
    return {
        "NaN": nan,
        "Infinity": nan.replace("NaN", "Infinity"),
        "-Infinity": nan.replace("NaN", "-Infinity"),
        "overflow to infinity": nan.replace("NaN", "1e400"),
        "numbers as strings": body(["1", "1", "2", "2"]),
        "booleans as numbers": body([True, 1, 2, 2]),
        "three numbers": body([1, 1, 2]),
        "zero width": body([1, 1, 0, 2]),
        "negative height": body([1, 1, 2, -2]),
        "2 px left of the image": body([-2, 1, 10, 10]),
        "2 px below the image": body([1, 400, 10, 82]),
        "within the margin only": body([640.2, 1, 0.5, 5]),
        "a valid box and a bad one": body([1, 1, 5, 5], [1, 1, 5, -5]),
        "another project's class": {
            "base_version": 1,
            "boxes": [{"category_id": ctx["foreign"].pk, "bbox": [1, 1, 2, 2]}],
        },
        "no class": {"base_version": 1, "boxes": [{"bbox": [1, 1, 2, 2]}]},
        "a box that is not an object": {"base_version": 1, "boxes": [[1, 1, 2, 2]]},
        "boxes not a list": {"base_version": 1, "boxes": {"a": 1}},
        "boxes on a no-objects image": body([1, 1, 5, 5], no_objects=True),
        "too many boxes": body(*[[1, 1, 2, 2]] * 5001),
        "no base version": {"boxes": []},
        "a bad request id": body([1, 1, 2, 2], request_id="<script>"),
        "not JSON": "{boxes: [",
    }


def test_every_refused_save_is_a_clear_400_and_changes_nothing(ctx):
    image = ctx["image"]
    put(ctx["annotator"], image, {"base_version": 0, "boxes": _boxes(ctx)})
    before = snapshot(image)
    for name, body in _refusals(ctx).items():
        response = put(ctx["annotator"], image, body)
        assert response.status_code == 400, (name, response.content[:300])
        error = response.json()
        assert error["detail"], name
        assert snapshot(image) == before, name
    assert not AnnotationChange.objects.filter(request_id="bad").exists()


def test_refusal_messages_name_the_box_and_the_reason(ctx):
    put(ctx["annotator"], ctx["image"], {"base_version": 0, "boxes": []})
    boxes = [
        {"category_id": ctx["rbc"].pk, "bbox": [1, 1, 5, 5]},
        {"category_id": ctx["rbc"].pk, "bbox": [-3, 1, 5, 5]},
    ]
    response = put(ctx["annotator"], ctx["image"], {"base_version": 1, "boxes": boxes})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "boxes: Box 1: [-3, 1, 5, 5] is outside the image (640 x 480)."
    )


def test_numbers_beyond_float_range_are_refused_as_infinite(ctx):
    body = '{"base_version": 0, "boxes": [{"category_id": %d, "bbox": [1e400, 1, 2, 2]}]}'
    response = put(ctx["annotator"], ctx["image"], body % ctx["rbc"].pk)
    assert response.status_code == 400
    # The API's JSON parser refuses it, naming where it is (studio/parsers.py).
    assert response.json()["detail"].startswith("boxes[0].bbox[0]: 1e400 is out of range")


def test_an_oversized_body_is_refused_unread(ctx, settings):
    settings.STUDIO_MAX_ANNOTATION_BODY_BYTES = 2048
    before = snapshot(ctx["image"])
    body = {"base_version": 0, "boxes": [{"category_id": ctx["rbc"].pk, "bbox": [1, 1, 2, 2]}] * 60}
    response = put(ctx["annotator"], ctx["image"], body)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]
    assert snapshot(ctx["image"]) == before


def test_the_largest_allowed_save_passes(ctx):
    boxes = [
        {"category_id": ctx["rbc"].pk, "bbox": [i % 600, i % 400, 3.5, 2.25]} for i in range(5000)
    ]
    response = put(ctx["annotator"], ctx["image"], {"base_version": 0, "boxes": boxes})
    assert response.status_code == 200, response.content[:300]
    assert Annotation.objects.filter(image=ctx["image"]).count() == 5000


def test_viewers_cannot_save_and_outsiders_see_nothing(ctx):
    image = ctx["image"]
    before = snapshot(image)
    body = {"base_version": 0, "boxes": _boxes(ctx)}
    assert put(ctx["viewer"], image, body).status_code == 403
    assert put(ctx["outsider"], image, body).status_code == 404
    assert ctx["outsider"].get(url(image)).status_code == 404
    assert snapshot(image) == before
