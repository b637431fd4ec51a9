"""The project page's "Prepare export": queued, then a Download link once the worker has
written the zip, in Chromium under the page's CSP."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from labeling.export_jobs import export_job_run
from labeling.models import DatasetExport
from tests.browser.test_dataset_pages import _sign_in, cells  # noqa: F401 - fixture

pytestmark = pytest.mark.browser


def test_prepare_export_then_download(page, studio_server, project_team, cells):  # noqa: F811
    _sign_in(page, studio_server, project_team["users"]["viewer"])
    page.goto(reverse("project-detail", args=[cells.pk]))
    assert page.locator("#export-download").is_hidden()
    page.select_option("#export-prepare select[name=format]", "coco")
    page.click("#export-prepare button[type=submit]")
    page.wait_for_function(
        "document.getElementById('export-status').textContent.startsWith('Queued')"
    )
    assert page.locator("#export-download").is_hidden()  # nothing to download yet
    record = DatasetExport.objects.get(project=cells)
    export_job_run(export_id=record.pk)  # what the worker does
    page.wait_for_function("!document.getElementById('export-download').hidden")
    status = page.locator("#export-status").text_content()
    record.refresh_from_db()
    assert status == f"Ready: 4 images, {record.size:,} bytes."
    href = page.locator("#export-download").get_attribute("href")
    assert href == reverse("api-export-file", args=[cells.pk, record.pk])
    response = page.request.get(href)
    assert response.status == 200
    names = zipfile.ZipFile(io.BytesIO(response.body())).namelist()
    assert sum(name.startswith("images/train/") and name[-1] != "/" for name in names) == 4
