"""The API's OpenAPI schema (/api/v1/schema) and its Swagger UI page (/api/v1/docs).

Both are for logged-in users (a session or a token) unless STUDIO_API_DOCS_PUBLIC is on.
The page loads its start-up script from its own URL (``?script``) rather than inline, and
its stylesheets from static files, so it runs under the studio's Content-Security-Policy.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer


class DocsAccess(BasePermission):
    """Logged-in users, or everyone when STUDIO_API_DOCS_PUBLIC is on (read at each request)."""

    def has_permission(self, request, view) -> bool:
        return settings.STUDIO_API_DOCS_PUBLIC or bool(
            request.user and request.user.is_authenticated
        )


class _JsonErrors:
    """Errors as JSON like the rest of the API, not as YAML, a schema or a template."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(_JsonErrors, SpectacularAPIView):
    permission_classes = [DocsAccess]


class DocsView(_JsonErrors, SpectacularSwaggerSplitView):
    permission_classes = [DocsAccess]
    template_name = "studio/api_docs.html"

    def permission_denied(self, request, message=None, code=None):
        if not request.user.is_authenticated:
            raise _LoginNeeded
        super().permission_denied(request, message=message, code=code)

    def handle_exception(self, exc):
        if isinstance(exc, _LoginNeeded):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class _LoginNeeded(Exception):
    """An anonymous browser asked for the docs page: send it to the login page."""
