"""The URLconf's handler500: JSON under the API's addresses, the page elsewhere.

An exception no view handled ends here (with DEBUG off). A script calling the API reads
``{"detail": ...}`` like every other API error, not templates/500.html; neither says
more than that the error was logged.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.defaults import server_error as server_error_page

from studio.request_limits import JSON_PATHS, json_error

MESSAGE = "Something went wrong on the server; the error was logged. Please try again."


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return json_error(request, 500, MESSAGE)
    return server_error_page(request)
