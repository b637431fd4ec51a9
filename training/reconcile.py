"""The periodic reconciler: no run is lost when a worker or the broker is.

- A running run whose heartbeat stopped (its worker was killed) becomes *interrupted*
  and is enqueued again; the next worker resumes it from its last checkpoint. The
  heartbeat timeout counts from when the reconciler could last see the database
  without a gap (``watching_since``): heartbeats that could not be written while the
  database was away (or restarting) do not make a live worker's run look lost.
- A running run whose worker is known dead (its process is gone, training.workers) is
  interrupted at once, without waiting for the timeout.
- A queued or interrupted run whose message is gone is enqueued again: when the
  broker's train queue holds fewer messages than there are runs waiting for more than
  ``LOST_MESSAGE_SECONDS`` (a broker restarted without persistence lost them), at once;
  otherwise after ``STUDIO_REQUEUE_AFTER_SECONDS`` (a broker that cannot tell its queue's
  length). Duplicate messages are harmless: a worker claims a run only once
  (training.pipeline.claim), a message for a run already taken is a no-op.
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
# A message just sent may be on its way to the queue; past this it is in the queue (or
# taken by a worker, which then claims the run at once), or lost.
LOST_MESSAGE_SECONDS = 10
TRAIN_QUEUE = "train"


def runs_reconcile() -> dict[str, int]:
    from training.services import run_enqueue

    now = timezone.now()
    stale = now - timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
    forgotten = now - timedelta(seconds=settings.STUDIO_REQUEUE_AFTER_SECONDS)
    if messages_missing():
        forgotten = now - timedelta(seconds=LOST_MESSAGE_SECONDS)
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


def messages_missing() -> bool:
    """Whether the train queue holds fewer messages than runs have been waiting for."""
    waiting = TrainingRun.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.INTERRUPTED],
        enqueued_at__lt=timezone.now() - timedelta(seconds=LOST_MESSAGE_SECONDS),
    ).count()
    if not waiting:
        return False
    queued = train_queue_length()
    return queued is not None and queued < waiting


def train_queue_length() -> int | None:
    """Messages waiting in the broker's train queue; None if the broker cannot say."""
    from studio.celery import app

    try:
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=TRAIN_QUEUE).message_count
    except Exception:  # noqa: BLE001 - the time-based re-send still covers this broker
        logger.warning("could not read the length of the %s queue", TRAIN_QUEUE, exc_info=True)
        return None


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
