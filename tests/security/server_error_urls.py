"""The studio's URLconf with two views that raise, for tests/security/test_output.py."""

from __future__ import annotations

from django.urls import path

from studio.urls import handler404, handler500  # noqa: F401 - the handlers under test
from studio.urls import urlpatterns as studio_urlpatterns


def _boom(request):
    raise RuntimeError("secret internal detail 1f2e3d")


urlpatterns = [
    path("api/v1/boom", _boom),
    path("v1/vision/boom", _boom),
    path("boom/", _boom),
    *studio_urlpatterns,
]
