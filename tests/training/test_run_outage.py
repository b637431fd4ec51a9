"""Faults with real processes: the database stops mid-run, then the worker freezes.

A private PostgreSQL server (its own port and folder, never the shared one) holds a copy
of the test database; a gunicorn web server and two real Celery train workers use it,
with the real Redis as broker. One run lives through both faults:

1. The database stops for longer than the heartbeat timeout. Meanwhile the API answers
   a JSON 503 with Retry-After and /healthz a 503 naming the database. Once it is back,
   the reconciler counts the timeout from the return: the run stays with its worker.
2. Its worker process freezes (SIGSTOP, a stalled machine) past the timeout: the run is
   taken for lost and the other worker claims it (a new token) and resumes it. When the
   frozen one wakes, its writes are refused and it stops; it overwrites nothing.

The run then ends as it produced: succeeded, one model version, named in its result.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from tests.conftest import REPO_ROOT, test_database_url
from tests.postgres_server import PostgresServer, free_port, postgres_bin
from tests.studio.test_production_server import production_env
from tests.training.conftest import WORKER_ENV

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 8  # longer than the heartbeat timeout
FAULT_ENV = {**WORKER_ENV, "STUDIO_HEARTBEAT_TIMEOUT_SECONDS": "6", "STUDIO_RECONCILE_SECONDS": "1"}
# Tiny images, and a time budget rather than epochs: however fast the machine, the run is
# still training when the faults come; the budget is the whole run's, the outage included.
CONFIG = {"preset": "fast", "image_size": 128, "epochs": 500, "time_budget_minutes": 1.25}
SUPERSEDED = "was claimed again by another worker; this one stops"

needs_services = pytest.mark.skipif(
    postgres_bin() is None
    or not settings.CELERY_BROKER_URL.startswith("redis")
    or "postgres" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL's server binaries, the test PostgreSQL and the real Redis",
)


@pytest.fixture
def private_postgres():
    server = PostgresServer(postgres_bin())
    server.init()
    yield server
    server.destroy()


@pytest.fixture
def web_server(tmp_path):
    """gunicorn with DEBUG off, started by ``start(database_url)``."""
    started = []

    def start(database_url: str) -> str:
        port = free_port()
        env = {
            **production_env(),
            **FAULT_ENV,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "STUDIO_DATA_DIR": str(settings.DATA_DIR),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        log = (tmp_path / "web.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "2", "--control-socket", str(tmp_path / "g.ctl")],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while call(base, "GET", "/accounts/login/")[0] != 200:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.3)
        return base

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def call(base: str, method: str, path: str, token: str = "", body: dict | None = None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Token {token}"} if token else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except OSError:
        return 0, {}, b""


def rows(url: str, sql: str, *params) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def run_row(url: str, run_id: int) -> dict:
    return rows(url, "SELECT * FROM training_trainingrun WHERE id = %s", run_id)[0]


def wait_row(url: str, run_id: int, predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = run_row(url, run_id)
        if predicate(row) or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def finished(row: dict) -> bool:
    return row["status"] in {"succeeded", "failed", "cancelled"}


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


def logs(*workers) -> str:
    return "\n".join(w.log_path.read_text()[-4000:] for w in workers)


@needs_services
def test_a_run_survives_a_database_outage_and_a_frozen_worker_trained_once(
    make_bccd_project, worker_factory, private_postgres, web_server
):
    began = time.monotonic()
    project = make_bccd_project({"train": 8, "val": 2, "test": 2})
    token = Token.objects.create(user=project.created_by).key
    private_postgres.copy_from(test_database_url())  # the project, its images and the token
    url = private_postgres.url()
    env = {**FAULT_ENV, "DATABASE_URL": url}
    workers = [worker_factory(beat=True, **env), worker_factory(**env)]
    web = web_server(url)
    status, _, body = call(web, "POST", f"/api/v1/projects/{project.pk}/runs", token, CONFIG)
    assert status == 201, body
    run_id = json.loads(body)["id"]
    run_path = f"/api/v1/projects/{project.pk}/runs/{run_id}"
    status, _, body = call(web, "GET", "/healthz")
    assert (status, json.loads(body)) == (
        200,
        {"ok": True, "down": [], "database": "up", "broker": "up"},
    )
    row = wait_row(url, run_id, lambda r: r["loss_points"] or finished(r), 120)
    assert row["status"] == "running", (row["error"], logs(*workers))
    holder = row["worker"]

    # 1. The database stops for longer than the heartbeat timeout.
    private_postgres.stop()
    stopped = time.monotonic()
    status, headers, body = call(web, "GET", run_path, token)
    assert status == 503, body[:500]
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0
    assert json.loads(body) == {
        "detail": "The database is unavailable; please retry in a few seconds."
    }
    status, headers, body = call(web, "GET", "/healthz")
    assert status == 503
    assert json.loads(body) == {
        "ok": False,
        "down": ["database"],
        "database": "down",
        "broker": "up",
    }
    assert "Retry-After" in headers
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    private_postgres.start()
    back = time.monotonic()
    deadline = back + 15
    while call(web, "GET", "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "/healthz did not recover"
        time.sleep(0.2)
    assert call(web, "GET", run_path, token)[0] == 200
    # The reconciler ticks every second; a timeout and more after the return, the run
    # is still with its live worker: not interrupted, not claimed by the idle one.
    row = wait_row(url, run_id, lambda r: finished(r) or r["attempts"] > 1, 9)
    row = wait_row(url, run_id, lambda r: finished(r) or r["checkpoint_epoch"], 60)
    assert (row["status"], row["attempts"], row["worker"]) == ("running", 1, holder), (
        row["error"],
        logs(*workers),
    )

    # 2. Its worker freezes past the timeout: the other one claims the run and resumes it.
    pid = int(re.search(r"pid (\d+)", holder)[1])
    frozen = next(w for w in workers if w.pid == parent_pid(pid))
    os.kill(pid, signal.SIGSTOP)
    try:
        row = wait_row(url, run_id, lambda r: r["attempts"] == 2 or finished(r), 40)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert row["attempts"] == 2, (row["status"], logs(*workers))
    assert row["worker"] != holder
    deadline = time.monotonic() + 20
    while SUPERSEDED not in frozen.log_path.read_text():
        assert time.monotonic() < deadline, logs(frozen)
        time.sleep(0.2)

    row = wait_row(url, run_id, finished, 150)
    assert row["status"] == "succeeded", (row["error"], logs(*workers))
    assert row["attempts"] == 2
    assert row["resumed_from_epoch"] is not None
    epochs = [h["epoch"] for h in row["history"]]
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # one record per epoch
    models = rows(url, "SELECT * FROM training_modelversion WHERE run_id = %s", run_id)
    assert len(models) == 1
    assert row["result"]["model_version"] == models[0]["version"] == 1
    time.sleep(3)  # nothing written after the end, by either worker
    assert run_row(url, run_id) == row
    assert time.monotonic() - began < 120
