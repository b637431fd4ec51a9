from __future__ import annotations

import pytest

from training.ml.config import TrainConfig
from training.ml.errors import ConfigError


def test_round_trips_through_a_plain_dict() -> None:
    config = TrainConfig(preset="accurate", epochs=7, time_budget_minutes=15)
    config.augment.vflip = True
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config
    assert again.input_size == 448
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


def test_accurate_preset_trains_progressively_from_320() -> None:
    accurate = TrainConfig(preset="accurate")
    assert (accurate.start_size, accurate.input_size) == (320, 448)
    assert accurate.size_for(0.0) == 320
    assert accurate.size_for(0.59) == 320
    assert accurate.size_for(0.6) == 448
    # Other presets, an explicit input size, or 0 train at one size throughout.
    assert TrainConfig(preset="fast").start_size == 320
    assert TrainConfig(preset="balanced").size_for(0.0) == 416
    assert TrainConfig(preset="accurate", image_size=640).start_size == 640
    assert TrainConfig(preset="accurate", start_image_size=0).size_for(0.0) == 448
    assert TrainConfig(preset="fast", start_image_size=256).size_for(0.1) == 256
    # A start size above the input size is clamped to it.
    assert TrainConfig(preset="fast", start_image_size=640).start_size == 320


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"start_image_size": 100}, "start image size must be a multiple of 32"),
        ({"start_fraction": 1.0}, "start_fraction must be in"),
        ({"start_fraction": -0.1}, "start_fraction must be in"),
    ],
)
def test_bad_progressive_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)
