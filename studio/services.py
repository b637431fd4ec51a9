"""Writes owned by the studio itself: admin account, API tokens, worker checks."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from studio.models import WorkerCheck


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


def worker_check_create(*, user: AbstractUser) -> WorkerCheck:
    """Create a worker check and enqueue it once the row is committed."""
    from studio.tasks import worker_check_run

    check = WorkerCheck.objects.create(created_by=user, requested_by_pid=os.getpid())
    transaction.on_commit(lambda: worker_check_run.delay(check.pk))
    return check
