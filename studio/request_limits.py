"""Refuse oversized bodies and out-of-range numbers before any view does work on them.

``RequestLimitsMiddleware`` runs when the URL has been resolved and before any other
``process_view`` (the CSRF check is the first thing that would read a body):

- Body size. Each view may take a body of at most ``body_limit`` bytes (set with the
  ``body_limit`` decorator; ``DATA_UPLOAD_MAX_MEMORY_SIZE`` by default). A larger
  Content-Length answers 413 ``{"detail": ...}`` before a byte of the body is read (no
  spooling to disk, no parsing). Django reads a body only up to its Content-Length, and a
  body without one (``Transfer-Encoding: chunked``) as empty, so such a request answers
  411 rather than being silently taken as empty.
- Numbers. A URL id beyond 64 bits answers 404, and a query parameter holding a whole
  number beyond 64 bits 400 naming the parameter: the database cannot hold them, and
  SQLite raises OverflowError on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from studio.parsers import INT_MAX, in_int64, out_of_range_field, short_text

JSON_PATHS = ("/api/", "/v1/vision/")  # the API and the DeepStack endpoint answer JSON
_DEEPSTACK_PATH = "/v1/vision/"
_ATTRIBUTE = "body_limit"
# Room for the multipart headers and the small form fields beside the files of an upload.
FORM_OVERHEAD = 1024 * 1024
# A username and a password, as JSON or a form, with room to spare (the login endpoints).
LOGIN_BODY_BYTES = 64 * 1024

View = TypeVar("View")


def body_limit(limit: int | Callable[[], int]) -> Callable[[View], View]:
    """Let a view (function or class) take bodies of up to ``limit`` bytes (a number, or a
    function of no arguments read at each request, e.g. from the settings)."""

    def mark(view: View) -> View:
        as_method = isinstance(view, type) and callable(limit)  # not bound to the class
        setattr(view, _ATTRIBUTE, staticmethod(limit) if as_method else limit)
        return view

    return mark


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs) -> HttpResponse | None:
        return (
            _body_refusal(request, view_func)
            or _url_id_refusal(request, view_kwargs)
            or _query_refusal(request)
        )


def view_body_limit(view_func) -> int | None:
    """The largest body ``view_func`` takes, in bytes (None: no limit)."""
    limit = getattr(view_func, _ATTRIBUTE, None)
    if limit is None:
        view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
        limit = getattr(view_class, _ATTRIBUTE, None)
    if limit is None:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit() if callable(limit) else limit


def _body_refusal(request: HttpRequest, view_func) -> HttpResponse | None:
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    if not raw_length:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return json_error(request, 411, "Send the request body with a Content-Length header.")
        return None
    if not (raw_length.isascii() and raw_length.isdecimal()):
        return json_error(request, 400, f"Content-Length {raw_length[:40]!r} is not a number.")
    limit = view_body_limit(view_func)
    length = int(raw_length) if len(raw_length) < 30 else INT_MAX
    if limit is not None and length > limit:
        return json_error(
            request,
            413,
            f"The request body is larger than {limit} bytes, this endpoint's limit "
            f"(Content-Length {length}): refused unread.",
        )
    return None


def _url_id_refusal(request: HttpRequest, view_kwargs: dict) -> HttpResponse | None:
    for name, value in view_kwargs.items():
        if isinstance(value, int) and not in_int64(value):
            message = (
                f"Not found: {name} {short_text(str(value))} is out of range "
                f"(ids are at most {INT_MAX})."
            )
            if not request.path.startswith(JSON_PATHS):
                raise Http404(message)
            return json_error(request, 404, message)
    return None


def _query_refusal(request: HttpRequest) -> HttpResponse | None:
    problem = out_of_range_field(request.GET)
    if problem is None:
        return None
    name, reason = problem
    if not request.path.startswith(JSON_PATHS):
        raise BadRequest(f"{name}: {reason}")
    return json_error(request, 400, f"{name}: {reason}", errors={name: [reason]})


def json_error(request: HttpRequest, status: int, message: str, **extra) -> JsonResponse:
    body = {"detail": message, **extra}
    if request.path.startswith(_DEEPSTACK_PATH):  # that API's own error shape as well
        body.update({"success": False, "error": message, "code": status})
    return JsonResponse(body, status=status)
