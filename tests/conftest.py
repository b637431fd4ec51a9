from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from labeling.models import Membership, Project, Role

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def pytest_report_header(config):
    database = os.environ.get("DATABASE_URL", "SQLite (embedded default)")
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem (embedded default)")
    return [f"studio database: {database}", f"studio broker: {broker}"]


@pytest.fixture(scope="session", autouse=True)
def _static_files(django_db_blocker):
    """Hashed static files (WhiteNoise's manifest), as production serves them."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, password: str | None = None, **extra):
        # No password unless asked: hashing one costs ~0.3 s, and force_login needs none.
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def project_team(make_user):
    """Project A with an owner, an annotator and a viewer; project B owned by an outsider."""
    owner, annotator, viewer = make_user("owner"), make_user("annotator"), make_user("viewer")
    outsider = make_user("outsider")
    project = Project.objects.create(name="Cells", created_by=owner)
    for user, role in ((owner, Role.OWNER), (annotator, Role.ANNOTATOR), (viewer, Role.VIEWER)):
        Membership.objects.create(project=project, user=user, role=role)
    other = Project.objects.create(name="Other team's project", created_by=outsider)
    Membership.objects.create(project=other, user=outsider, role=Role.OWNER)
    return {
        "project": project,
        "other": other,
        "users": {
            "owner": owner,
            "annotator": annotator,
            "viewer": viewer,
            "outsider": outsider,
        },
    }


@pytest.fixture
def api_client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def test_database_url() -> str:
    """The URL of the database the tests use, for child processes (workers, servers)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def purge_broker() -> None:
    from studio.celery import app

    with app.connection_for_write() as conn:
        for queue in ("default", "train"):
            conn.default_channel.queue_purge(queue)  # a missing queue is fine


def start_worker(log_path: Path, *, beat: bool = False, **extra_env: str):
    """Start a real Celery worker process (own process group) on the test DB and broker."""
    import subprocess
    import sys
    import uuid

    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "STUDIO_DATA_DIR": str(settings.DATA_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **extra_env,
    }
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [sys.executable, "-m", "celery", "-A", "studio", "worker"]
    command += ["--queues", "default,train", "--concurrency", "1", "--loglevel", "INFO"]
    command += ["--without-mingle", "--without-gossip", "--hostname", name]
    if beat:
        command += ["--beat", "--schedule", str(log_path.with_suffix(".beat"))]
    proc = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = log_path
    return proc


def stop_worker(proc, timeout: float = 30) -> None:
    import signal
    import subprocess

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def worker_factory(transactional_db, tmp_path):
    """Start real Celery worker processes; all are stopped at the end of the test."""
    try:
        purge_broker()
    except Exception:  # noqa: BLE001 - a fresh broker has no queues to purge
        pass
    started = []

    def start(**kwargs):
        proc = start_worker(tmp_path / f"worker-{len(started)}.log", **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_worker(proc)


@pytest.fixture
def celery_worker_process(worker_factory):
    """A real Celery worker process on the test database and the test broker."""
    return worker_factory()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3-compatible server in its own process on loopback (tests/s3_server.py)."""
    from tests.s3_server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_media(s3_server, settings, monkeypatch):
    """This process's media on the S3 server, configured by studio/settings.py itself
    from the README's environment variables (the web side of the S3 tests)."""
    import runpy

    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    values = runpy.run_path(str(REPO_ROOT / "studio" / "settings.py"))
    for name, value in values.items():
        if name.startswith("AWS_"):
            setattr(settings, name, value)
    settings.STORAGES = {**settings.STORAGES, "default": values["STORAGES"]["default"]}
    return s3_server
