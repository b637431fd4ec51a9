"""Telling a project's members that a training run ended (labeling/notifications.py):
succeeded with its model version, failed with the reason, or cancelled."""

from __future__ import annotations

import logging

from django.urls import reverse

from labeling.models import Notification
from labeling.notifications import members_notify
from training.models import ModelVersion, RunStatus, TrainingRun

logger = logging.getLogger(__name__)


def run_ended_notify(*, run_id: int) -> None:
    """Idempotent: once per run and member, and nothing for a run not finished. A failure
    to tell is logged, never the run's failure."""
    try:
        _notify(run_id)
    except Exception:  # noqa: BLE001 - the run's own outcome is already recorded
        logger.exception("could not notify the end of run %s", run_id)


def _notify(run_id: int) -> None:
    run = TrainingRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None or not run.is_finished:
        return
    project = run.project
    url = reverse("run-detail", args=[project.pk, run.pk])
    level = Notification.Level.INFO
    if run.status == RunStatus.SUCCEEDED:
        model = ModelVersion.objects.filter(run=run).values_list("pk", "version").first()
        made = ""
        if model:
            url = reverse("model-detail", args=[project.pk, model[0]])
            made = f": model v{model[1]} is ready to review"
        text, level = f"Run #{run.pk} of {project.name} succeeded{made}.", "success"
    elif run.status == RunStatus.FAILED:
        text, level = f"Run #{run.pk} of {project.name} failed: {run.error}", "error"
    else:
        text = f"Run #{run.pk} of {project.name} was cancelled."
    members_notify(project=project, key=f"run:{run.pk}", text=text, url=url, level=level)
