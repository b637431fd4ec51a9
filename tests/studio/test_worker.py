"""A job enqueued through the web API runs in a separate, real Celery worker process."""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from studio.models import WorkerCheck


def wait_for(predicate, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.mark.slow
def test_worker_check_runs_in_worker_process(celery_worker_process, make_user):
    user = make_user("alice", is_staff=True)  # worker checks are staff-only
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/system/worker-checks")
    assert response.status_code == 202
    check_id = response.json()["id"]
    assert response.json()["status"] == "queued"

    done = wait_for(
        lambda: WorkerCheck.objects.filter(pk=check_id, status="done").first(), timeout=60
    )
    assert done, celery_worker_process.log_path.read_text()[-3000:]
    assert done.worker_pid not in (None, os.getpid())
    assert done.worker_pid != celery_worker_process.pid  # prefork: a child of the worker
    body = client.get(f"/api/v1/system/worker-checks/{check_id}").json()
    assert body["status"] == "done" and body["worker_pid"] == done.worker_pid


def test_broker_is_the_configured_one():
    """The web enqueues through the studio's Celery app, not Celery's default (AMQP)."""
    from celery import current_app

    from studio.tasks import worker_check_run

    assert worker_check_run.app.conf.broker_url == settings.CELERY_BROKER_URL
    assert current_app.conf.broker_url == settings.CELERY_BROKER_URL
