"""The Train page's readiness checklist and the run page's ticking clock and one-point
charts, in Chromium under the studio's CSP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from labeling.models import Annotation, Category, Image
from tests.browser.conftest import log_in
from training.datasets import dataset_version_freeze
from training.models import RunStatus, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"


def test_train_page_lists_every_problem_and_enables_train_once_fixed(
    page, make_user, make_bccd_project, settings
):
    owner = make_user("ready", password=PASSWORD)
    project = make_bccd_project(owner=owner)
    settings.STUDIO_MIN_BOXES_PER_CLASS = 20
    Category.objects.create(project=project, name="Empty", order=9)
    Image.objects.filter(project=project, split="val").update(split="train")
    Annotation.objects.filter(image=Image.objects.filter(project=project).last()).delete()

    log_in(page, "ready", PASSWORD)
    page.goto(f"/projects/{project.pk}/train/")
    blocking = page.locator("#readiness li[data-level=blocking]")
    assert blocking.count() == 4  # Empty, WBC and Platelets under 20, no val images
    assert page.locator("#readiness li[data-level=warning]").count() >= 1  # the unlabeled one
    text = page.inner_text("#readiness")
    assert "'Empty' has no boxes" in text
    assert "val split has 0 labeled images" in text
    assert "1 image is not labeled" in text
    button = page.locator("#train-form button[type=submit]")
    assert button.is_disabled()
    assert "disabled until" in page.inner_text("#train-blocked")
    # Each problem links to the page that fixes it.
    page.click("#readiness li[data-code=class_empty] a")
    page.wait_for_url(f"**/projects/{project.pk}/images/?category=*")

    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    Category.objects.filter(project=project, name="Empty").delete()
    Image.objects.filter(pk=Image.objects.filter(project=project).first().pk).update(split="val")
    page.goto(f"/projects/{project.pk}/train/")
    assert page.locator("#readiness li[data-level=blocking]").count() == 0
    assert button.is_enabled()
    assert page.locator("#train-blocked").count() == 0


def test_run_page_clock_ticks_and_one_point_charts_show_it(page, make_user, make_bccd_project):
    owner = make_user("clock", password=PASSWORD)
    project = make_bccd_project(owner=owner)
    run = TrainingRun.objects.create(
        project=project,
        dataset_version=dataset_version_freeze(project=project, user=owner),
        config={"preset": "fast", "time_budget_minutes": 10},
        created_by=owner,
        status=RunStatus.RUNNING,
        epochs=5,
        epoch=1,
        started_at=timezone.now() - dt.timedelta(seconds=100),
        elapsed_seconds=10,  # the worker's last figure: the page must not stop there
        loss_points=[[1, 2.5]],
        history=[{"epoch": 1, "val_map": 0.25}],
    )
    log_in(page, "clock", PASSWORD)
    page.goto(f"/projects/{project.pk}/runs/{run.pk}/")
    elapsed = page.locator("[data-field=elapsed]")
    page.wait_for_function("document.querySelector('[data-field=elapsed]').textContent !== '—'")
    first = elapsed.inner_text()
    assert first.startswith("1 min 4"), first  # from started_at, not the stale 10 s
    page.wait_for_function(
        "(first) => document.querySelector('[data-field=elapsed]').textContent !== first",
        arg=first,
        timeout=3000,
    )
    for chart in ("loss-chart", "map-chart"):
        radius = page.evaluate(
            "(id) => Chart.getChart(document.getElementById(id)).getDatasetMeta(0)"
            ".data[0].options.radius",
            chart,
        )
        assert radius > 0, chart


def test_a_refused_train_click_shows_every_problem(page, make_user, make_bccd_project, settings):
    owner = make_user("late", password=PASSWORD)
    project = make_bccd_project(owner=owner)
    log_in(page, "late", PASSWORD)
    page.goto(f"/projects/{project.pk}/train/")
    assert page.locator("#train-form button[type=submit]").is_enabled()
    # The data changes after the page was drawn: the API's 400 lists both problems.
    settings.STUDIO_MIN_BOXES_PER_CLASS = 100_000
    page.click("#train-form button[type=submit]")
    alert = page.locator("#train-form .error")
    alert.wait_for()
    text = alert.inner_text()
    for name in ("RBC", "WBC", "Platelets"):
        assert f"'{name}' has" in text, text
    assert "Reload the page" in text
    assert not TrainingRun.objects.exists()
