"""The Train page's "Start from" in Chromium: choosing a model version locks the preset to
the model's and says which classes match; the run page then says what it started from."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.training.test_start_from import make_model, project_classes
from training.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"


def test_train_from_a_model_version(page, make_user, make_bccd_project):
    owner = make_user("retrain", password=PASSWORD)
    project = make_bccd_project(owner=owner)
    classes = project_classes(project)
    model = make_model(project, classes[:2], preset="balanced")

    log_in(page, "retrain", PASSWORD)
    page.goto(f"/projects/{project.pk}/train/")
    assert page.locator("input[name=preset]:disabled").count() == 0
    page.select_option("select[name=start_from]", str(model.pk))
    assert page.is_checked("input[name=preset][value=balanced]")
    assert page.is_disabled("input[name=preset][value=fast]")
    assert page.is_disabled("input[name=preset][value=accurate]")
    match = f"classes matched: {', '.join(classes[:2])}; new: {classes[2]}"
    assert page.inner_text("#start-from-match") == (
        f"Starts from {project.name} v1 with its balanced preset: {match}."
    )
    page.select_option("select[name=start_from]", "")  # back to ImageNet: every preset
    assert page.locator("input[name=preset]:disabled").count() == 0
    assert page.is_hidden("#start-from-match")
    page.select_option("select[name=start_from]", str(model.pk))
    page.click("#train-form button[type=submit]")
    page.wait_for_url(f"**/projects/{project.pk}/runs/*/")
    run = TrainingRun.objects.get(project=project, start_model=model)
    assert run.config["preset"] == "balanced"
    assert page.inner_text("[data-field=started-from]") == f"{project.name} v1 ({match})"
