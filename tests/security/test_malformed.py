"""Malformed input answers 400/404 with {"detail": ...} naming the field, before any work:
JSON nested too deeply, numbers beyond 64 bits (in a body, a URL, a query string), and
malformed limit/offset."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from labeling.models import Image
from tests.labeling.annotation_helpers import make_categories, make_image, put

BIG = 2**70  # beyond 64 bits: SQLite raises OverflowError, PostgreSQL's bigint cannot hold it
HUGE = 10**400  # beyond what a float can hold: float() raises OverflowError


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def owner_client(project_team):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(project_team["users"]["owner"])
    return client


@pytest.fixture
def image(project_team):
    image = make_image(project_team["project"])
    make_categories(project_team["project"], "cell")
    return image


def _detail(response, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return response.json()["detail"]


def _tables(queries) -> str:
    return " ".join(query["sql"] for query in queries.captured_queries)


# --- JSON nested ~1,000+ levels -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("levels", [100, 1_000, 30_000])  # 30,000: 60 KB, under its 64 KiB
def test_deeply_nested_json_on_the_anonymous_token_endpoint(levels):
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/v1/auth/token", deep(levels), content_type="application/json")
    assert "nested deeper than 64 levels" in _detail(response, 400)


@pytest.mark.django_db
def test_deeply_nested_json_on_authenticated_endpoints(owner_client, project_team, image):
    project = project_team["project"]
    for method, url in [
        ("post", "/api/v1/projects"),
        ("patch", f"/api/v1/projects/{project.pk}"),
        ("post", f"/api/v1/projects/{project.pk}/members"),
        ("put", f"/api/v1/projects/{project.pk}/images/{image.pk}/annotations"),
    ]:
        body = json.dumps({"name": "x", "boxes": "PLACEHOLDER"}).replace(
            '"PLACEHOLDER"', deep(5_000)
        )
        response = getattr(owner_client, method)(url, body, content_type="application/json")
        assert "nested deeper" in _detail(response, 400), url
    project.refresh_from_db()
    assert project.name == "Cells"


def _api_urls(ids: dict[str, object], default: object) -> list[str]:
    from django.urls import get_resolver

    from tests.studio.test_openapi import _api_routes

    urls = []
    for route in sorted(set(_api_routes(get_resolver()))):
        values = {name: ids.get(name, default) for name in re.findall(r"{(\w+)}", route)}
        values["dataset_format"] = "coco"
        urls.append(route.format(**values))
    return urls


@pytest.mark.django_db
def test_every_api_endpoint_refuses_deep_json_and_ids_beyond_64_bits(
    owner_client, project_team, image
):
    """The whole API, from its URL patterns: deep JSON to every writing method is never a
    5xx, and an id beyond 64 bits in any URL is a JSON 404."""
    ids = {"project_id": project_team["project"].pk, "image_id": image.pk}
    wrong = []
    for url in _api_urls(ids, 1):
        for method in ("post", "put", "patch"):
            response = getattr(owner_client, method)(
                url, deep(3_000), content_type="application/json"
            )
            json_answer = response["Content-Type"].startswith("application/json")
            if response.status_code >= 500 or not json_answer:
                wrong.append(f"{method.upper()} {url}: {response.status_code}")
            elif response.status_code == 400:
                assert "nested deeper" in response.json()["detail"], url
    for url in _api_urls({}, BIG):
        if str(BIG) in url:
            response = owner_client.get(url)
            if response.status_code != 404 or "out of range" not in response.json()["detail"]:
                wrong.append(f"GET {url}: {response.status_code}")
    assert not wrong


# --- Integers beyond 64 bits ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"boxes": [{"category_id": 1, "bbox": [HUGE, 1, 2, 3]}]}, "boxes[0].bbox[0]"),
        ({"boxes": [{"category_id": 1, "bbox": [1, 1, 2, 3], "suggestion_id": BIG}]},
         "boxes[0].suggestion_id"),
        ({"boxes": [], "rejected_suggestions": [3, BIG]}, "rejected_suggestions[1]"),
        ({"boxes": [], "reopened_suggestions": [BIG]}, "reopened_suggestions[0]"),
        ({"boxes": [{"category_id": 1, "bbox": [1e400, 1, 2, 3]}]}, "boxes[0].bbox[0]"),
    ],
)  # fmt: skip
def test_numbers_beyond_64_bits_in_a_save(owner_client, image, body, field):
    text = json.dumps({"base_version": 0, **body}).replace("Infinity", "1e400")
    response = put(owner_client, image, text)
    detail = _detail(response, 400)
    assert detail.startswith(f"{field}: ") and "out of range" in detail
    image.refresh_from_db()
    assert image.annotation_version == 0 and not image.annotations.exists()


@pytest.mark.django_db
def test_url_id_beyond_64_bits_is_404_before_any_query(owner_client, project_team):
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(f"/api/v1/projects/{BIG}")
    assert "project_id" in _detail(response, 404)
    assert "labeling_project" not in _tables(queries)

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.delete(
            f"/api/v1/projects/{project_team['project'].pk}/images/{BIG}"
        )
    assert "image_id" in _detail(response, 404)
    assert "labeling_image" not in _tables(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_an_id_no_url_pattern_takes_is_a_json_404_under_the_api(owner_client, settings, debug):
    """Thousands of digits: int() refuses them, so no URL pattern matches at all."""
    settings.DEBUG = debug
    for path in (f"/api/v1/projects/{'9' * 5000}", "/api/v1/no-such-endpoint"):
        assert _detail(owner_client.get(path), 404).startswith("Not found: nothing answers at")
    response = owner_client.post(f"/v1/vision/custom/x/{'9' * 5000}")
    assert response.status_code == 404 and response.json()["success"] is False
    page = owner_client.get(f"/projects/{'9' * 5000}/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_page_id_beyond_64_bits_is_the_404_page(client, project_team):
    client.force_login(project_team["users"]["owner"])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/projects/{BIG}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "labeling_project" not in _tables(queries)


@pytest.mark.django_db
def test_filter_beyond_64_bits_is_400_naming_it(owner_client, project_team, image):
    url = f"/api/v1/projects/{project_team['project'].pk}/images"
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(url, {"category": str(BIG)})
    assert _detail(response, 400).startswith("category: ")
    reason = response.json()["detail"].removeprefix("category: ")
    assert response.json()["errors"] == {"category": [reason]}
    assert "labeling_image" not in _tables(queries)
    # A long run of digits is refused without being converted (int() stops at 4,300 digits).
    response = owner_client.get(url, {"category": "9" * 10_000})
    assert _detail(response, 400).startswith("category: 99999")
    # Still accepted: the largest 64-bit value (matches nothing).
    response = owner_client.get(url, {"category": str(2**63 - 1)})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_form_field_beyond_64_bits_is_400_naming_it(owner_client, project_team, image, encoding):
    url = f"/api/v1/projects/{project_team['project'].pk}/images/split"
    data = {"image_ids": [str(image.pk), str(BIG)], "split": "test"}
    if encoding == "form":
        body = urlencode(data, doseq=True)
        response = owner_client.post(url, body, content_type="application/x-www-form-urlencoded")
    else:
        response = owner_client.post(url, data, format="multipart")
    assert _detail(response, 400).startswith("image_ids: 1180591620717411303424 is out of range")
    before = image.split
    image.refresh_from_db()
    assert image.split == before


# --- limit and offset ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "-1", "offset": "-5"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "1.5"}, "offset"),
        ({"limit": str(BIG)}, "limit"),
    ],
)
def test_malformed_limit_and_offset_are_refused(owner_client, project_team, image, query, field):
    url = f"/api/v1/projects/{project_team['project'].pk}/images"
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(url, query)
    assert _detail(response, 400).startswith(f"{field}: ")
    assert "labeling_image" not in _tables(queries)


@pytest.mark.django_db
def test_good_limit_and_offset_still_page(owner_client, project_team):
    project = project_team["project"]
    for _ in range(3):
        make_image(project)
    url = f"/api/v1/projects/{project.pk}/images"
    page = owner_client.get(url, {"limit": "2", "offset": "1"}).json()
    assert page["count"] == 3 and len(page["results"]) == 2
    # Above the endpoint's maximum the limit is lowered to it, as before.
    page = owner_client.get(url, {"limit": "100000"}).json()
    assert len(page["results"]) == 3
    assert Image.objects.filter(project=project).count() == 3
