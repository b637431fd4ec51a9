"""Notifications in real Chromium: an import and a run end while a member is on some
other page; the bell's badge appears there, the list links to what ended, opening one
marks it read, and the panel fits a phone's screen."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.dataset_import import dataset_import_run
from labeling.models import Notification
from tests.browser.editor_pages import sign_in
from tests.labeling.test_datasets_api import _coco_zip
from training.models import DatasetVersion, RunStatus, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def unread(page, wanted: int) -> None:
    page.wait_for_function(f"document.body.dataset.notificationsUnread === '{wanted}'")


def test_badge_appears_on_another_page_and_opening_reads_it(
    page, studio_server, project_team, api_client_for, settings
):
    settings.STUDIO_NOTIFY_POLL_SECONDS = 1
    project, users = project_team["project"], project_team["users"]
    sign_in(page.context, studio_server.url, users["annotator"])
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/accounts/")  # a page that has nothing to do with imports or runs
    unread(page, 0)
    assert page.is_hidden("[data-testid=notify-count]")

    # The owner imports a dataset (queued through the API; the worker's part in-process).
    owner = api_client_for(users["owner"])
    upload = SimpleUploadedFile("cells.zip", _coco_zip())
    response = owner.post(
        reverse("api-imports", args=[project.pk]), {"file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    dataset_import_run(import_id=response.json()["id"])
    unread(page, 1)  # on the page that was already open
    assert page.inner_text("[data-testid=notify-count]") == "1"

    # Another page shows it too, at once.
    page.goto("/projects/")
    unread(page, 1)
    page.click("[data-testid=notify-toggle]")
    item = page.locator("#notify-list li").first
    assert item.inner_text().startswith(
        "Import of cells.zip into Cells finished: 1 image(s) added, 1 box(es)."
    )
    assert "unread" in item.get_attribute("class")
    item.locator("a").click()
    page.wait_for_url(lambda url: url.endswith(f"/projects/{project.pk}/#imports"))
    unread(page, 0)
    assert Notification.objects.get(user=users["annotator"]).read_at is not None
    assert Notification.objects.get(user=users["owner"]).read_at is None  # per user

    # A run ends (the owner cancels a queued one): the badge comes back on this page.
    dataset = DatasetVersion.objects.create(
        project=project, content_hash="5" * 64, coco_file="x.json", image_count=1, box_count=1
    )
    run = TrainingRun.objects.create(project=project, dataset_version=dataset)
    cancel = owner.post(reverse("api-run-cancel", args=[project.pk, run.pk]))
    assert cancel.status_code == 200, cancel.content
    assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    unread(page, 1)
    page.click("[data-testid=notify-toggle]")
    assert (
        page.locator("#notify-list li")
        .first.inner_text()
        .startswith(f"Run #{run.pk} of Cells was cancelled.")
    )
    assert page.get_attribute("#notify-list li a", "href") == reverse(
        "notification-open", args=[Notification.objects.get(user=users["annotator"],
                                                              key=f"run:{run.pk}").pk]
    )  # fmt: skip
    page.click("#notify-read-all")
    unread(page, 0)
    assert page.is_hidden("[data-testid=notify-count]")

    # On a phone the bell stays in the top bar and its list fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    unread(page, 0)
    assert page.is_visible("[data-testid=notify-toggle]")
    page.click("[data-testid=notify-toggle]")
    box = page.locator("#notify-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.keyboard.press("Escape")
    assert page.is_hidden("#notify-panel")
