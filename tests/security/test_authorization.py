"""Authorization: staff-only worker checks (throttled), owner-only serving decisions,
annotators' dataset imports, API tokens revoked by a password change, and unknown fields
refused on every writable endpoint.

The project, its objects and the table of every endpoint come from the role matrix
(tests/labeling/test_role_matrix.py, which fails when an endpoint is missing from it), so
every write added there is checked for unknown fields here too.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Category, DatasetImport, Membership, Project
from studio import services
from studio.models import WorkerCheck
from tests.labeling import test_role_matrix as matrix
from tests.labeling.imagefiles import image_bytes
from tests.labeling.test_role_matrix import PROJECT_API, _body, _request
from training.models import ModelVersion, PrelabelJob, TrainingRun

pytestmark = pytest.mark.django_db

UNKNOWN = "unexpected_field"
team = matrix.team  # the fixture: a project with every kind of object, users of each role


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Worker checks: staff only on every path, throttled ---------------------------------


def test_worker_checks_are_staff_only_on_the_api_and_the_page(make_user):
    user = make_user("alice")
    own = WorkerCheck.objects.create(created_by=user, requested_by_pid=1)
    client = logged_in(user)
    assert client.post(reverse("api-worker-checks")).status_code == 403
    assert client.get(reverse("api-worker-check", args=[own.pk])).status_code == 403
    page = client.post(reverse("system"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("admin:login"))
    assert WorkerCheck.objects.count() == 1  # nothing was sent

    staff = logged_in(make_user("root", is_staff=True))
    response = staff.post(reverse("api-worker-checks"))
    assert response.status_code == 202, response.content
    check_id = response.json()["id"]
    assert staff.get(reverse("api-worker-check", args=[check_id])).status_code == 200
    assert staff.post(reverse("system")).status_code == 302
    assert WorkerCheck.objects.count() == 3


def test_worker_checks_are_throttled_per_user_on_the_api_and_the_page(make_user):
    staff = logged_in(make_user("root", is_staff=True))
    for _ in range(services.WORKER_CHECK_LIMIT):
        assert staff.post(reverse("api-worker-checks")).status_code == 202
    refused = staff.post(reverse("api-worker-checks"))
    assert refused.status_code == 429
    assert "worker checks a minute" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    page = staff.post(reverse("system"), follow=True)
    assert "worker checks a minute" in page.content.decode()
    assert WorkerCheck.objects.count() == services.WORKER_CHECK_LIMIT
    # Another staff user has a count of their own.
    other = logged_in(make_user("root2", is_staff=True))
    assert other.post(reverse("api-worker-checks")).status_code == 202


# --- Serving decisions: owner only ------------------------------------------------------


def _patch_model(team, role, body):
    client = APIClient()
    client.force_authenticate(team["users"][role])
    return client.patch(reverse("api-model", args=[team["model"].pk]), body, format="json")


def _serving_state(model: ModelVersion) -> tuple:
    model.refresh_from_db()
    return (model.is_production, model.threshold, model.class_thresholds)


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 200), ("annotator", 403), ("viewer", 403), ("outsider", 404)]
)
def test_only_owners_mark_the_production_model(team, role, expected):
    model = team["model"]
    before = _serving_state(model)
    response = _patch_model(team, role, {"is_production": True, "confirm": True})
    assert response.status_code == expected, response.content
    if expected == 200:
        assert _serving_state(model)[0] is True
    else:
        assert _serving_state(model) == before


@pytest.mark.parametrize(
    ("body", "annotator"),
    [
        ({"threshold": 0.4}, 403),
        ({"class_thresholds": {"RBC": 0.6}}, 403),
        ({"is_production": False}, 403),
    ],
)
def test_the_production_models_thresholds_are_the_owners(team, body, annotator):
    """What the DeepStack endpoint serves (its default confidence included) is the owner's
    decision; an annotator tunes the thresholds of the other versions only."""
    model = team["model"]
    ModelVersion.objects.filter(pk=model.pk).update(is_production=True)
    before = _serving_state(model)
    assert _patch_model(team, "annotator", body).status_code == annotator
    assert _serving_state(model) == before
    assert _patch_model(team, "owner", body).status_code == 200


def test_annotators_tune_a_model_that_is_not_served(team):
    response = _patch_model(team, "annotator", {"threshold": 0.3, "class_thresholds": {}})
    assert response.status_code == 200, response.content
    assert _serving_state(team["model"]) == (False, 0.3, {})


def test_model_pages_offer_serving_decisions_to_owners_only(team):
    project, model = team["project"], team["model"]
    detail = reverse("model-detail", args=[project.pk, model.pk])
    listing = reverse("model-list", args=[project.pk])
    owner, annotator = logged_in(team["users"]["owner"]), logged_in(team["users"]["annotator"])
    assert 'id="make-production"' in owner.get(detail).content.decode()
    assert 'class="link make-production"' in owner.get(listing).content.decode()
    page = annotator.get(detail).content.decode()
    assert 'id="make-production"' not in page
    assert 'id="save-threshold"' in page  # not served: the annotator may tune it
    assert "make-production" not in annotator.get(listing).content.decode()
    ModelVersion.objects.filter(pk=model.pk).update(is_production=True)
    assert 'id="save-threshold"' not in annotator.get(detail).content.decode()
    assert 'id="save-threshold"' in owner.get(detail).content.decode()


# --- Dataset imports: owners and annotators ---------------------------------------------


def _coco_zip() -> io.BytesIO:
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 24}],
        "categories": [{"id": 1, "name": "RBC"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations.json", json.dumps(coco))
        archive.writestr("a.png", image_bytes("PNG", size=(32, 24)))
    buffer.seek(0)
    buffer.name = "cells.zip"
    return buffer


@pytest.mark.parametrize(
    ("role", "expected"),
    [("owner", 202), ("annotator", 202), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_dataset_import_per_role(team, role, expected):
    project = team["project"]
    client = Client() if role == "anonymous" else logged_in(team["users"][role])
    before = DatasetImport.objects.count()
    response = client.post(
        reverse("api-imports", args=[project.pk]), {"file": _coco_zip(), "format": "coco"}
    )
    assert response.status_code == expected, response.content
    created = DatasetImport.objects.count() - before
    assert created == (1 if expected == 202 else 0)
    if expected == 202:
        record = DatasetImport.objects.latest("id")
        assert (record.project, record.created_by) == (project, team["users"][role])
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert ('id="dataset-import"' in page) == (expected == 202)


# --- API tokens: a password change revokes them -----------------------------------------


def _token_works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("api-me")).status_code == 200


def test_the_password_page_revokes_the_api_token(make_user):
    user = make_user("alice", password="old-Secret-4711")
    token = services.token_rotate(user=user)
    assert _token_works(token.key)
    client = logged_in(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "old-Secret-4711",
            "new_password1": "new-Secret-0815",
            "new_password2": "new-Secret-0815",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert not _token_works(token.key)
    assert not Token.objects.filter(user=user).exists()
    account = client.get(reverse("account")).content.decode()  # the session itself stays
    assert "Changing your password revokes your token" in account
    assert "You have no token yet." in account
    assert _token_works(services.token_rotate(user=user).key)  # a new one works


def test_every_other_password_change_revokes_the_token_too(make_user):
    """The admin's password form, `manage.py changepassword` and scripts all end in
    set_password() and save()."""
    user = make_user("alice", password="old-Secret-4711")
    key = services.token_rotate(user=user).key
    admin = logged_in(make_user("root", is_staff=True, is_superuser=True))
    response = admin.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "new-Secret-0815", "password2": "new-Secret-0815"},
    )
    assert response.status_code == 302, response.content[:500]
    assert not _token_works(key)

    key = services.token_rotate(user=user).key
    user = get_user_model().objects.get(pk=user.pk)
    user.set_password("third-Secret-1234")
    user.save()
    assert not _token_works(key)


def test_a_save_without_a_password_change_keeps_the_token(make_user):
    user = make_user("alice", password="old-Secret-4711")
    key = services.token_rotate(user=user).key
    user = get_user_model().objects.get(pk=user.pk)
    user.first_name = "Alice"
    user.save()
    assert _token_works(key)


# --- Unknown fields: 400 naming the field, on every writable endpoint -------------------

WRITES = {case: spec for case, spec in PROJECT_API.items() if case[1] in {"POST", "PUT", "PATCH"}}
MULTIPART = {"api-model-predict", "api-images", "api-imports"}  # file uploads


def _state(team) -> dict:
    """What a refused request must leave as it was."""
    project = Project.objects.get(pk=team["project"].pk)
    model = ModelVersion.objects.get(pk=team["model"].pk)
    return {
        "project": (project.name, project.description),
        "members": sorted(Membership.objects.values_list("user_id", "role")),
        "categories": sorted(Category.objects.values_list("id", "name", "shortcut", "color")),
        "images": sorted(team["project"].images.values_list("id", "split", "status")),
        "annotations": team["image"].annotations.count(),
        "imports": DatasetImport.objects.count(),
        "runs": sorted(TrainingRun.objects.values_list("id", "status")),
        "model": (model.threshold, model.class_thresholds, model.is_production),
        "prelabel": sorted(PrelabelJob.objects.values_list("id", "status")),
    }


def _assert_names_unknown(response, field: str = UNKNOWN) -> None:
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert field in body["detail"], body
    assert "unknown field" in json.dumps(body).lower(), body


@pytest.mark.parametrize("case", list(WRITES), ids=str)
def test_unknown_fields_are_refused_on_every_writable_endpoint(team, case):
    name, method = case
    args, body, _expected = WRITES[case]
    url = reverse(name, args=args(team))
    body = {**(_body(team, body) or {}), UNKNOWN: 1}
    client = logged_in(team["users"]["owner"])
    before = _state(team)
    if name in MULTIPART:
        body = {key: value for key, value in body.items() if key not in ("files",)}
        response = client.post(url, body)  # multipart/form-data
    else:
        response = _request(client, method, url, body)
    _assert_names_unknown(response)
    assert _state(team) == before


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("api-projects", {"name": "Mine", "owner": "alice"}, "owner"),
        ("api-token", {"username": "owner", "password": "x", UNKNOWN: 1}, UNKNOWN),
    ],
)
def test_unknown_fields_are_refused_outside_projects(team, name, body, field):
    client = logged_in(team["users"]["owner"])
    before = (Project.objects.count(), Token.objects.count())
    response = _request(client, "POST", reverse(name), body)
    _assert_names_unknown(response, field=field)
    assert (Project.objects.count(), Token.objects.count()) == before


def test_unknown_fields_are_refused_in_worker_checks(make_user):
    staff = logged_in(make_user("root", is_staff=True))
    response = _request(staff, "POST", reverse("api-worker-checks"), {UNKNOWN: 1})
    _assert_names_unknown(response)
    assert WorkerCheck.objects.count() == 0


NESTED = {
    ("api-image-annotations", "PUT"): (
        {"base_version": 0, "boxes": [{"category_id": "<category>", "bbox": [1, 1, 5, 5],
                                       "colour": "red"}]},
        "colour",
    ),
    ("api-category-shortcuts", "PUT"): (
        {"shortcuts": [{"category_id": "<category>", "shortcut": "q", "order": 3}]},
        "order",
    ),
    ("api-prelabel-jobs", "POST"): ({"model": "<model>", "filters": {"splt": "train"}}, "splt"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NESTED), ids=str)
def test_unknown_fields_are_refused_inside_nested_objects(team, case):
    name, method = case
    args = WRITES[case][0]
    body, field = NESTED[case]
    client = logged_in(team["users"]["owner"])
    before = _state(team)
    response = _request(client, method, reverse(name, args=args(team)), _body(team, body))
    _assert_names_unknown(response, field=field)
    assert _state(team) == before


def test_a_box_read_from_the_api_may_be_sent_back_as_it_is(team):
    """Read-only fields of the documented box shape (area, origin) are not unknown."""
    client = logged_in(team["users"]["owner"])
    url = reverse("api-image-annotations", args=[team["project"].pk, team["image"].pk])
    box = {"category_id": team["category"].pk, "bbox": [1, 1, 5, 5]}
    saved = _request(client, "PUT", url, {"base_version": 0, "boxes": [box]}).json()
    assert "area" in saved["boxes"][0]
    again = _request(client, "PUT", url, {"base_version": 1, "boxes": saved["boxes"]})
    assert again.status_code == 200, again.content
