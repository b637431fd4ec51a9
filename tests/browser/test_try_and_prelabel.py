"""In real Chromium: the "Try it" page of a model, and the project page's pre-labeling card."""
# ruff: noqa: F811 - the tests take the imported fixtures as arguments

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in
from tests.training.conftest import model_version, tiny_trained  # noqa: F401 - fixtures
from tests.training.prelabel_helpers import add_categories, add_images
from training import inference
from training.models import PrelabelJob
from training.prelabel import prelabel_execute

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"


def sign_in(page, user) -> None:
    user.set_password(PASSWORD)
    user.save()
    log_in(page, user.username, PASSWORD)


def rows(page) -> int:
    return page.locator("#detections tbody tr").count()


def test_try_a_model_on_a_dropped_and_a_picked_image(
    page, model_version, tiny_trained, project_team
):
    inference.session_cache().clear()
    project = project_team["project"]
    add_images(project, tiny_trained, indices=(2,))
    _, images, _ = tiny_trained
    sign_in(page, project_team["users"]["viewer"])
    page.goto(f"/projects/{project.pk}/models/{model_version.pk}/try/")
    page.set_input_files("#file-input", str(images / "img_001.png"))
    page.wait_for_function("document.getElementById('stats').textContent.includes('server')")
    stats = page.text_content("#stats")
    assert "img_001.png (128×128)" in stats
    assert re.search(r"inference [\d.]+", stats) and "round trip" in stats
    size = "c => [c.dataset.imageWidth, c.dataset.imageHeight, c.clientWidth > 128]"
    assert page.eval_on_selector("#canvas", size) == ["128", "128", True]  # shown enlarged
    # The slider filters locally: everything at its lowest, nothing at 1.
    page.fill("#threshold", "0.05")
    everything = rows(page)
    assert everything > 0
    assert f"{everything} of {everything} detections" in page.text_content("#stats")
    page.fill("#threshold", "1")
    assert rows(page) == 0
    page.click("#threshold-reset")
    assert page.input_value("#threshold") == str(model_version.threshold)
    # One of the project's images.
    page.click("#pick-toggle")
    page.click("#picker-thumbs li >> nth=0")
    page.wait_for_function("document.getElementById('stats').textContent.includes('img_002')")


def test_try_page_shows_a_refusal(page, model_version, project_team, tmp_path):
    sign_in(page, project_team["users"]["viewer"])
    page.goto(f"/projects/{model_version.project_id}/models/{model_version.pk}/try/")
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not really a picture")
    page.set_input_files("#file-input", str(bad))
    alert = page.locator("#try .error")
    alert.wait_for(state="visible")
    assert "not an image" in alert.text_content()


def test_prelabel_card_starts_a_job_and_lists_the_images_to_label_next(
    page, model_version, tiny_trained, project_team
):
    inference.session_cache().clear()
    project = project_team["project"]
    add_categories(project)
    add_images(project, tiny_trained, indices=(1, 2, 3))
    sign_in(page, project_team["users"]["annotator"])
    page.goto(f"/projects/{project.pk}/")
    page.fill("#prelabel-form input[name=threshold]", "0.06")
    page.once("dialog", lambda dialog: dialog.accept())  # a tiny model: not usable yet
    page.click("#prelabel-form button[type=submit]")
    page.wait_for_function(
        "document.getElementById('prelabel-status').textContent.includes('waiting for a worker')"
    )
    job = PrelabelJob.objects.get()
    assert (job.model_id, job.threshold, job.filters) == (
        model_version.pk,
        0.06,
        {"status": "unlabeled"},
    )
    assert prelabel_execute(job.pk) == "succeeded"  # the worker's part, in-process here
    page.wait_for_function(
        "document.getElementById('prelabel-status').textContent.startsWith('Last pre-label job')"
    )
    page.locator("#most-useful li").first.wait_for()
    assert page.locator("#most-useful li").count() == 3
    assert "unsure" in page.text_content("#most-useful li >> nth=0")
    href = page.get_attribute("#most-useful li >> nth=0 >> a", "href")
    assert href.startswith(f"/projects/{project.pk}/annotate/")  # opens the editor
