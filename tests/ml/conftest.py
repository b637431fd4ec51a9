"""Fixtures of the engine tests. No Django, no database, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.ml.config import TrainConfig
from training.ml.engine import TrainResult, train

from .synthetic import make_dataset


def tiny_config(**overrides: object) -> TrainConfig:
    """A config that trains the fast preset at 128 px from a random backbone in seconds."""
    settings: dict = {
        "image_size": 128,
        "epochs": 2,
        "batch_size": 4,
        "pretrained": False,
        "warmup_steps": 0,
        "lr": 0.05,
        "num_threads": 1,
        "progress_every": 1,
        "early_stopping_patience": None,
    }
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(coco.json, images/) with 12 images of 128 px, two of them without boxes."""
    return make_dataset(tmp_path_factory.mktemp("synthetic"), count=12)


@pytest.fixture(scope="session")
def long_epochs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(coco.json, images/) with 300 images of 128 px: a tiny_config epoch takes over 10 s."""
    return make_dataset(tmp_path_factory.mktemp("long"), count=300)


@pytest.fixture(scope="session")
def trained(synthetic: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A briefly trained run on the synthetic data (best.pt and last.pt on disk)."""
    coco, images = synthetic
    out = tmp_path_factory.mktemp("trained")
    return train(tiny_config(epochs=3), coco=coco, images_dir=images, out_dir=out)
