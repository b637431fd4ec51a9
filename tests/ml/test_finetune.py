"""Fine-tuning from a checkpoint (``train(init_from=...)``, training/ml/finetune.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from training.ml import checkpoint as ckpt
from training.ml.__main__ import main
from training.ml.engine import TrainResult, train
from training.ml.errors import CheckpointError
from training.ml.finetune import describe_match, load_start, match_classes
from training.ml.models import build_model

from .conftest import tiny_config

PRIOR = -math.log((1 - 0.01) / 0.01)  # the focal-loss prior bias of a fresh class row
SOURCE = ["red", "blue", "yellow"]  # the starting model's classes, in label order
TARGET = ["blue", "green", "red"]  # the fine-tune's: reordered, green new, yellow gone


def _relabelled(synthetic: tuple[Path, Path], folder: Path, names: list[str]) -> Path:
    """The synthetic data with categories ``names`` (ids 1, 2, 3): red and blue boxes keep
    their class where it exists, every third box takes the one class that is neither."""
    coco = json.loads(synthetic[0].read_text())
    old_names = {1: "red", 2: "blue"}
    ids = {name: i for i, name in enumerate(names, start=1)}
    other = next(name for name in names if name not in ("red", "blue"))
    for n, ann in enumerate(coco["annotations"]):
        name = old_names[ann["category_id"]]
        ann["category_id"] = ids[other] if n % 3 == 0 or name not in ids else ids[name]
    coco["categories"] = [{"id": i, "name": name} for name, i in ids.items()]
    path = folder / "coco.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return path


@pytest.fixture(scope="session")
def source(synthetic: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A model of the classes red, blue, yellow (one epoch)."""
    folder = tmp_path_factory.mktemp("source")
    coco = _relabelled(synthetic, folder / "data", SOURCE)
    return train(tiny_config(epochs=1), coco=coco, images_dir=synthetic[1], out_dir=folder)


@pytest.fixture(scope="session")
def target_coco(synthetic: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _relabelled(synthetic, tmp_path_factory.mktemp("target"), TARGET)


def _rows(state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return state["head.predictor.weight"], state["head.predictor.bias"]


def test_classes_are_matched_by_name() -> None:
    match = match_classes(SOURCE, TARGET)
    assert (match.matched, match.new, match.dropped) == (["blue", "red"], ["green"], ["yellow"])
    assert describe_match(match) == "classes matched: blue, red; new: green; dropped: yellow"
    assert describe_match(match_classes(["a"], ["a"])) == "classes matched: a"


def test_matched_rows_are_copied_new_rows_are_fresh_and_gone_classes_dropped(
    source: TrainResult,
) -> None:
    start = load_start(source.best_checkpoint, tiny_config())
    old = ckpt.load(source.best_checkpoint)["model"]
    torch.manual_seed(7)
    model = build_model("fast", len(TARGET), pretrained=False, image_size=128)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}

    match = start.apply(model, TARGET)

    assert match.to_dict() == {"matched": ["blue", "red"], "new": ["green"], "dropped": ["yellow"]}
    new = model.state_dict()
    weight, bias = _rows(new)
    old_weight, old_bias = _rows(old)
    fresh_weight, fresh_bias = _rows(fresh)
    assert weight.shape[0] == len(TARGET) + 5  # yellow's row is gone
    # blue: row 1 of the source, now row 0; red: row 0, now row 2 (exact copies).
    assert torch.equal(weight[0], old_weight[1]) and torch.equal(bias[0], old_bias[1])
    assert torch.equal(weight[2], old_weight[0]) and torch.equal(bias[2], old_bias[0])
    # green: the fresh model's own row, as a run from ImageNet starts it.
    assert torch.equal(weight[1], fresh_weight[1]) and torch.equal(bias[1], fresh_bias[1])
    assert bias[1].item() == pytest.approx(PRIOR)
    assert not torch.equal(weight[1], old_weight[2])
    # The box regression and centre-ness rows follow the classes, copied as they are.
    assert torch.equal(weight[3:], old_weight[3:]) and torch.equal(bias[3:], old_bias[3:])
    # Everything else (backbone, pyramid, head tower, BatchNorm statistics) is the source's.
    others = [k for k in new if not k.startswith("head.predictor.")]
    assert others and all(torch.equal(new[k], old[k]) for k in others)


def test_a_fine_tune_run_starts_from_the_checkpoint(
    source: TrainResult, target_coco: Path, synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    # A learning rate too small to move a weight: best.pt is the starting point. With
    # an EMA of the weights, which best.pt holds, so the EMA started from it too.
    config = tiny_config(epochs=1, lr=1e-12, ema_decay=0.9)
    result = train(
        config, coco=target_coco, images_dir=synthetic[1], out_dir=tmp_path,
        init_from=source.best_checkpoint,
    )  # fmt: skip
    assert result.class_names == TARGET
    assert result.started_from == {
        "checkpoint": str(source.best_checkpoint),
        "matched": ["blue", "red"],
        "new": ["green"],
        "dropped": ["yellow"],
    }
    best = ckpt.load(result.best_checkpoint)
    assert best["started_from"] == result.started_from
    weight, bias = _rows(best["model"])
    old_weight, old_bias = _rows(ckpt.load(source.best_checkpoint)["model"])
    assert torch.allclose(weight[0], old_weight[1], atol=1e-7)
    assert torch.allclose(weight[2], old_weight[0], atol=1e-7)
    assert torch.allclose(bias[[0, 2]], old_bias[[1, 0]], atol=1e-7)
    assert bias[1].item() == pytest.approx(PRIOR, abs=1e-6)
    backbone = "backbone.body.17.conv.1.0.weight"  # trainable, so not frozen in place
    assert torch.allclose(
        best["model"][backbone], ckpt.load(source.best_checkpoint)["model"][backbone], atol=1e-7
    )


def test_another_preset_or_backbone_is_a_clear_error(source: TrainResult, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="trained with the fast preset, this run asks for"):
        load_start(source.best_checkpoint, tiny_config(preset="accurate"))
    with pytest.raises(CheckpointError, match="from a random backbone"):
        load_start(source.best_checkpoint, tiny_config(pretrained=True))
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_start(tmp_path / "gone.pt", tiny_config())
    # A network of other weights (here one layer less) is refused before any copy.
    checkpoint = ckpt.load(source.best_checkpoint)
    checkpoint["model"].pop("backbone.fpn.lateral.0.0.weight")
    ckpt.save_atomic(checkpoint, tmp_path / "other.pt")
    model = build_model("fast", 3, pretrained=False, image_size=128)
    with pytest.raises(CheckpointError, match="does not match this run's"):
        load_start(tmp_path / "other.pt", tiny_config()).apply(model, TARGET)


def test_cli_fine_tunes_and_says_why_it_cannot(
    source: TrainResult, target_coco: Path, synthetic: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    argv = ["train", "--coco", str(target_coco), "--images", str(synthetic[1]), "--epochs", "1",
            "--image-size", "64", "--no-pretrained", "--threads", "1",
            "--init-from", str(source.best_checkpoint)]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "ok")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["started_from"]["new"] == ["green"]
    config = ckpt.load(result["best_checkpoint"])["config"]
    assert config["warmup_steps"] == 10  # a fine-tune's shorter warm-up
    assert main([*argv, "--out", str(tmp_path / "no"), "--preset", "balanced"]) == 1
    err = capsys.readouterr().err
    assert "error: cannot fine-tune from" in err and "Traceback" not in err
    assert not (tmp_path / "no" / "last.pt").exists()
