"""A run whose worker process is known dead is resumed at once, not after the timeout.

Killing a worker's pool process (as the out-of-memory killer does) makes Celery requeue
the run's message at once. Its claim finds the run still `running` with a fresh
heartbeat, but the process that held it is gone: it takes the run and resumes it from
its checkpoint, instead of discarding the message and leaving the run to the
heartbeat timeout and the reconciler (here: a minute, and no beat at all).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from tests.training.test_worker_runs import log_of, wait_run
from training.models import RunStatus, TrainingRun
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_killed_pool_process_is_resumed_at_once(make_bccd_project, worker_factory):
    project = make_bccd_project({"train": 16, "val": 3, "test": 3})
    worker = worker_factory(**{**WORKER_ENV, "STUDIO_HEARTBEAT_TIMEOUT_SECONDS": "60"})
    run = run_start(project=project, config={**TINY_CONFIG, "epochs": 20}, user=None)
    run = wait_run(run.pk, lambda r: r.checkpoint_epoch or r.is_finished, 300, 0.05)
    assert run.status == RunStatus.RUNNING, (run.error, log_of(worker))
    pid = int(re.search(r"pid (\d+)", run.worker)[1])
    assert pid != worker.pid  # the pool process, not the worker's main process
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        run = wait_run(run.pk, lambda r: r.attempts == 2 and r.phase == "training", 30)
        resumed_after = time.monotonic() - killed
        assert run.attempts == 2, (run.status, log_of(worker))
        assert resumed_after < 20  # not the 60 s timeout
        assert run.status == RunStatus.RUNNING
        assert run.resumed_from_epoch >= 1
        assert f"pid {pid})" not in run.worker
    finally:
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # a quick teardown
