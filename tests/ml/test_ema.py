from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from training.ml import checkpoint as ckpt
from training.ml.ema import ModelEma
from training.ml.engine import train

from .conftest import tiny_config


def test_ema_averages_float_weights_with_a_ramped_decay() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEma(model, decay=0.9, ramp_steps=10)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    decay = 0.9 * (1 - math.exp(-1 / 10))
    expected = start * decay + (start + 1.0) * (1 - decay)
    assert torch.allclose(ema.module[0].weight, expected)
    assert int(ema.module[1].num_batches_tracked) == 7  # integer buffers are copied
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_best_checkpoint_holds_the_ema_and_resume_restores_it(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(epochs=2, ema_decay=0.9)
    straight = train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path / "a")
    state = ckpt.load(straight.last_checkpoint)
    assert state["ema"]["updates"] == state["global_step"]
    best = ckpt.load(straight.best_checkpoint)
    if best["epoch"] == 2:
        for key, value in best["model"].items():
            assert torch.equal(value, state["ema"]["model"][key])

    first = train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path / "b",
                  should_stop=lambda: (tmp_path / "b" / "last.pt").exists())  # fmt: skip
    assert first.epochs_completed == 1
    train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path / "b",
          resume=tmp_path / "b" / "last.pt")  # fmt: skip
    resumed = ckpt.load(tmp_path / "b" / "last.pt")
    for key, value in state["ema"]["model"].items():
        assert torch.equal(value, resumed["ema"]["model"][key]), key


def test_ema_decay_is_validated() -> None:
    from training.ml.errors import ConfigError

    with pytest.raises(ConfigError, match="ema_decay"):
        tiny_config(ema_decay=1.0)
