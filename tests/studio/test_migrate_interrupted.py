"""Ctrl-C in the middle of the first migration: the next run completes and loses nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.9, 1.5])
def test_migrate_after_interrupt(tmp_path, delay):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["STUDIO_DATA_DIR"] = str(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(delay)
    first.send_signal(signal.SIGINT)
    first.wait(timeout=60)
    second = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout
    with sqlite3.connect(tmp_path / "studio.sqlite3") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"labeling_project", "studio_workercheck", "auth_user"} <= tables
