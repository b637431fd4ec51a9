"""Upload through the API, the image list, and serving the pixels to members only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import Image
from tests.labeling.imagefiles import image_bytes, zip_bytes

pytestmark = pytest.mark.django_db


def _upload(client, project, files: dict[str, bytes]):
    url = reverse("api-images", args=[project.pk])
    uploads = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return client.post(url, {"files": uploads}, format="multipart")


def test_upload_many_files_and_a_zip(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["annotator"])
    response = _upload(
        client,
        project,
        {
            "a.jpg": image_bytes("JPEG", color=(1, 1, 1)),
            "b.png": image_bytes("PNG", color=(2, 2, 2)),
            "evil.html": b"<html><body>hi</body></html>",
            "more.zip": zip_bytes({"c.webp": image_bytes("WEBP", color=(3, 3, 3))}),
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["added"], body["duplicate"], body["refused"]) == (3, 0, 1)
    statuses = {r["name"]: r["status"] for r in body["results"]}
    assert statuses == {
        "a.jpg": "added",
        "b.png": "added",
        "evil.html": "refused",
        "more.zip/c.webp": "added",
    }
    image = Image.objects.get(original_name="a.jpg")
    assert image.uploaded_by == project_team["users"]["annotator"]


def test_viewer_cannot_upload(project_team, api_client_for):
    client = api_client_for(project_team["users"]["viewer"])
    response = _upload(client, project_team["project"], {"a.png": image_bytes()})
    assert response.status_code == 403
    assert not Image.objects.exists()


def test_list_filters_and_validation(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    _upload(client, project, {f"{i}.png": image_bytes(color=(i, 0, 0)) for i in range(3)})
    Image.objects.filter(original_name="0.png").update(split="test", no_objects=True)
    url = reverse("api-images", args=[project.pk])
    assert client.get(url).json()["count"] == 3
    page = client.get(url, {"split": "test", "no_objects": "true"}).json()
    assert [r["original_name"] for r in page["results"]] == ["0.png"]
    assert page["results"][0]["box_count"] == 0
    bad = client.get(url, {"split": "nonsense"})
    assert bad.status_code == 400
    assert bad.json()["errors"]["split"]


def test_file_is_served_with_safe_headers(project_team, api_client_for):
    project = project_team["project"]
    owner = api_client_for(project_team["users"]["owner"])
    data = image_bytes("PNG")
    result = _upload(owner, project, {"cells.png": data}).json()["results"][0]
    image_id = result["image_id"]
    viewer = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-image-file", args=[project.pk, image_id])
    response = viewer.get(url, HTTP_ACCEPT="image/avif,image/webp,*/*")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "html" not in response["Content-Disposition"].lower()
    assert 'filename="cells.png"' in response["Content-Disposition"]
    again = viewer.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    thumb = viewer.get(reverse("api-image-thumbnail", args=[project.pk, image_id]))
    assert thumb["Content-Type"] == "image/jpeg"
    only_png = viewer.get(url, HTTP_ACCEPT="image/png")
    assert only_png.status_code == 200


def test_file_of_another_project_is_404(project_team, api_client_for):
    project = project_team["project"]
    owner = api_client_for(project_team["users"]["owner"])
    image_id = _upload(owner, project, {"a.png": image_bytes()}).json()["results"][0]["image_id"]
    outsider = api_client_for(project_team["users"]["outsider"])
    url = reverse("api-image-file", args=[project.pk, image_id])
    assert outsider.get(url).status_code == 404
    # Their own project's URL with our image id: 404 too.
    other_url = reverse("api-image-file", args=[project_team["other"].pk, image_id])
    assert outsider.get(other_url).status_code == 404
    assert api_client_for().get(url).status_code == 401


def test_media_url_serves_nothing(project_team, api_client_for, client):
    project = project_team["project"]
    owner = api_client_for(project_team["users"]["owner"])
    image_id = _upload(owner, project, {"a.png": image_bytes()}).json()["results"][0]["image_id"]
    image = Image.objects.get(pk=image_id)
    client.force_login(project_team["users"]["owner"])
    assert client.get(f"/media-not-served/{image.file.name}").status_code == 404
    assert client.get(f"/media/{image.file.name}").status_code == 404
