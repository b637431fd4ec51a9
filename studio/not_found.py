"""The studio's own 404 page also when DEBUG is on (`make run` runs with DEBUG on).

Django answers a missing page in DEBUG with its technical page (the URL patterns tried,
the settings module); a person using the studio should see templates/404.html, as
without DEBUG. The details go to the log instead. A DRF view's 404 stays its JSON answer
(DRF handles it inside the view); with DEBUG off this middleware does nothing.

``not_found`` is the URLconf's handler404: under the API's addresses (an unknown one,
or an id no URL pattern takes, e.g. thousands of digits) it answers JSON
``{"detail": ...}``, elsewhere the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.defaults import page_not_found

from studio.request_limits import JSON_PATHS, json_error

logger = logging.getLogger("studio.not_found")


class NotFoundPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEBUG:
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as exc:
                return self._page(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return self._page(request, exception)
        return None

    def _page(self, request: HttpRequest, exception: Exception) -> HttpResponse:
        detail = exception.args[0] if exception.args else ""
        if isinstance(detail, dict):  # Resolver404: {"path": ..., "tried": [...]}
            detail = f"no URL pattern matches ({len(detail.get('tried') or [])} tried)"
        logger.warning("Not Found: %s %s (DEBUG): %s", request.method, request.path, detail)
        return not_found(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return json_error(request, 404, f"Not found: nothing answers at {request.path[:200]}.")
    return page_not_found(request, exception)
