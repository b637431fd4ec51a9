"""A studio run's time budget covers the whole run: claim to a recorded model.

In-process (the pipeline's own ``execute``, real database); the worker-level flow is in
test_worker_runs.py.
"""

from __future__ import annotations

import time

import pytest
from django.utils.html import escape

from training import pipeline
from training.models import ModelVersion, RunStatus, TrainingRun
from training.services import run_start
from training.verdict import model_verdict

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_is_ready_within_its_budget_evaluation_and_export_included(
    make_bccd_project, client, monkeypatch
):
    writes = []  # what the pipeline writes on the row (written for real, seen on the way)
    real_update = pipeline.update_run

    def update_run(run, **fields):
        writes.append((time.monotonic(), fields))
        real_update(run, **fields)

    monkeypatch.setattr(pipeline, "update_run", update_run)
    project = make_bccd_project({"train": 24, "val": 4, "test": 6})
    budget = 40.0
    config = {"preset": "fast", "image_size": 128, "epochs": 50,
              "time_budget_minutes": budget / 60, "early_stopping_patience": None}  # fmt: skip
    run = run_start(project=project, config=config, user=None)
    started = time.monotonic()
    assert pipeline.execute(run.pk) == RunStatus.SUCCEEDED
    wall = time.monotonic() - started
    run = TrainingRun.objects.get(pk=run.pk)
    assert ModelVersion.objects.filter(run=run).exists()
    assert wall < budget + 30  # the bound for a studio run, on a loaded machine
    assert run.result["ready_seconds"] == pytest.approx(wall, abs=2)
    assert run.elapsed_seconds == pytest.approx(run.result["ready_seconds"], abs=1)
    # It trained until the budget said stop, not until some epoch count ran out (that it
    # uses the budget is pinned on synthetic data in tests/ml/test_engine.py: here, on a
    # loaded machine, evaluation and export alone may take most of 40 s).
    assert run.result["stop_reason"] == "time_budget"
    assert "at the time budget:" in run.log_tail
    # While evaluating and exporting, the row's elapsed time moves on and its remaining
    # time is what is left of the budget's reserve for them (None once spent).
    after = [(at, f) for at, f in writes if f.get("phase") in {"evaluating", "exporting"}]
    assert [f["phase"] for _, f in after] == ["evaluating", "exporting"]
    (t0, evaluating), (t1, exporting) = after
    assert exporting["elapsed_seconds"] - evaluating["elapsed_seconds"] == pytest.approx(
        t1 - t0, abs=0.5
    )
    assert evaluating["eta_seconds"] > 0
    assert exporting["eta_seconds"] is None or exporting["eta_seconds"] == pytest.approx(
        evaluating["eta_seconds"] - (t1 - t0), abs=0.5
    )
    # The run page says what the model is worth, in words (what 40 s make of it depends
    # on the machine's load: usable on a quiet one, not usable yet on a busy one).
    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.pk}/runs/{run.pk}/").content.decode()
    judged = model_verdict(ModelVersion.objects.get(run=run))
    assert judged["text"].startswith(("Usable", "Not usable yet: "))
    assert f'data-field="verdict">{escape(judged["text"])}</p>' in page
