from __future__ import annotations

import pytest

from training.ml.config import TrainConfig
from training.ml.errors import ConfigError


def test_round_trips_through_a_plain_dict() -> None:
    config = TrainConfig(preset="accurate", epochs=7, time_budget_minutes=15)
    config.augment.vflip = True
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config
    assert again.input_size == 512
    assert again.augment.vflip is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"preset": "huge"}, "unknown preset"),
        ({"image_size": 100}, "multiple of 32"),
        ({"epochs": 0}, "epochs"),
        ({"time_budget_minutes": 0}, "time budget"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr": float("nan")}, "learning rate"),
    ],
)
def test_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_from_dict_rejects_typos() -> None:
    with pytest.raises(ConfigError, match="epochz"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="mosaicc"):
        TrainConfig.from_dict({"augment": {"mosaicc": True}})
