from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_media_folder(request, tmp_path):
    """Each test stores its images in its own folder, so file assertions see only its own
    (SQLite reuses the ids of rolled-back rows, hence the same projects/<id>/ folders).
    Tests with a real worker process keep the shared folder the worker also uses."""
    if "celery_worker_process" in request.fixturenames:
        yield
        return
    settings = request.getfixturevalue("settings")
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    yield
