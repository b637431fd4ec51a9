"""A run's files: its local work folder and its copies in the media storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

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
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_suffix(local.suffix + ".part")
    with default_storage.open(name, "rb") as src, tmp.open("wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            dst.write(chunk)
    os.replace(tmp, local)
    return local


def run_workdir(run: TrainingRun) -> Path:
    """This claim's own local folder (another claim of the run never writes in it)."""
    return Path(settings.DATA_DIR) / "work" / "runs" / str(run.pk) / run.claim_token[:12]
