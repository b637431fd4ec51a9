"""Acceptance of the two-command setup: a fresh clone, `make run`, a job run by the worker.

This clones the committed repository into a new directory and runs `make run` exactly as
a newcomer would (it creates .venv and installs requirements.txt there), on the embedded
defaults: no DATABASE_URL, no CELERY_BROKER_URL. It takes a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT_S = 900  # the first run installs torch into a new .venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "STUDIO_", "MEDIA_", "STATIC_"))
        and k not in {"DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["PORT"] = str(port)
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    return env


def start(clone: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=clean_env(port),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as in a terminal
    )


def wait_for_line(proc: subprocess.Popen, log: Path, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"make run exited {proc.returncode}:\n{text[-5000:]}")
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {pattern!r}:\n{log.read_text()[-5000:]}")


def ctrl_c(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    return proc.wait(timeout=60)


def http(method: str, url: str, body: dict | None = None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return response.status, response.read().decode()


def children_alive(pid: int, timeout: float = 30) -> bool:
    """Whether processes of the group are still running ``timeout`` s after make exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


def group_processes(pgid: int) -> str:
    ps = subprocess.run(["ps", "-o", "pid,pgid,args", "-g", str(pgid)], capture_output=True)
    return ps.stdout.decode()


@pytest.fixture
def clone(tmp_path):
    path = tmp_path / "studio"
    yield path
    shutil.rmtree(path / ".venv", ignore_errors=True)  # ~6 GB with torch


def test_fresh_clone_make_run(tmp_path, clone):
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "run1.log"

    proc = start(clone, port, log)
    try:
        text = wait_for_line(
            proc, log, rf"running at http://127\.0\.0\.1:{port}", STARTUP_TIMEOUT_S
        )
        password = re.search(r"password '([^']+)'", text).group(1)
        # The login page is served...
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = http("GET", f"{base}/accounts/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        assert status == 200 and 'name="password"' in page
        # ...and a job enqueued from the web is executed by the separate worker process.
        status, body = http(
            "POST", f"{base}/api/v1/auth/token", {"username": "admin", "password": password}
        )
        token = json.loads(body)["token"]
        status, body = http("POST", f"{base}/api/v1/system/worker-checks", {}, token)
        assert status == 202
        check = json.loads(body)
        deadline = time.monotonic() + 60
        while check["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.5)
            check = json.loads(
                http("GET", f"{base}/api/v1/system/worker-checks/{check['id']}", None, token)[1]
            )
        assert check["status"] == "done", log.read_text()[-3000:]
        assert check["worker_pid"] != check["requested_by_pid"]
    finally:
        code = ctrl_c(proc)
    assert "Stopped the web server and the workers." in log.read_text()
    assert not children_alive(proc.pid), group_processes(proc.pid)
    assert (clone / "var" / "studio.sqlite3").exists()
    assert (clone / "var" / "broker").is_dir()
    assert code in (0, 2, 130, -signal.SIGINT), code  # make dies of the SIGINT it got

    # A second run keeps the admin password and loses nothing.
    log2 = tmp_path / "run2.log"
    proc = start(clone, port, log2)
    try:
        text = wait_for_line(proc, log2, r"running at http://", 300)
        assert "Admin account: exists" in text and "password '" not in text
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = http(
                    "POST",
                    f"{base}/api/v1/auth/token",
                    {"username": "admin", "password": password},
                )
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert status == 201
    finally:
        ctrl_c(proc)
    assert not children_alive(proc.pid), group_processes(proc.pid)
