"""`make run` runs with DEBUG on: a missing page is still the studio's own 404 page, and
the details Django would show go to the log."""

from __future__ import annotations

import logging

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/no-such-page/", "/projects/999999/"])
def test_debug_404_is_the_user_facing_page(client, make_user, settings, caplog, url):
    settings.DEBUG = True
    client.force_login(make_user("alice"))
    with caplog.at_level(logging.WARNING, logger="studio.not_found"):
        response = client.get(url)
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is nothing here" in body
    assert "URLconf" not in body and "DEBUG = True" not in body and "settings" not in body
    assert url in caplog.text


@pytest.mark.django_db
def test_debug_api_404_stays_json(make_user, settings):
    from rest_framework.test import APIClient

    settings.DEBUG = True
    client = APIClient()
    client.force_authenticate(make_user("alice"))
    response = client.get("/api/v1/projects/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such project."}


@pytest.mark.django_db
def test_debug_append_slash_still_redirects(client, make_user, settings):
    settings.DEBUG = True
    client.force_login(make_user("alice"))
    response = client.get("/projects")
    assert response.status_code == 301 and response.url == "/projects/"
