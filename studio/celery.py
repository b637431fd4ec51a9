"""The Celery application. Workers: `celery -A studio worker -Q default,train`."""

from __future__ import annotations

import os

from celery import Celery

from studio.config_error import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
load_settings_or_exit()

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_broker_folders() -> None:
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            os.makedirs(options[key], exist_ok=True)


_ensure_broker_folders()
