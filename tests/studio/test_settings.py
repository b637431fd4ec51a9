"""Start-up with bad configuration stops with one clear line; production values are clean."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-9f8e7d6c",
    "ALLOWED_HOSTS": "studio.example",
    "DATABASE_URL": "postgres://studio:pw@db.example:5432/studio",
    "CELERY_BROKER_URL": "redis://redis.example:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "foo"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "0"}, "SECRET_KEY"),
        ({"DEBUG": "0", "SECRET_KEY": "k" * 50}, "ALLOWED_HOSTS"),
        ({"CELERY_BROKER_URL": "amqp://guest@localhost//"}, "CELERY_BROKER_URL"),
        ({"AXES_FAILURE_LIMIT": "five"}, "AXES_FAILURE_LIMIT"),
        ({"STUDIO_MEDIA_STORAGE": "ftp"}, "STUDIO_MEDIA_STORAGE"),
        ({"STUDIO_MEDIA_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
    ],
)
def test_bad_setting_stops_with_one_line(env, names):
    result = manage("check", **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error:") and names in lines[0]


def test_bad_setting_stops_the_worker_too():
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "studio", "report"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": "foo"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Configuration error: DATABASE_URL" in result.stderr


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_debug_on():
    """The check really runs: DEBUG on is reported by --deploy."""
    env = {**PRODUCTION, "DEBUG": "1"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "DEBUG" in result.stdout + result.stderr


def test_s3_media_storage_is_selected_by_settings():
    result = manage(
        "shell",
        "-c",
        'from django.core.files.storage import storages; s = storages["default"]; '
        "print(type(s).__name__, s.bucket_name, s.endpoint_url)",
        STUDIO_MEDIA_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="studio-media",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "S3Storage",
        "studio-media",
        "http://127.0.0.1:9000",
    ]
