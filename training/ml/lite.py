"""A light pyramid and detection head for CPUs (every preset uses them).

Profiling the exported FCOS with ONNX Runtime (see ``README.md``) showed that the
standard FPN (a 3x3 conv per level) and FCOS head (two towers of full 3x3 convs with
GroupNorm on every level) cost more than the MobileNetV2 backbone itself. Here:

- :class:`LitePyramid`: 1x1 lateral convs and a top-down sum, no output convs;
- :class:`LiteHead`: one depthwise-separable tower (BatchNorm per level, folded into
  the convs at export) shared by classification, box regression and centre-ness,
  and a single 1x1 predictor.

The head keeps torchvision's FCOS interface (``forward`` returns ``cls_logits``,
``bbox_regression``, ``bbox_ctrness``; the FCOS loss and target assignment are
reused), so :class:`torchvision.models.detection.FCOS` trains it unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.fcos import FCOSHead


class LitePyramid(nn.Module):
    """Top-down feature pyramid of 1x1 lateral convs (one output per input, same order)."""

    def __init__(self, in_channels: list[int], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False),
                nn.BatchNorm2d(channels),
            )
            for c in in_channels
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        outputs = [lateral(x) for lateral, x in zip(self.lateral, features, strict=True)]
        for level in range(len(outputs) - 2, -1, -1):
            upper = F.interpolate(
                outputs[level + 1], size=outputs[level].shape[-2:], mode="nearest"
            )
            outputs[level] = outputs[level] + upper
        return outputs


ACTIVATIONS = {"relu": F.relu, "silu": F.silu}


class SharedSeparable(nn.Module):
    """A depthwise-separable conv whose weights all levels share, with BN per level."""

    def __init__(
        self, channels: int, kernel: int, num_levels: int, activation: str = "relu"
    ) -> None:
        super().__init__()
        self.activation = ACTIVATIONS[activation]
        self.depthwise = nn.Conv2d(
            channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False
        )
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.depthwise_norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_levels))
        self.pointwise_norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_levels))

    def forward(self, x: torch.Tensor, level: int) -> torch.Tensor:
        x = self.activation(self.depthwise_norms[level](self.depthwise(x)))
        return self.activation(self.pointwise_norms[level](self.pointwise(x)))


class LiteHead(FCOSHead):
    """FCOS-compatible head: a separable tower and a 1x1 predictor shared by all levels.

    Sharing the weights across levels (as FCOS does) lets every level learn from
    the positives of all of them, which matters on a small data set; only the
    BatchNorm statistics are per level (as in EfficientDet), so they fold at export.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        *,
        num_levels: int,
        num_convs: int = 2,
        kernel: int = 3,
        activation: str = "relu",
        prior_probability: float = 0.01,
    ) -> None:
        nn.Module.__init__(self)  # FCOSHead.__init__ would build the heavy towers
        self.box_coder = det_utils.BoxLinearCoder(normalize_by_size=True)
        self.num_classes = num_classes
        self.tower = nn.ModuleList(
            SharedSeparable(channels, kernel, num_levels, activation) for _ in range(num_convs)
        )
        self.predictor = nn.Conv2d(channels, num_classes + 5, 1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)
        prior = -math.log((1 - prior_probability) / prior_probability)
        nn.init.constant_(self.predictor.bias[:num_classes], prior)
        # Boxes start at 2 strides wide, not 0: the GIoU loss has no gradient at size 0
        # (measured: with a zero bias the regression stalled for the first epochs).
        nn.init.constant_(self.predictor.bias[num_classes : num_classes + 4], 1.0)

    def forward(self, x: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        outputs = []
        for level, features in enumerate(x):
            for layer in self.tower:
                features = layer(features, level)
            out = self.predictor(features)
            outputs.append(out.flatten(2).transpose(1, 2))  # (N, HW, C + 5)
        out = torch.cat(outputs, dim=1)
        k = self.num_classes
        return {
            "cls_logits": out[..., :k],
            "bbox_regression": F.relu(out[..., k : k + 4]),
            "bbox_ctrness": out[..., k + 4 :],
        }
