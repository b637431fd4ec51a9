"""/healthz checks the database and the broker; a database outage answers 503, not 500.

The database stopping for real (a private PostgreSQL server) is in
tests/training/test_run_outage.py; here the broker is unreachable for a real gunicorn,
and a view meets a real connection error (a database wrapper on a closed port).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client
from django.urls import path

from tests.conftest import REPO_ROOT
from tests.studio.test_production_server import free_port, get, production_env, wait_for_port


def _query_a_stopped_database(request):
    from django.db.backends.postgresql.base import DatabaseWrapper as Postgres
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLite

    if connection.vendor == "postgresql":
        stopped = Postgres({**connection.settings_dict, "HOST": "127.0.0.1", "PORT": free_port()})
    else:
        stopped = SQLite({**connection.settings_dict, "NAME": "/nonexistent/folder/db.sqlite3"})
    stopped.cursor()  # raises django.db.OperationalError


urlpatterns = [
    path("api/v1/stopped", _query_a_stopped_database),
    path("projects/stopped", _query_a_stopped_database),
]


@pytest.mark.django_db
def test_healthz_is_200_when_the_database_and_the_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "down": [], "database": "up", "broker": "up"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.slow
def test_healthz_names_the_broker_when_it_is_down(transactional_db, tmp_path):
    port = free_port()
    env = {**production_env(), "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with (tmp_path / "gunicorn.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--control-socket", str(tmp_path / "g.ctl")],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(port)
            status, headers, body = get(f"http://127.0.0.1:{port}/healthz")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert status == 503
    assert json.loads(body) == {"ok": False, "down": ["broker"], "database": "up", "broker": "down"}
    assert int(headers["Retry-After"]) > 0


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.urls("tests.studio.test_healthz")
def test_a_database_outage_answers_503_with_retry_after_and_no_stack_trace(settings, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/stopped")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert response.json() == {
        "detail": "The database is unavailable; please retry in a few seconds."
    }
    page = client.get("/projects/stopped")
    assert page.status_code == 503
    assert int(page["Retry-After"]) > 0
    text = page.content.decode()
    assert "Temporarily unavailable" in text
    for body in (response.content.decode(), text):
        assert "Traceback" not in body and "OperationalError" not in body
