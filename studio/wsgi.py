"""WSGI entry point (gunicorn studio.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from studio.config_error import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
load_settings_or_exit()
application = get_wsgi_application()
