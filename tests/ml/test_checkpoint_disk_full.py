"""A checkpoint written to a full disk: the previous one stays, the error says where.

The full disk is real: a small tmpfs mounted for the test (skipped where mounting is
not allowed, e.g. without root).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from training.ml import checkpoint as ckpt
from training.ml.errors import DiskFull


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs (a real file system that fills up)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(small_disk: Path) -> None:
    path = small_disk / "last.pt"
    ckpt.save_atomic({"epoch": 1, "weights": torch.zeros(10_000)}, path)  # 40 kB
    with pytest.raises(DiskFull) as full:
        ckpt.save_atomic({"epoch": 2, "weights": torch.zeros(1_000_000)}, path)  # 4 MB
    assert str(full.value) == f"No space left on device ({small_disk}) while saving last.pt"
    assert ckpt.load(path)["epoch"] == 1
    assert [p.name for p in small_disk.iterdir()] == ["last.pt"]  # no temporary file left
