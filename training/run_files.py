"""A run's files: its local work folder and its copies in the media storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from studio.media import copy_to_local
from training.models import TrainingRun


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_file(local: Path, name: str) -> str:
    """Copy a local file into the media storage under ``name`` (replacing it)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with local.open("rb") as handle:
        return default_storage.save(name, File(handle))


def fetch_file(name: str, local: Path) -> Path:
    """A local copy of a media file (S3: streamed to disk, never whole in memory)."""
    return copy_to_local(name, local)


def run_workdir(run: TrainingRun) -> Path:
    """This claim's own local folder (another claim of the run never writes in it)."""
    return Path(settings.DATA_DIR) / "work" / "runs" / str(run.pk) / run.claim_token[:12]
