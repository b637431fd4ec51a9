"""What the studio hands out: CSV cells no spreadsheet runs as formulas, error texts that
name the user's file rather than a server path, the API docs only for logged-in users."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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
