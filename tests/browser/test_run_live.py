"""The run page is live within an epoch: elapsed time and the epoch's progress move at
least every 5 s (a real worker, a run slow enough that one epoch lasts a while)."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import log_in
from tests.training.conftest import WORKER_ENV
from training.models import TrainingRun
from training.services import run_start

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"
SLOW_EPOCH = {"preset": "fast", "image_size": 224, "epochs": 12, "time_budget_minutes": 5}


def test_the_run_page_moves_at_least_every_5_seconds_during_an_epoch(
    page, make_user, make_bccd_project, worker_factory
):
    owner = make_user("watcher", password=PASSWORD)
    project = make_bccd_project({"train": 80, "val": 2, "test": 2}, owner=owner)
    worker = worker_factory(**WORKER_ENV)
    run = run_start(project=project, config=SLOW_EPOCH, user=owner)
    log_in(page, "watcher", PASSWORD)
    page.goto(f"/projects/{project.pk}/runs/{run.pk}/")
    try:
        page.wait_for_selector("[data-field=step]:has-text('step')", timeout=180_000)
    except Exception:
        run.refresh_from_db()
        raise AssertionError(
            f"{run.status} {run.phase} {run.error} | {worker.log_path.read_text()[-3000:]}"
        ) from None
    samples = []
    for _ in range(12):
        samples.append(
            (
                time.monotonic(),
                page.inner_text("[data-field=elapsed]"),
                page.inner_text("[data-field=step]"),
                page.get_attribute("[data-field=progress-bar]", "value"),
                page.inner_text("[data-field=phase]"),
                page.inner_text("[data-field=eta]"),
            )
        )
        time.sleep(1)
    training = [s for s in samples if s[4] == "training"]
    assert len(training) >= 8, samples  # the epoch lasted through most of the watch
    # The clock ticks every second (a sample may fall twice in one tick on a loaded
    # machine: no two seconds' silence); within any 5 s the epoch's step line changes.
    ticks = [b[0] for a, b in zip(samples, samples[1:], strict=False) if a[1] != b[1]]
    tick_marks = [samples[0][0], *ticks, samples[-1][0]]
    assert max(b - a for a, b in zip(tick_marks, tick_marks[1:], strict=False)) <= 2.5, samples
    assert len({s[1] for s in samples}) >= len(samples) // 2, samples
    changes = [b[0] for a, b in zip(training, training[1:], strict=False) if a[2] != b[2]]
    marks = [training[0][0], *changes, training[-1][0]]
    assert max(b - a for a, b in zip(marks, marks[1:], strict=False)) <= 5.5, samples
    assert "images/s" in training[-1][2] and "loss" in training[-1][2]
    assert 0 < float(training[-1][3]) < 1  # the progress bar: a share of the run
    # The estimate of the time left counts down between the server's estimates.
    assert len({s[5] for s in training}) >= len(training) // 2, samples
    assert all(s[5] != "0 s" and s[5] != "—" for s in training), samples
    # The project page's runs table shows the phase and a progress bar too.
    # The run moves on between the database read and the page's render (validation
    # between two epochs lasts under a second), so a reading counts when the phase was
    # the same just before the page loaded and just after it was read.
    readings = []
    for _ in range(5):
        before = TrainingRun.objects.get(pk=run.pk).phase
        page.goto(f"/projects/{project.pk}/")
        row = page.locator("#training tbody tr").first
        assert row.locator("progress").count() == 1
        text = row.inner_text()
        after = TrainingRun.objects.get(pk=run.pk).phase
        readings.append((before, text, after))
        if before == after:
            assert before in text, readings
            break
    else:
        raise AssertionError(f"the phase never held still over a page load: {readings}")
    # The table is live: its duration moves without a reload while the run goes on.
    first = row.inner_text()
    page.wait_for_function(
        "t => document.querySelector('#training tbody tr').innerText !== t",
        arg=first,
        timeout=15_000,
    )
