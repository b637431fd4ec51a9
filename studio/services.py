"""Writes owned by the studio itself: admin account, API tokens, worker checks."""

from __future__ import annotations

import math
import os
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from studio.models import WorkerCheck

WORKER_CHECK_LIMIT = 5  # worker checks per user...
WORKER_CHECK_WINDOW = timedelta(minutes=1)  # ...in this window


def admin_ensure(*, username: str = "admin") -> str | None:
    """Create the first superuser if there is none; return its new password, else None.

    An existing account is never changed, so running this at every start is safe.
    """
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(is_superuser=True).exists():
            return None
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
    return password


def token_rotate(*, user: AbstractUser) -> Token:
    """Replace the user's API token with a new one (the old key stops working)."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def tokens_revoke(*, user: AbstractBaseUser) -> int:
    """Delete the user's API tokens (at a password change); the number deleted."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


class WorkerCheckThrottled(Exception):
    """Too many worker checks from one user in the last WORKER_CHECK_WINDOW."""

    def __init__(self, wait_seconds: int) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(
            f"At most {WORKER_CHECK_LIMIT} worker checks a minute: try again in {wait_seconds} s."
        )


def worker_check_create(*, user: AbstractUser) -> WorkerCheck:
    """Create a worker check and enqueue it once the row is committed.

    At most WORKER_CHECK_LIMIT per user in WORKER_CHECK_WINDOW (counted in the database,
    so every web process shares the count); WorkerCheckThrottled beyond that.
    """
    from studio.tasks import worker_check_run

    with transaction.atomic():
        # One request of this user at a time, so two cannot both pass the count.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        now = timezone.now()
        recent = list(
            WorkerCheck.objects.filter(created_by=user, created_at__gt=now - WORKER_CHECK_WINDOW)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:WORKER_CHECK_LIMIT]
        )
        if len(recent) >= WORKER_CHECK_LIMIT:
            wait = recent[-1] + WORKER_CHECK_WINDOW - now
            raise WorkerCheckThrottled(max(1, math.ceil(wait.total_seconds())))
        check = WorkerCheck.objects.create(created_by=user, requested_by_pid=os.getpid())
        transaction.on_commit(lambda: worker_check_run.delay(check.pk))
    return check
