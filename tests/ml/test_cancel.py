"""``should_stop`` is honoured in every phase of the engine, not only between batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.ml import checkpoint as ckpt
from training.ml.engine import train
from training.ml.errors import Cancelled
from training.ml.evaluate import evaluate_checkpoint
from training.ml.export import export_onnx

from .conftest import tiny_config


def test_a_cancel_while_decoding_the_images_stops_before_any_training(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) >= 3  # the third image of ten

    events: list[dict] = []
    result = train(
        tiny_config(epochs=2),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
        on_progress=events.append,
        should_stop=should_stop,
    )
    assert result.status == "cancelled"
    assert result.epochs_completed == 0
    assert len(asked) == 3
    assert not [e for e in events if e["event"] == "step"]  # no batch was trained
    assert events[-1]["event"] == "done" and events[-1]["status"] == "cancelled"
    assert not (tmp_path / "last.pt").exists()


def test_a_cancel_during_the_last_batch_skips_the_last_validation(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    events: list[dict] = []
    steps = 2 * 3  # two epochs of 10 training images, batch 4
    result = train(
        tiny_config(epochs=2),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
        on_progress=events.append,
        should_stop=lambda: sum(e["event"] == "step" for e in events) >= steps,
    )
    assert result.status == "cancelled"
    assert result.epochs_completed == 1  # the second epoch was neither validated nor saved
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
    assert ckpt.load(tmp_path / "last.pt")["epoch"] == 1


def test_evaluation_stops_when_asked(trained, synthetic: tuple[Path, Path]) -> None:
    with pytest.raises(Cancelled):
        evaluate_checkpoint(
            trained.best_checkpoint, synthetic[0], synthetic[1], should_stop=lambda: True
        )


def test_export_stops_when_asked_and_publishes_nothing(trained, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    with pytest.raises(Cancelled):
        export_onnx(trained.best_checkpoint, out, should_stop=lambda: True)
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left behind
