"""A database outage answers 503 with Retry-After: JSON on the API, a short page elsewhere.

Without this, a request that meets a stopped or unreachable database ends in Django's
500 page (or, with DEBUG on, a stack trace). The studio's own writes are safe to retry:
the client is told to come back in a few seconds.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10
MESSAGE = "The database is unavailable; please retry in a few seconds."
PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Unavailable</title>"
    f"<h1>Temporarily unavailable</h1><p>{MESSAGE}</p></html>"
)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(("/api/", "/v1/")):
        response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database connection error raised by a view into a 503 (see above)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        return unavailable_response(request)
