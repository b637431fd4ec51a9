"""Claims of a training run: which worker may write the run's row.

A claim stores a new token on the row; every later write of the run (progress,
checkpoints, the model version, the final state) is made only while the row still holds
that token. A worker whose run was claimed again (it was taken for lost while it could
not reach the database, or it was frozen) has its writes refused and stops. Writes retry
while the database is briefly unavailable.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from training.models import FREEZING, RunStatus, TrainingRun
from training.workers import process_gone, process_key

logger = logging.getLogger(__name__)


class RunSuperseded(Exception):
    """Another claim took the run: this worker's writes are refused, and it stops."""


def retrying(write, *, attempts: int = 20, delay: float = 1.0):
    """Run a database write, retrying while the database is briefly unavailable."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            logger.warning("database unavailable; retrying in %.0f s", delay)
            close_old_connections()
            connection.close()
            time.sleep(delay)
            delay = min(delay * 1.5, 10)


def owned(run: TrainingRun):
    """The run's row, while it still holds this worker's claim."""
    return TrainingRun.objects.filter(pk=run.pk, claim_token=run.claim_token)


def update_run(run: TrainingRun, **fields: Any) -> None:
    """Write fields of the run this worker claimed; refused once another claim took it."""
    if not retrying(lambda: owned(run).update(**fields)):
        raise RunSuperseded(f"run {run.pk} was claimed again by another worker")


def check_claim(run: TrainingRun) -> None:
    """Raise RunSuperseded unless the run is still this worker's (before storing files)."""
    if not retrying(lambda: owned(run).exists()):
        raise RunSuperseded(f"run {run.pk} was claimed again by another worker")


def worker_name() -> str:
    """The Celery node running this task (``--hostname``, e.g. gpu0@node-a), or the
    machine's name outside a worker."""
    from celery import current_task

    node = getattr(current_task.request, "hostname", None) if current_task else None
    return node or socket.gethostname()


def claim(run_id: int) -> TrainingRun | None:
    """Take the run for this worker, or return None if there is nothing to do.

    A running run is left to its worker (a duplicate message) unless that worker is known
    dead (training.workers); a silent one is judged by the reconciler, which marks it
    interrupted once its heartbeat timeout has passed.
    """
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return None
        if run.status == RunStatus.RUNNING and not process_gone(run.worker_key):
            return None  # another worker has it (a duplicate message)
        # A new token in every case: an earlier claim's worker, if it still runs, can no
        # longer write the run (nor overwrite the cancelled or failed end below).
        run.claim_token = uuid.uuid4().hex
        if run.cancel_requested:
            run.status, run.finished_at = RunStatus.CANCELLED, timezone.now()
            run.save(update_fields=["status", "finished_at", "claim_token"])
            return None
        run.attempts += 1
        now = timezone.now()
        if run.attempts > settings.STUDIO_RUN_MAX_ATTEMPTS:
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = (
                f"Gave up after {settings.STUDIO_RUN_MAX_ATTEMPTS} attempts: the worker "
                "running it was lost each time (killed, out of memory or restarted)."
            )
            run.save(update_fields=["status", "finished_at", "error", "attempts", "claim_token"])
            return None
        # A run's data is frozen by its worker first (training/pipeline.py).
        phase = "preparing" if run.dataset_version_id else FREEZING
        run.status, run.heartbeat_at, run.phase = RunStatus.RUNNING, now, phase
        run.started_at = run.started_at or now
        run.worker = f"{worker_name()} (pid {os.getpid()})"
        run.worker_key = process_key()
        run.error = ""
        run.save()
    return run


class Heartbeat(threading.Thread):
    """Every few seconds: record that the run is alive and read its cancel flag.

    ``superseded`` turns true when the row holds another claim: the engine stops then.
    """

    def __init__(self, run: TrainingRun, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{run.pk}")
        self.claimed, self.interval = run, interval
        self.cancel_requested = False
        self.superseded = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    if not owned(self.claimed).update(heartbeat_at=timezone.now()):
                        self.superseded = True
                        logger.warning("run %s was claimed again elsewhere", self.claimed.pk)
                        return
                    # Taken for lost while it could not write (and not claimed again yet):
                    # it is alive after all, so it goes on and the new message is a no-op.
                    owned(self.claimed).filter(status=RunStatus.INTERRUPTED).update(
                        status=RunStatus.RUNNING
                    )
                    self.cancel_requested = (
                        owned(self.claimed).filter(cancel_requested=True).exists()
                    )
                except OperationalError:
                    connection.close()  # the next beat reconnects
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
