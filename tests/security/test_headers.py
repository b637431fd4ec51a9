"""Every HTML page carries the Content-Security-Policy (django-csp, studio/settings.py)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from labeling.models import Image
from tests.conftest import REPO_ROOT
from tests.security.pages import EXTRA_URLS, admin_urls, page_urls, uncovered_routes

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


@pytest.fixture
def staff_client(project_team):
    owner = project_team["users"]["owner"]
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    return client


def test_every_page_has_the_policy(staff_client, reviewed_model):
    project = reviewed_model.project
    image = Image.objects.filter(project=project).first()
    urls = page_urls(project=project, image=image, run=reviewed_model.run, model=reviewed_model)
    assert uncovered_routes(urls) == set(), "a page route has no URL in tests/security/pages.py"
    for name, url in {**urls, **EXTRA_URLS, **admin_urls(project=project)}.items():
        response = staff_client.get(url, follow=True)
        assert response.status_code in (200, 404), (name, response.status_code)
        assert response["Content-Type"].startswith("text/html"), name
        assert directives(response["Content-Security-Policy"]) == POLICY, name
    # Image files keep their own, stricter policy.
    response = staff_client.get(f"/api/v1/projects/{project.pk}/images/{image.pk}/file")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_anonymous_pages_have_the_policy(client):
    for url in ("/accounts/login/", "/no-such-page/"):
        response = client.get(url)
        assert directives(response["Content-Security-Policy"]) == POLICY, url


def test_the_docs_page_loads_no_inline_script_or_style(staff_client):
    html = staff_client.get("/api/v1/docs").content.decode()
    assert "<style" not in html and "style=" not in html
    assert "<script>" not in html  # every script has a src
    script = staff_client.get("/api/v1/docs?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


@pytest.mark.urls("tests.studio.test_error_pages")
def test_the_500_page_has_the_policy(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert directives(response["Content-Security-Policy"]) == POLICY


INLINE = re.compile(r"<style|\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)", re.I)


def test_templates_have_no_inline_script_style_or_handler():
    """What the policy would block, found before a browser meets it."""
    found = {
        str(path.relative_to(REPO_ROOT)): INLINE.findall(path.read_text())
        for path in sorted((REPO_ROOT / "templates").rglob("*.html"))
    }
    assert {name: hits for name, hits in found.items() if hits} == {}
