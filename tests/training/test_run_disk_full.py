"""A full disk while checkpointing: the run fails saying so, and which epoch is safe.

Real pieces: the pipeline runs in-process on the real database with its work folder
on a tmpfs, which the test shrinks to what it holds once epoch 1 is checkpointed.
Before: the run page showed "RuntimeError: [enforce fail at inline_container.cc:672]".
"""

from __future__ import annotations

import subprocess
import threading

import pytest

from tests.ml.test_checkpoint_disk_full import small_disk  # noqa: F401 - a fixture
from tests.training.conftest import TINY_CONFIG
from tests.training.test_worker_runs import wait_run
from training import pipeline
from training.models import RunStatus
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_full_disk_fails_the_run_naming_the_disk_and_the_last_good_epoch(
    make_bccd_project,
    small_disk,  # noqa: F811 - the fixture imported above
    settings,
):
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    settings.DATA_DIR = small_disk
    settings.STUDIO_HEARTBEAT_SECONDS = 1
    project = make_bccd_project({"train": 16, "val": 3, "test": 3})
    config = {**TINY_CONFIG, "image_size": 256, "epochs": 4}
    run = run_start(project=project, config=config, user=None)
    worker = threading.Thread(target=pipeline.execute, args=(run.pk,))
    worker.start()
    seen = wait_run(run.pk, lambda r: r.checkpoint_epoch == 1 or r.is_finished, 300, 0.02)
    assert seen.checkpoint_epoch == 1, (seen.status, seen.error)
    used = int(subprocess.run(["du", "-sk", str(small_disk)], capture_output=True,
                              text=True, check=True).stdout.split()[0])  # fmt: skip
    subprocess.run(["mount", "-o", f"remount,size={used + 64}k", str(small_disk)], check=True)
    worker.join(timeout=120)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"No space left on device ({small_disk}/work/runs/{run.pk}/")
    assert run.error.endswith("The last good checkpoint is epoch 1."), run.error
    assert "inline_container" not in run.error
