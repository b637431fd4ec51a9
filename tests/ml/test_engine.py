from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch
from torchvision.models.detection.fcos import FCOS

from training.ml import checkpoint as ckpt
from training.ml.engine import TrainResult, WarmupCosine, train
from training.ml.errors import CheckpointError, DatasetError, TrainingDiverged

from .conftest import tiny_config


def _step_losses(events: list[dict]) -> list[float]:
    return [e["loss"] for e in events if e["event"] == "step"]


def test_a_few_steps_learn_the_rectangles(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    events: list[dict] = []
    result = train(
        tiny_config(epochs=4),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
        on_progress=events.append,
    )
    losses = _step_losses(events)
    assert len(losses) == 4 * 3  # 10 training images (2 held out), batch 4
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
    assert result.status == "completed"
    assert result.epochs_completed == 4
    assert result.best_checkpoint == tmp_path / "best.pt"
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert set(epochs[0]["val"]) == {"map", "map50", "map75"}
    assert epochs[-1]["eta_seconds"] == 0
    step = next(e for e in events if e["event"] == "step")
    assert {"epoch", "step", "steps", "losses", "lr", "eta_seconds"} <= set(step)
    assert events[-1] == {
        "event": "done",
        "status": "completed",
        "epoch": 4,
        "best_epoch": result.best_epoch,
    }


def test_resume_continues_with_the_identical_next_step(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(epochs=2)
    straight: list[dict] = []
    train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path / "a",
          on_progress=straight.append)  # fmt: skip

    first: list[dict] = []
    stopped = train(
        config,
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path / "b",
        on_progress=first.append,
        should_stop=lambda: any(e["event"] == "epoch" for e in first),
    )
    assert stopped.status == "cancelled"
    assert stopped.epochs_completed == 1
    state = ckpt.load(tmp_path / "b" / "last.pt")
    assert state["epoch"] == 1
    assert state["global_step"] == 3

    resumed: list[dict] = []
    result = train(
        config,
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path / "b",
        resume=tmp_path / "b" / "last.pt",
        on_progress=resumed.append,
    )
    assert result.epochs_completed == 2
    first_step = next(e for e in resumed if e["event"] == "step")
    assert first_step["epoch"] == 2
    assert first_step["global_step"] == 4
    assert _step_losses(first) == _step_losses(straight)[:3]
    assert _step_losses(resumed) == _step_losses(straight)[3:]  # bit for bit
    assert [h["epoch"] for h in result.history] == [1, 2]


def test_same_seed_same_run(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        events: list[dict] = []
        train(tiny_config(epochs=1), coco=synthetic[0], images_dir=synthetic[1],
              out_dir=tmp_path / name, on_progress=events.append)  # fmt: skip
        runs.append(_step_losses(events))
    assert runs[0] == runs[1]


def test_nan_loss_raises_a_clear_error(
    synthetic: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nan_loss(self, *args, **kwargs):
        return {"classification": torch.tensor(float("nan"), requires_grad=True)}

    monkeypatch.setattr(FCOS, "compute_loss", nan_loss)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 1, step 1.*learning rate"):
        train(tiny_config(), coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path)


def test_time_budget_stops_with_a_checkpoint(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    result = train(
        tiny_config(epochs=50, time_budget_minutes=0.001),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
    )
    assert result.status == "time_budget"
    assert result.epochs_completed == 1  # the partial epoch is validated and kept
    assert ckpt.load(result.best_checkpoint)["kind"] == "best"


def test_a_budget_shorter_than_one_epoch_ends_in_budget_with_a_model(
    long_epochs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock starts before decoding; the epoch is cut mid-way so that its validation
    still fits, and the run does not stop with budget left. Step events come on time
    (not only every ``progress_every`` steps)."""
    from training.ml import engine

    monkeypatch.setattr(engine, "PROGRESS_SECONDS", 0.5)
    events: list[dict] = []
    started = time.monotonic()
    result = train(
        tiny_config(epochs=5, time_budget_minutes=6 / 60, progress_every=1000),
        coco=long_epochs[0],
        images_dir=long_epochs[1],
        out_dir=tmp_path,
        on_progress=events.append,
        clock_started=started,
    )
    wall = time.monotonic() - started
    assert result.status == "time_budget"
    assert 4.0 < wall < 6 + 2.0  # 2 s: a loaded machine's single slow step
    assert result.elapsed_seconds == pytest.approx(wall, abs=0.5)
    [epoch] = result.history
    assert epoch["partial"] and 0 < epoch["steps"] < math.ceil(300 * 0.85 / 4)
    assert "val_map" in epoch  # the partial epoch was validated
    assert ckpt.load(result.best_checkpoint)["kind"] == "best"
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["decoding images", "training", "validating"]
    decoding = [e for e in events if e["event"] == "decoding"]
    assert decoding[-1]["images"] == decoding[-1]["images_total"] == 300  # train and val
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) >= 3
    assert all(e["images"] == 4 * e["step"] and e["images_total"] == 255 for e in steps)
    assert all(e["images_per_second"] > 0 for e in steps)


def test_the_budget_reserves_the_evaluation_and_export_that_follow(
    long_epochs: tuple[Path, Path], tmp_path: Path
) -> None:
    from training.ml.budget import EXPORT_FIXED_SECONDS

    config = tiny_config(epochs=5, time_budget_minutes=(EXPORT_FIXED_SECONDS + 6) / 60)
    started = time.monotonic()
    result = train(config, coco=long_epochs[0], images_dir=long_epochs[1], out_dir=tmp_path,
                   clock_started=started, final_images=40, export=True)  # fmt: skip
    # Training leaves at least the export's fixed allowance (and the 40 images) unused.
    assert time.monotonic() - started < config.time_budget_minutes * 60 - EXPORT_FIXED_SECONDS
    assert result.best_checkpoint is not None


def test_early_stopping(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    # With a learning rate this small nothing improves after the first epoch.
    result = train(
        tiny_config(epochs=10, lr=1e-9, early_stopping_patience=2),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
    )
    assert result.status == "early_stopped"
    assert result.epochs_completed == result.best_epoch + 2


def test_class_without_boxes_is_refused(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    coco = json.loads(synthetic[0].read_text())
    coco["categories"].append({"id": 9, "name": "green"})
    with pytest.raises(DatasetError, match="class 'green' has no boxes"):
        train(tiny_config(), coco=coco, images_dir=synthetic[1], out_dir=tmp_path)


def test_resume_refuses_a_best_checkpoint(
    trained: TrainResult, synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match="last.pt"):
        train(tiny_config(epochs=3), coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path,
              resume=trained.best_checkpoint)  # fmt: skip


def test_warmup_then_cosine() -> None:
    schedule = WarmupCosine(warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.001)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.55)
    assert schedule(110) == pytest.approx(0.1)
    assert schedule(500) == pytest.approx(0.1)


def test_every_augmentation_switched_on_trains(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(epochs=1, val_fraction=0)
    for name in (
        "hflip",
        "vflip",
        "scale_jitter",
        "color_jitter",
        "blur_noise",
        "cutout",
        "mosaic",
    ):
        setattr(config.augment, name, True)
    result = train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path)
    assert result.status == "completed"
    assert result.best_metrics == {}  # no validation split: the last epoch is the best
    assert result.best_epoch == 1


def test_eta_counts_down(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    events: list[dict] = []
    train(tiny_config(epochs=3), coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path,
          on_progress=events.append)  # fmt: skip
    steps = [e for e in events if e["event"] == "step"]
    # From the first step on, the ETA covers the rest of the run, not only this epoch.
    first = steps[0]
    assert first["eta_seconds"] > 0
    # The last step of the last epoch: only its validation is left (what it last took).
    assert 0 < steps[-1]["eta_seconds"] < 5
    etas = [e["eta_seconds"] for e in events if e["event"] == "epoch"]
    assert etas[0] > etas[1] > etas[2] == 0


def test_progressive_resizing_trains_small_first_and_validates_at_full_size(
    synthetic: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.ml import engine

    built: list[int] = []
    real = engine.DetectionTransform

    def recording(size: int, augment=None):  # the real transform, its size noted
        built.append(size)
        return real(size, augment)

    monkeypatch.setattr(engine, "DetectionTransform", recording)
    config = tiny_config(epochs=4, image_size=128, start_image_size=64, start_fraction=0.5)
    result = train(config, coco=synthetic[0], images_dir=synthetic[1], out_dir=tmp_path)
    assert [h["image_size"] for h in result.history] == [64, 64, 128, 128]
    assert built == [64, 64, 128, 128]
    # Validated at the size trained; best.pt is chosen among the full-size epochs only.
    assert result.best_epoch in (3, 4)
    # best.pt is a model at the full input size, whichever epoch won.
    assert ckpt.load(result.best_checkpoint)["config"]["image_size"] == 128


def _as_saved_before_architectures(path: Path) -> None:
    """Rewrite a checkpoint as checkpoints were saved before they recorded their
    architecture (every head then had ReLU), with a ReLU-trained model's weights."""
    state = ckpt.load(path)
    del state["architecture"]
    ckpt.save_atomic(state, path)


def _head_activations(model: torch.nn.Module) -> set:
    return {layer.activation for layer in model.head.tower}


def test_checkpoints_keep_the_network_they_were_trained_with(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    """A checkpoint records its head's activation: one saved before "accurate" changed to
    SiLU is rebuilt (evaluated, exported, resumed) with the ReLU head it was trained with."""
    coco, images = synthetic
    config = tiny_config(preset="accurate", epochs=1)
    result = train(config, coco=coco, images_dir=images, out_dir=tmp_path / "run")
    best = ckpt.load(result.best_checkpoint)
    assert best["architecture"] == {"head_activation": "silu"}
    model, _ = ckpt.model_from_checkpoint(best)
    assert _head_activations(model) == {torch.nn.functional.silu}

    for path in (result.best_checkpoint, result.last_checkpoint):
        _as_saved_before_architectures(path)
    legacy, _ = ckpt.model_from_checkpoint(ckpt.load(result.best_checkpoint))
    assert _head_activations(legacy) == {torch.nn.functional.relu}

    resumed = train(
        tiny_config(preset="accurate", epochs=2),
        coco=coco,
        images_dir=images,
        out_dir=tmp_path / "run",
        resume=result.last_checkpoint,
    )
    assert resumed.epochs_completed == 2
    assert ckpt.load(resumed.last_checkpoint)["architecture"] == {"head_activation": "relu"}


def test_training_runs_in_channels_last_and_checkpoints_load_into_a_plain_model(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    """The model trains in channels-last memory format (faster convolutions on the CPU);
    its checkpoints still load into a freshly built (contiguous) model for export."""
    from training.ml.data import CocoDetection
    from training.ml.engine import _Run

    coco, images = synthetic
    config = tiny_config(epochs=1)
    run = _Run(config, CocoDetection(coco, images), torch.device("cpu"), {})
    convs = [m.weight for m in run.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)  # the 3x3 convs did change format

    result = train(config, coco=coco, images_dir=images, out_dir=tmp_path / "run")
    model, _ = ckpt.model_from_checkpoint(ckpt.load(result.best_checkpoint))
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous() for w in weights)
