"""/healthz: can the studio serve? Checks the database and the broker.

Load balancers and compose's healthcheck read it: 200 when both answer, 503 naming what
is down otherwise (``{"ok": false, "down": ["database"], ...}``), with Retry-After.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10
BROKER_TIMEOUT_SECONDS = 2


def database_up() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError as exc:
        logger.warning("health check: the database is down (%s)", exc)
        connection.close()  # the next request reconnects
        return False


def broker_up() -> bool:
    from studio.celery import app

    try:
        with app.connection_for_read(connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=0)
        return True
    except Exception as exc:  # noqa: BLE001 - kombu raises the transport's own errors
        logger.warning("health check: the broker is down (%s)", exc)
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_up(), "broker": broker_up()}
    down = [name for name, up in checks.items() if not up]
    body = {"ok": not down, "down": down, **{k: "up" if v else "down" for k, v in checks.items()}}
    response = JsonResponse(body, status=503 if down else 200)
    if down:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
