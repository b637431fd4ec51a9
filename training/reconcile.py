"""The periodic reconciler: no run is lost when a worker or the broker is.

- A running run whose heartbeat stopped (its worker was killed) becomes *interrupted*
  and is enqueued again; the next worker resumes it from its last checkpoint. The
  heartbeat timeout counts from when the reconciler could last see the database
  without a gap (``watching_since``): heartbeats that could not be written while the
  database was away (or restarting) do not make a live worker's run look lost.
- A running run whose worker is known dead (its process is gone, training.workers) is
  interrupted at once, without waiting for the timeout.
- A queued or interrupted run that no worker has taken for a while (its message was
  lost, e.g. the broker restarted without persistence) is enqueued again. Duplicate
  messages are harmless: a worker claims a run only once (training.pipeline.claim).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from training.models import Reconciler, RunStatus, TrainingRun
from training.workers import process_gone

logger = logging.getLogger(__name__)


def runs_reconcile() -> dict[str, int]:
    from training.services import run_enqueue

    now = timezone.now()
    stale = now - timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
    forgotten = now - timedelta(seconds=settings.STUDIO_REQUEUE_AFTER_SECONDS)
    running = TrainingRun.objects.filter(status=RunStatus.RUNNING)
    interrupted = 0
    if watching_since(now) <= stale:
        interrupted = running.filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
        ).update(status=RunStatus.INTERRUPTED, enqueued_at=None)
    for run_id, key in running.exclude(worker_key="").values_list("pk", "worker_key"):
        if process_gone(key):  # the same claim still (a new one has another key)
            interrupted += running.filter(pk=run_id, worker_key=key).update(
                status=RunStatus.INTERRUPTED, enqueued_at=None
            )
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


def watching_since(now: datetime) -> datetime:
    """Since when the reconciler has seen the database without a gap (this tick included).

    A gap of more than two reconcile intervals since its last tick means it could not
    look (the database, or every worker, was away); a database restart counts as a gap.
    """
    gap = timedelta(seconds=2 * settings.STUDIO_RECONCILE_SECONDS)
    with transaction.atomic():
        state = Reconciler.objects.select_for_update().order_by("pk").first()
        if state is None:  # its first tick ever
            state = Reconciler(ticked_at=now, watching_since=now)
        elif now - state.ticked_at > gap:
            state.watching_since = now
        state.ticked_at = now
        state.save()
    return max(state.watching_since, database_started_at() or state.watching_since)


def database_started_at() -> datetime | None:
    """When the database server (re)started, where it can tell (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()")
        return cursor.fetchone()[0]
