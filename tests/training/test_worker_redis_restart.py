"""A queued run whose message a Redis restart lost is re-sent within seconds.

The test starts its own redis-server on a free port (never the machine's shared one),
queues a run into it with no train worker running, restarts that server without
persistence (the message is gone), then starts a worker with the periodic reconciler.
Before: the run waited STUDIO_REQUEUE_AFTER_SECONDS (900 s) to be re-sent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import REPO_ROOT, test_database_url
from tests.studio.test_production_server import free_port
from tests.training.conftest import TINY_CONFIG, WORKER_ENV
from tests.training.test_worker_runs import log_of, wait_run
from training.datasets import dataset_version_freeze
from training.models import RunStatus, TrainingRun
from training.services import run_cancel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


class PrivateRedis:
    """A redis-server of the test's own, keeping nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder, self.proc = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        command = ["redis-cli", "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            if self.cli("ping") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_run_queued_across_a_redis_restart_is_resent_and_taken_within_a_minute(
    make_bccd_project, worker_factory, private_redis
):
    project = make_bccd_project()
    run = TrainingRun.objects.create(  # as run_start does, its message sent below
        project=project,
        dataset_version=dataset_version_freeze(project=project, user=None),
        config=TINY_CONFIG,
        epochs=TINY_CONFIG["epochs"],
        enqueued_at=timezone.now(),
    )
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    env["CELERY_BROKER_URL"] = private_redis.url
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         f"from training.services import run_enqueue; run_enqueue(run_id={run.pk})"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert private_redis.cli("llen", "train") == "1"

    private_redis.stop()  # no persistence: the queued message is lost
    private_redis.start()
    assert private_redis.cli("llen", "train") == "0"

    restarted = time.monotonic()
    worker = worker_factory(
        beat=True,
        **{**WORKER_ENV, "STUDIO_REQUEUE_AFTER_SECONDS": "900"},  # the production default
        CELERY_BROKER_URL=private_redis.url,
    )
    taken = wait_run(run.pk, lambda r: r.status != RunStatus.QUEUED, 60, 0.2)
    waited = time.monotonic() - restarted
    assert taken.status == RunStatus.RUNNING, (taken.status, taken.error, log_of(worker))
    assert taken.attempts == 1
    assert waited < 60
    print(f"taken {waited:.1f} s after the restart (worker start-up included)")
    run_cancel(run=taken)  # the point is made; no need to train it to the end
    ended = wait_run(run.pk, lambda r: r.is_finished, 60)
    assert ended.status == RunStatus.CANCELLED, log_of(worker)
