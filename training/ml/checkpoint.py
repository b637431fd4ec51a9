"""Checkpoints: plain dicts written atomically, read back with ``weights_only=True``.

A run writes ``last.pt`` after every epoch (everything needed for an exact resume:
model, optimizer, scheduler, scaler, RNG states, history, elapsed time) and
``best.pt`` whenever validation improves (model, config, classes, metrics): the
artefact that evaluation and export take.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from training.ml.config import TrainConfig
from training.ml.errors import CheckpointError, DiskFull
from training.ml.models import build_model

FORMAT = "detection-studio/checkpoint-v1"


def versions() -> dict[str, str]:
    return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__)}


# Less free space than this after a failed write: the disk was full.
FULL_DISK_BYTES = 16 << 20


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` so that readers never see a half-written file.

    On a full disk ``path`` keeps its previous content and DiskFull says where (torch
    reports it only as "[enforce fail at inline_container.cc] ... file write failed").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _disk_full(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **payload}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        full = _disk_full(exc, path)
        Path(tmp).unlink(missing_ok=True)
        raise full from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _disk_full(exc: BaseException, path: Path) -> BaseException:
    """DiskFull if ``exc`` came from a full disk (by errno, or no space left), else exc."""
    no_space = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    if not no_space:
        try:
            no_space = shutil.disk_usage(path.parent).free < FULL_DISK_BYTES
        except OSError:
            no_space = False
    if not no_space:
        return exc
    return DiskFull(f"No space left on device ({path.parent}) while saving {path.name}")


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic`, or raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not ours"
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a detection-studio checkpoint")
    return data


def rng_state() -> dict[str, Any]:
    """The states of torch's, numpy's and Python's global generators, as tensors/tuples."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Checkpoints saved before they recorded their architecture: every preset's head had ReLU.
LEGACY_ARCHITECTURE = {"head_activation": "relu"}


def architecture_of(checkpoint: dict[str, Any]) -> dict[str, str]:
    """The ``build_model`` overrides a checkpoint's network was built with."""
    return checkpoint.get("architecture", LEGACY_ARCHITECTURE)


def model_from_checkpoint(
    checkpoint: dict[str, Any], device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, TrainConfig]:
    """Rebuild the detector of a checkpoint (no pretrained weights needed) in eval mode."""
    try:
        config = TrainConfig.from_dict(checkpoint["config"])
        model = build_model(
            config.preset,
            len(checkpoint["class_names"]),
            pretrained=False,
            image_size=config.input_size,
            frozen_bn=config.pretrained,
            **architecture_of(checkpoint),
        )
        model.load_state_dict(checkpoint["model"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint does not hold a usable model: {exc}") from exc
    return model.to(device).eval(), config
