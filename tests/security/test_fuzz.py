"""Fuzzing the whole API with schemathesis, from the studio's own OpenAPI schema.

Every operation of /api/v1/schema gets schemathesis' coverage cases (boundary values,
wrong types, missing and unknown fields, unexpected methods) and random requests that
fit the schema and that do not (positive and negative modes), sent through the studio's
WSGI application as an owner with a token, mostly at the ids of real rows (a project with an
image, boxes, a model version, a run, an import, a pre-label job, a worker check), so
they reach real code. No response may be a 5xx, and every error body must be JSON.

Each request runs in a savepoint that is rolled back, so a DELETE does not take the
project from the requests after it. Bounded: COVERAGE_CASES and EXAMPLES (per mode)
requests per operation, the whole test under two minutes on the 2-core VM; deterministic
(derandomized), so CI sees the same requests every run.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter, defaultdict
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token

from labeling import ingest
from labeling.models import Annotation, Category, DatasetExport, DatasetImport, Image
from studio.models import WorkerCheck
from tests.labeling.imagefiles import image_bytes
from training.models import PrelabelJob

pytestmark = pytest.mark.django_db

EXAMPLES = 6  # random requests per operation and generation mode
COVERAGE_CASES = 20  # per operation, spread over schemathesis' coverage cases
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
TIME_LIMIT_SECONDS = 110


@pytest.fixture
def real_ids(model_version, project_team):
    """Rows of every kind the API addresses, in the project of ``model_version``."""
    project = project_team["project"]
    owner = project_team["users"]["owner"]
    owner.is_staff = True
    owner.save()
    [result] = ingest.images_ingest(
        project=project, sources=[ingest.Source("a.png", io.BytesIO(image_bytes(size=(64, 48))))]
    )
    image = Image.objects.get(pk=result.image_id)
    category = Category.objects.create(project=project, name="cell")
    Annotation.objects.create(image=image, category=category, x=2, y=3, w=20, h=10, area=200)
    imported = DatasetImport.objects.create(
        project=project, source_name="cells.zip", status=DatasetImport.Status.FAILED
    )
    exported = DatasetExport.objects.create(
        project=project, format="coco", status=DatasetExport.Status.SUCCEEDED, created_by=owner,
        file=default_storage.save(f"projects/{project.pk}/exports/e.zip", ContentFile(b"PK")),
    )  # fmt: skip
    job = PrelabelJob.objects.create(project=project, model=model_version, created_by=owner)
    check = WorkerCheck.objects.create(created_by=owner, requested_by_pid=1)
    membership = project.memberships.get(user=project_team["users"]["annotator"])
    return {
        "project_id": project.pk,
        "image_id": image.pk,
        "category_id": category.pk,
        "model_id": model_version.pk,
        "run_id": model_version.run_id,
        "import_id": imported.pk,
        "export_id": exported.pk,
        "job_id": job.pk,
        "membership_id": membership.pk,
        "check_id": check.pk,
        "dataset_format": "coco",
    }


@contextmanager
def _connection_kept_open():
    """Requests to the WSGI application stay in the test's database transaction: as in
    Django's test client, they do not close the connection when they start and end.
    (The test client connects the handler again after each of its own requests.)"""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _schema(owner) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(owner)
    response = client.get("/api/v1/schema?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def _problem(response) -> str | None:
    """Why this response breaks the rules, or None."""
    if response.status_code >= 500:
        return f"status {response.status_code}"
    if response.status_code >= 400:
        headers = {name.lower(): values for name, values in response.headers.items()}
        content_type = (headers.get("content-type") or [""])[0]
        if "json" not in content_type:
            return f"status {response.status_code} with a {content_type or 'untyped'} body"
        try:
            json.loads(response.content)
        except ValueError:
            return f"status {response.status_code}: the body is no JSON"
    return None


def test_no_5xx_and_json_errors_over_the_whole_api(real_ids, project_team):
    owner = project_team["users"]["owner"]
    token = Token.objects.create(user=owner).key
    schema = schemathesis.openapi.from_dict(_schema(owner))
    app = get_wsgi_application()
    headers = {"Authorization": f"Token {token}"}
    failures: dict[str, list[str]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)  # operation -> status codes
    skipped: list[str] = []
    started = time.monotonic()

    def send(case, use_real_ids: bool) -> None:
        if use_real_ids:
            for name in case.path_parameters or {}:
                if name in real_ids:
                    case.path_parameters[name] = real_ids[name]
        with transaction.atomic():
            response = case.call(app=app, headers=headers)
            transaction.set_rollback(True)
        statuses[case.operation.label][response.status_code] += 1
        problem = _problem(response)
        if problem is not None:
            where = f"{case.method} {case.formatted_path}"
            body = response.content[:300].decode(errors="replace")
            failures[f"{case.operation.label}: {problem}"].append(f"{where} -> {body}")

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the schema lost its operations"
    with _connection_kept_open():
        for operation in operations:
            _coverage(schema, operation, send)
            for mode in MODES:
                _fuzz(operation, mode, send, skipped)
    elapsed = time.monotonic() - started
    requests = sum(sum(codes.values()) for codes in statuses.values())
    reached = sorted(op for op, codes in statuses.items() if any(c < 300 for c in codes))
    print(
        f"fuzz: {requests} requests over {len(operations)} operations in {elapsed:.0f} s; "
        f"{len(reached)} operations answered 2xx; nothing invalid to make for {skipped}"
    )
    for operation, codes in sorted(statuses.items()):
        print(f"  {operation}: {dict(sorted(codes.items()))}")
    assert dict(failures) == {}
    # The token and the real ids get the requests past authentication and lookups.
    assert len(reached) >= 0.75 * len(operations), sorted(set(statuses) - set(reached))
    assert elapsed < TIME_LIMIT_SECONDS


def _fuzz(operation, mode, send, skipped: list[str]) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, use_real_ids=st.sampled_from([True, True, True, False]))
    def run(case, use_real_ids):
        send(case, use_real_ids)

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without input)
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
        skipped.append(operation.label)


def _coverage(schema, operation, send) -> None:
    """Boundary values, wrong types, missing and unknown fields, unexpected methods."""
    cases = list(
        schema.iter_coverage_cases(
            operation,
            generation_modes=list(MODES),
            generation_config=schema.config.generation_for(operation=operation),
        )
    )
    step = max(1, len(cases) // COVERAGE_CASES)
    for index, case in enumerate(cases[::step][:COVERAGE_CASES]):
        send(case, use_real_ids=index % 4 != 3)
