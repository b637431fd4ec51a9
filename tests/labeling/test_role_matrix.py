"""Every endpoint x every role x an object of another project.

The tables below are written out by hand, independently of labeling/permissions.py.
`test_every_endpoint_has_an_entry` fails when a URL is added without an entry here.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

ROLES = ["owner", "annotator", "viewer", "outsider", "anonymous"]


def _status(owner, annotator, viewer, outsider=404, anonymous=401):
    return dict(zip(ROLES, [owner, annotator, viewer, outsider, anonymous], strict=True))


# (url name, method) -> (url args builder, request body, expected status per role).
# "outsider" is a member of another project only: it must get 404, never 403.
PROJECT_API = {
    ("api-project", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-project", "PATCH"): (
        lambda t: [t["project"].pk],
        {"name": "Renamed"},
        _status(200, 403, 403),
    ),
    ("api-project", "DELETE"): (lambda t: [t["project"].pk], None, _status(204, 403, 403)),
    ("api-project-members", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-project-members", "POST"): (
        lambda t: [t["project"].pk],
        {"username": "newcomer", "role": "viewer"},
        _status(201, 403, 403),
    ),
    ("api-project-member", "PATCH"): (
        lambda t: [t["project"].pk, t["viewer_membership"].pk],
        {"role": "annotator"},
        _status(200, 403, 403),
    ),
    ("api-project-member", "DELETE"): (
        lambda t: [t["project"].pk, t["viewer_membership"].pk],
        None,
        _status(204, 403, 403),
    ),
    ("api-categories", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-categories", "POST"): (
        lambda t: [t["project"].pk],
        {"name": "Platelets"},
        _status(201, 403, 403),
    ),
    ("api-category", "PATCH"): (
        lambda t: [t["project"].pk, t["category"].pk],
        {"name": "Red cell"},
        _status(200, 403, 403),
    ),
    ("api-category", "DELETE"): (
        lambda t: [t["project"].pk, t["category"].pk],
        None,
        _status(204, 403, 403),
    ),
    ("api-category-merge", "POST"): (
        lambda t: [t["project"].pk, t["category"].pk],
        {"into": "<category2>"},
        _status(200, 403, 403),
    ),
    ("api-category-shortcuts", "PUT"): (  # the editor's keys: annotators may change them
        lambda t: [t["project"].pk],
        {"shortcuts": [{"category_id": "<category>", "shortcut": "q"}]},
        _status(200, 200, 403),
    ),
    ("api-images", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-images", "POST"): (  # a JSON body carries no files: 400 once allowed
        lambda t: [t["project"].pk],
        {"files": []},
        _status(400, 400, 403),
    ),
    ("api-images-split", "POST"): (
        lambda t: [t["project"].pk],
        {"image_ids": ["<image>"], "split": "test"},
        _status(200, 403, 403),
    ),
    ("api-images-assign", "POST"): (
        lambda t: [t["project"].pk],
        {"username": "annotator", "count": 1},
        _status(200, 403, 403),
    ),
    ("api-images-delete", "POST"): (
        lambda t: [t["project"].pk],
        {"image_ids": ["<image>"]},
        _status(200, 403, 403),
    ),
    ("api-image", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-image", "DELETE"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(204, 403, 403),
    ),
    ("api-image-file", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-image-thumbnail", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-project-resplit", "POST"): (
        lambda t: [t["project"].pk],
        {"train": 80, "val": 10, "test": 10},
        _status(200, 403, 403),
    ),
    ("api-project-health", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-image-neighbours", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    # One image's boxes (labeling/api_annotations.py): annotators save, owners review.
    ("api-image-annotations", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-image-annotations", "PUT"): (
        lambda t: [t["project"].pk, t["image"].pk],
        {"base_version": 0, "boxes": [{"category_id": "<category>", "bbox": [1, 1, 5, 5]}]},
        _status(200, 200, 403),
    ),
    ("api-image-annotations-history", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-image-annotations-revert", "POST"): (  # allowed, but the image has no change 999999
        lambda t: [t["project"].pk, t["image"].pk],
        {"change_id": 999999, "base_version": 0},
        _status(400, 400, 403),
    ),
    ("api-image-review", "POST"): (
        lambda t: [t["project"].pk, t["image"].pk],
        {"decision": "reject", "comment": "Boxes are missing.", "base_version": 0},
        _status(200, 403, 403),
    ),
    ("api-imports", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-imports", "POST"): (  # annotators import; a JSON body has no file: 400 once allowed
        lambda t: [t["project"].pk],
        {"format": "coco"},
        _status(400, 400, 403),
    ),
    ("api-import", "GET"): (
        lambda t: [t["project"].pk, t["import"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-import-report", "GET"): (
        lambda t: [t["project"].pk, t["import"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-project-export", "GET"): (
        lambda t: [t["project"].pk, "coco"],
        None,
        _status(200, 200, 200),
    ),
    ("api-exports", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-exports", "POST"): (  # any member may prepare an export, as any may export
        lambda t: [t["project"].pk],
        {"format": "coco"},
        _status(202, 202, 202),
    ),
    ("api-export", "GET"): (
        lambda t: [t["project"].pk, t["export"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-export-file", "GET"): (
        lambda t: [t["project"].pk, t["export"].pk],
        None,
        _status(200, 200, 200),
    ),
    # Training runs (training/api.py): annotators may train; viewers only look.
    ("api-runs", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-runs", "POST"): (
        lambda t: [t["project"].pk],
        {"preset": "fast"},
        _status(400, 400, 403),  # allowed, but this project's data fails the check
    ),
    ("api-run", "GET"): (lambda t: [t["project"].pk, t["run"].pk], None, _status(200, 200, 200)),
    ("api-run-cancel", "POST"): (
        lambda t: [t["project"].pk, t["run"].pk],
        None,
        _status(200, 200, 403),
    ),
    ("api-run-log", "GET"): (
        lambda t: [t["project"].pk, t["run"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-run-config", "GET"): (
        lambda t: [t["project"].pk, t["run"].pk],
        None,
        _status(200, 200, 200),
    ),
    # Model versions (training/api_models.py): URLs by model id, scoped to its project.
    ("api-models", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-model", "GET"): (lambda t: [t["model"].pk], None, _status(200, 200, 200)),
    ("api-model", "PATCH"): (
        lambda t: [t["model"].pk],
        {"threshold": 0.5},
        _status(200, 200, 403),
    ),
    # Deleting: editors and owners (its pre-label job is a lost one: it goes with it).
    ("api-model", "DELETE"): (lambda t: [t["model"].pk], None, _status(204, 204, 403)),
    ("api-model-download", "GET"): (lambda t: [t["model"].pk], None, _status(200, 200, 200)),
    # The label audit (training/api_audit.py): read by all; a candidate made a suggestion
    # by those who annotate.
    ("api-model-audit", "GET"): (lambda t: [t["model"].pk], None, _status(200, 200, 200)),
    ("api-model-audit-suggestion", "POST"): (
        lambda t: [t["model"].pk, 0],
        None,
        _status(200, 200, 403),
    ),
    # Predictions and model-assisted labeling (training/api_predict.py, api_prelabel.py).
    ("api-model-predict", "POST"): (  # any member may predict; no image sent: 400
        lambda t: [t["model"].pk],
        None,
        _status(400, 400, 400),
    ),
    ("api-prelabel-jobs", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200)),
    ("api-prelabel-jobs", "POST"): (  # the fixture's job is queued but long lost
        lambda t: [t["project"].pk],
        {"model": "<model>", "confirm": True},  # the fixture's model is not usable yet
        _status(202, 202, 403),
    ),
    ("api-prelabel-job", "GET"): (
        lambda t: [t["project"].pk, t["prelabel_job"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-prelabel-job-cancel", "POST"): (
        lambda t: [t["project"].pk, t["prelabel_job"].pk],
        None,
        _status(200, 200, 403),
    ),
    ("api-image-suggestions", "GET"): (
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200),
    ),
    ("api-images-most-useful", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200),
    ),
}

PROJECT_PAGES = {
    ("project-detail", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("project-upload", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 403, anonymous=302),
    ),
    ("project-images", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("project-health", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("annotate", "GET"): (  # the box editor: read-only for viewers
        lambda t: [t["project"].pk, t["image"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("train", "GET"): (lambda t: [t["project"].pk], None, _status(200, 200, 200, anonymous=302)),
    ("model-try", "GET"): (  # "Try it" page of a model version (training/views_try.py)
        lambda t: [t["project"].pk, t["model"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("project-runs-table", "GET"): (  # the project page's runs table, polled
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("run-detail", "GET"): (
        lambda t: [t["project"].pk, t["run"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    # Model pages (training/views_models.py); the team's model has an empty evaluation.
    ("model-list", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("model-detail", "GET"): (
        lambda t: [t["project"].pk, t["model"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
    ("model-compare", "GET"): (
        lambda t: [t["project"].pk],
        None,
        _status(200, 200, 200, anonymous=302),
    ),
}

# Endpoints that are not about one project: what an anonymous and a signed-in user get.
GLOBAL = {
    ("home", "GET"): {"anonymous": 302, "user": 302},
    ("healthz", "GET"): {"anonymous": 200, "user": 200},
    ("login", "GET"): {"anonymous": 200, "user": 200},
    ("logout", "POST"): {"anonymous": 302, "user": 302},
    ("password_change", "GET"): {"anonymous": 302, "user": 200},
    ("password_change_done", "GET"): {"anonymous": 302, "user": 200},
    ("account", "GET"): {"anonymous": 302, "user": 200},
    ("system", "GET"): {"anonymous": 302, "user": 302},  # staff only: others go to login
    ("project-list", "GET"): {"anonymous": 302, "user": 200},
    ("api-token", "POST"): {"anonymous": 400, "user": 400},  # needs credentials
    ("api-me", "GET"): {"anonymous": 401, "user": 200},
    ("api-projects", "GET"): {"anonymous": 401, "user": 200},
    ("api-projects", "POST"): {"anonymous": 401, "user": 201},
    ("api-worker-checks", "POST"): {"anonymous": 401, "user": 403},  # staff only
    ("api-worker-check", "GET"): {"anonymous": 401, "user": 403},  # staff only
    # The schema and docs are for logged-in users (STUDIO_API_DOCS_PUBLIC=1 opens them).
    # Notifications: one's own only; another user's is not found.
    ("api-notifications", "GET"): {"anonymous": 401, "user": 200},
    ("api-notifications-read-all", "POST"): {"anonymous": 401, "user": 200},
    ("notification-open", "GET"): {"anonymous": 302, "user": 404},
    ("api-schema", "GET"): {"anonymous": 401, "user": 200},
    ("api-docs", "GET"): {"anonymous": 302, "user": 200},  # to the login page
    # DeepStack-compatible detection: an API key only (none configured here), no session.
    ("deepstack-detection", "POST"): {"anonymous": 401, "user": 401},
    ("deepstack-custom", "POST"): {"anonymous": 401, "user": 401},
}
GLOBAL_ARGS = {
    "api-worker-check": lambda t: [t["foreign_check"].pk],
    "notification-open": lambda t: [t["foreign_notification"].pk],
    "deepstack-custom": lambda t: ["cells"],
}
GLOBAL_BODIES = {("api-projects", "POST"): {"name": "Mine"}}


def _names(resolver, namespace=None):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django's admin: staff only, guarded by Django itself
            yield from _names(pattern, pattern.namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern.name


def test_every_endpoint_has_an_entry():
    covered = {name for name, _ in [*PROJECT_API, *PROJECT_PAGES, *GLOBAL]}
    existing = set(_names(get_resolver()))
    assert existing - covered == set(), "add these endpoints to the role matrix"
    assert covered - existing == set(), "these matrix entries name no endpoint"


@pytest.fixture
def team(project_team):
    from labeling.models import Membership
    from studio.models import WorkerCheck

    viewer = project_team["users"]["viewer"]
    project_team["viewer_membership"] = Membership.objects.get(user=viewer)
    project_team["foreign_check"] = WorkerCheck.objects.create(
        created_by=project_team["users"]["outsider"], requested_by_pid=1
    )
    from labeling.models import Notification

    project_team["foreign_notification"] = Notification.objects.create(
        user=project_team["users"]["outsider"], project=project_team["other"], key="k", url="/"
    )
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="newcomer")
    from labeling.models import Category

    project = project_team["project"]
    project_team["category"] = Category.objects.create(project=project, name="RBC", order=0)
    project_team["category2"] = Category.objects.create(project=project, name="WBC", order=1)
    import io

    from labeling import ingest
    from tests.labeling.imagefiles import image_bytes

    [result] = ingest.images_ingest(
        project=project, sources=[ingest.Source("a.png", io.BytesIO(image_bytes("PNG")))]
    )
    project_team["image"] = project.images.get(pk=result.image_id)
    from labeling.models import DatasetImport

    project_team["import"] = DatasetImport.objects.create(
        project=project, source_name="a.zip", status="succeeded", report={"problems": []}
    )
    from labeling.dataset_export import ExportOptions
    from labeling.export_jobs import export_job_enqueue, export_job_run

    prepared = export_job_enqueue(project=project, format="coco", options=ExportOptions())
    project_team["export"] = export_job_run(export_id=prepared.pk)
    from training.models import DatasetVersion, TrainingRun

    version = DatasetVersion.objects.create(
        project=project, content_hash="0" * 64, coco_file="x.json", image_count=0, box_count=0
    )
    project_team["run"] = TrainingRun.objects.create(project=project, dataset_version=version)
    # A model version belongs to a run that succeeded (both are written in one transaction);
    # the queued run above stays cancellable.
    finished = TrainingRun.objects.create(
        project=project, dataset_version=version, status="succeeded"
    )
    project_team["model"] = _model_version(finished)
    project_team["model"].label_audit = {  # one possible missing label, on the image
        "status": "done",
        "candidates": [
            {"image_id": project_team["image"].pk, "box": [1, 1, 5, 5], "class": "RBC",
             "category_id": project_team["category"].pk, "score": 0.9}
        ],
    }  # fmt: skip
    project_team["model"].save()
    from datetime import timedelta

    from training.models import PrelabelJob

    project_team["prelabel_job"] = PrelabelJob.objects.create(
        project=project, model=project_team["model"]
    )
    PrelabelJob.objects.filter(pk=project_team["prelabel_job"].pk).update(
        created_at=project_team["prelabel_job"].created_at - timedelta(days=1)
    )
    return project_team


def _model_version(run):
    """A model version whose ONNX file is a one-node graph (enough for downloads)."""
    import onnx
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from onnx import TensorProto, helper

    from training.models import ModelVersion

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    data = onnx.helper.make_model(graph).SerializeToString()
    name = default_storage.save(f"matrix/{run.pk}/model.onnx", ContentFile(data))
    return ModelVersion.objects.create(
        project=run.project,
        run=run,
        version=1,
        onnx_file=name,
        onnx_sha256="3" * 64,
        checkpoint_file=name,
        export={"metadata": {"class_names": ["RBC", "WBC"]}},
    )


def _body(team, body):
    """Fill the placeholders ("<name>") of a request body with the ids of team objects."""
    if isinstance(body, dict):
        return {key: _body(team, value) for key, value in body.items()}
    if isinstance(body, list):
        return [_body(team, value) for value in body]
    if isinstance(body, str) and body.startswith("<") and body.endswith(">"):
        return team[body[1:-1]].pk
    return body


def _request(client, method, url, body):
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    response = getattr(client, method.lower())(url, **kwargs)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # a download is read to its end
    return response


def _client(team, role, *, api: bool):
    if role == "anonymous":
        return Client()
    client = Client()
    client.force_login(team["users"][role])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(PROJECT_API) + list(PROJECT_PAGES), ids=str)
def test_project_endpoint_role(team, case, role):
    args, body, expected = {**PROJECT_API, **PROJECT_PAGES}[case]
    name, method = case
    client = _client(team, role, api=name.startswith("api-"))
    response = _request(client, method, reverse(name, args=args(team)), _body(team, body))
    assert response.status_code == expected[role], response.content[:300]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "annotator", "viewer"])
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_member_of_another_project_is_404(team, role, method):
    """A membership id of project B under project A's URL: not found, whatever the role."""
    other_membership = team["other"].memberships.get()
    client = _client(team, role, api=True)
    url = reverse("api-project-member", args=[team["project"].pk, other_membership.pk])
    response = _request(client, method, url, {"role": "viewer"} if method == "PATCH" else None)
    assert response.status_code in (404, 403)
    if role == "owner":
        assert response.status_code == 404
    other_membership.refresh_from_db()
    assert other_membership.role == "owner"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "user"])
@pytest.mark.parametrize("case", list(GLOBAL), ids=str)
def test_global_endpoint(team, case, who):
    name, method = case
    args = GLOBAL_ARGS.get(name, lambda t: [])(team)
    client = Client()
    if who == "user":
        client.force_login(team["users"]["viewer"])
    response = _request(client, method, reverse(name, args=args), GLOBAL_BODIES.get(case))
    assert response.status_code == GLOBAL[case][who], response.content[:300]
