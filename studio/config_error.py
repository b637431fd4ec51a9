"""Stop a process with one clear line when the settings are wrong, not with a traceback."""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    """Import the settings now; on a configuration error print one line and exit(2)."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        raise SystemExit(2) from None
