"""Small things a person notices: the favicon, a refused upload's progress, Import with
no file chosen."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.editor_pages import sign_in
from tests.labeling.imagefiles import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_has_a_favicon_and_no_404(page, studio_server, project_team):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto("/accounts/login/")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon and "favicon" in icon
    response = page.request.get(icon)
    assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
    sign_in(page.context, studio_server.url, project_team["users"]["owner"])
    page.goto(reverse("project-detail", args=[project_team["project"].pk]))
    page.wait_for_load_state("networkidle")
    assert missing == []


def test_a_refused_upload_shows_no_full_progress_bar(page, studio_server, project_team, tmp_path):
    project = project_team["project"]
    sign_in(page.context, studio_server.url, project_team["users"]["annotator"])
    page.goto(reverse("project-upload", args=[project.pk]))
    good, bad = tmp_path / "cells.png", tmp_path / "notes.txt"
    good.write_bytes(image_bytes("PNG"))
    bad.write_text("not an image")
    page.set_input_files("#file-input", [str(good), str(bad)])
    page.locator("#upload-list .result .status-refused").first.wait_for()
    page.locator("#upload-list .result .status-added").first.wait_for()
    refused = page.locator("#upload-list tr", has_text="notes.txt")
    added = page.locator("#upload-list tr", has_text="cells.png")
    assert refused.get_attribute("data-outcome") == "refused"
    assert refused.locator("progress").count() == 0  # no bar that says "done"
    assert "not added" in refused.locator("td").nth(2).inner_text()
    assert added.get_attribute("data-outcome") == "added"
    assert added.locator("progress").evaluate("bar => bar.value") == 100


def test_import_with_no_file_says_so(page, studio_server, project_team):
    project = project_team["project"]
    sign_in(page.context, studio_server.url, project_team["users"]["owner"])
    page.goto(reverse("project-detail", args=[project.pk]))
    page.click("#dataset-import button[type=submit]")
    error = page.locator("#import-error")
    error.wait_for(state="visible")
    assert "Choose a file" in error.inner_text()
    assert page.locator("#import-status").inner_text() == ""
