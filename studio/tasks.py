from __future__ import annotations

import os
import socket

from celery import shared_task
from django.utils import timezone

from studio.models import WorkerCheck


@shared_task(name="studio.tasks.worker_check_run")
def worker_check_run(check_id: int) -> None:
    """Mark a worker check done by this process. Idempotent: a done check is left alone."""
    updated = WorkerCheck.objects.filter(pk=check_id, status=WorkerCheck.Status.QUEUED).update(
        status=WorkerCheck.Status.DONE,
        worker_hostname=socket.gethostname(),
        worker_pid=os.getpid(),
        finished_at=timezone.now(),
    )
    if not updated:
        return
