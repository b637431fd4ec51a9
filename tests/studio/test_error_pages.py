"""Error pages: helpful, and never a stack trace when DEBUG is off."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path


def _boom(request):
    raise RuntimeError("secret internal detail 1f2e3d")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.django_db
def test_404_page(client, make_user):
    client.force_login(make_user("alice"))
    response = client.get("/projects/999999/")
    assert response.status_code == 404
    assert b"not a member of this project" in response.content


@pytest.mark.urls("tests.studio.test_error_pages")
def test_500_page_shows_no_traceback(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on the server" in body
    assert "Traceback" not in body and "1f2e3d" not in body and "RuntimeError" not in body


@pytest.mark.django_db
def test_api_404_is_json(make_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user("alice"))
    response = client.get("/api/v1/projects/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such project."}
