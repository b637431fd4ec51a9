"""The periodic reconciler: no run is lost when a worker or the broker is.

- A running run whose heartbeat stopped (its worker was killed) becomes *interrupted*
  and is enqueued again; the next worker resumes it from its last checkpoint.
- A queued or interrupted run that no worker has taken for a while (its message was
  lost, e.g. the broker restarted without persistence) is enqueued again. Duplicate
  messages are harmless: a worker claims a run only once (training.pipeline.claim).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from training.models import RunStatus, TrainingRun

logger = logging.getLogger(__name__)


def runs_reconcile() -> dict[str, int]:
    from training.services import run_enqueue

    now = timezone.now()
    stale = now - timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
    forgotten = now - timedelta(seconds=settings.STUDIO_REQUEUE_AFTER_SECONDS)
    interrupted = TrainingRun.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True),
        status=RunStatus.RUNNING,
    ).update(status=RunStatus.INTERRUPTED, enqueued_at=None)
    ids = []
    with transaction.atomic():
        waiting = TrainingRun.objects.select_for_update(skip_locked=True).filter(
            Q(enqueued_at__lt=forgotten) | Q(enqueued_at__isnull=True),
            status__in=[RunStatus.QUEUED, RunStatus.INTERRUPTED],
        )
        ids = list(waiting.values_list("pk", flat=True))
        TrainingRun.objects.filter(pk__in=ids).update(enqueued_at=now)
    for run_id in ids:
        run_enqueue(run_id=run_id)
    if interrupted or ids:
        logger.info("reconciler: %d interrupted, %d enqueued again", interrupted, len(ids))
    return {"interrupted": interrupted, "enqueued": len(ids)}
