"""Click Train on the project page and watch the run finish, with a real worker."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.training.conftest import WORKER_ENV
from training.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"


def test_train_button_to_finished_run(page, make_user, make_bccd_project, worker_factory):
    owner = make_user("trainer", password=PASSWORD)
    project = make_bccd_project(owner=owner)
    worker = worker_factory(**WORKER_ENV)

    log_in(page, "trainer", PASSWORD)
    page.goto(f"/projects/{project.pk}/")
    page.click("#training a:has-text('Train')")
    page.wait_for_url(f"**/projects/{project.pk}/train/")
    page.check("input[name=preset][value=fast]")
    page.fill("input[name=time_budget_minutes]", "10")
    page.click("summary:has-text('Advanced settings')")
    page.fill("input[name=image_size]", "128")
    page.fill("input[name=epochs]", "2")
    page.dblclick("#train-form button[type=submit]")  # a double click makes one run
    page.wait_for_url("**/runs/*/")
    run = TrainingRun.objects.get(project=project)
    assert page.url.endswith(f"/projects/{project.pk}/runs/{run.pk}/")
    assert run.config["image_size"] == 128
    assert run.config["epochs"] == 2

    try:
        page.wait_for_selector("[data-field=status]:has-text('succeeded')", timeout=240_000)
    except Exception:
        run.refresh_from_db()
        raise AssertionError(
            f"{run.status} {run.error} | {page.inner_text('#run')} | "
            f"{worker.log_path.read_text()[-3000:]}"
        ) from None
    assert "model v1" in page.locator("[data-field=result]").inner_text()
    assert page.locator("[data-field=device]").inner_text().startswith("CPU")
    assert page.locator("[data-field=progress]").inner_text() == "epoch 2 of 2"
    assert TrainingRun.objects.filter(project=project).count() == 1

    # The run links to its model's page: figures measured by the worker, gallery drawn.
    page.click("[data-field=model-link]")
    page.wait_for_url(f"**/projects/{project.pk}/models/*/")
    page.wait_for_function("document.body.dataset.renderedThreshold !== undefined")
    assert "ms on the worker's CPU" in page.inner_text("[data-field=latency]")
    run.refresh_from_db()  # its worker froze the data after the Train request answered
    assert page.locator("#per-class tbody tr").count() == len(run.dataset_version.class_names)
    assert page.locator(".gallery li, #gallery-unavailable:not([hidden])").count() > 0

    page.goto(f"/projects/{project.pk}/")
    assert page.locator("#training .status-succeeded").count() == 1
    assert page.locator("#models tbody tr").count() == 1
    assert page.locator("#models tbody tr td").first.inner_text() == "v1"
