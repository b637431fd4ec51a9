"""Production mode: gunicorn + WhiteNoise with DEBUG off, on the test database."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from tests.conftest import REPO_ROOT, test_database_url

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def production_env() -> dict[str, str]:
    """A web server's environment: DEBUG off, on the test database."""
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "test-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": test_database_url(),
        "STATIC_ROOT": str(settings.STATIC_ROOT),
    }


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)


@pytest.fixture
def gunicorn_server(transactional_db, tmp_path):
    port = free_port()
    env = production_env()
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--control-socket", str(tmp_path / "g.ctl")],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for_port(port)
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def test_gunicorn_serves_pages_and_hashed_static_files(gunicorn_server):
    status, _, body = get(f"{gunicorn_server}/accounts/login/")
    assert status == 200
    css = re.search(rb'href="(/static/css/studio\.[0-9a-f]{12}\.css)"', body)
    assert css, body[:1000]
    status, headers, _ = get(gunicorn_server + css.group(1).decode())
    assert status == 200
    assert "immutable" in headers.get("Cache-Control", "")
    assert headers.get("X-Content-Type-Options") == "nosniff"

    status, _, body = get(f"{gunicorn_server}/projects/12345/does-not-exist")
    assert status == 404
    assert b"Traceback" not in body
    assert b"There is nothing here" in body
