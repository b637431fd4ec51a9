"""Box-aware transforms built on ``torchvision.transforms.v2``.

Every image is first converted to float in [0, 1] and stretched to the square input
size with bilinear interpolation without antialiasing: exactly what the inference
wrapper (:mod:`training.ml.predict`) and the exported ONNX graph do, so training and
deployment see the same pixels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from training.ml.config import Augmentations
from training.ml.data import CocoDetection, Sample


def _base(size: int) -> list[v2.Transform]:
    return [
        v2.ToDtype(torch.float32, scale=True),
        v2.Resize((size, size), interpolation=v2.InterpolationMode.BILINEAR, antialias=False),
    ]


def build_pipeline(size: int, augment: Augmentations | None) -> v2.Compose:
    """The v2 pipeline: the base resize, then the switched-on augmentations."""
    steps = _base(size)
    if augment is None:
        return v2.Compose(steps)
    if augment.scale_jitter:
        crop = v2.RandomResizedCrop((size, size), scale=(0.3, 1.0), antialias=False)
        steps.append(v2.RandomApply([crop], p=0.5))
    if augment.hflip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    if augment.vflip:
        steps.append(v2.RandomVerticalFlip(0.5))
    if augment.color_jitter:
        steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02))
    if augment.blur_noise:
        steps.append(v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2))
        steps.append(v2.RandomApply([v2.GaussianNoise(sigma=0.03)], p=0.2))
    if augment.cutout:
        steps.append(Cutout(p=0.5, scale=(0.01, 0.06), count=3))
    steps.append(v2.SanitizeBoundingBoxes(min_size=2.0))
    return v2.Compose(steps)


class Cutout(v2.Transform):
    """Erase a few random rectangles of the image (boxes are left as they are).

    ``v2.RandomErasing`` refuses or warns on bounding boxes; erasing small patches
    does not move any box, so the boxes pass through unchanged.
    """

    def __init__(self, *, p: float, scale: tuple[float, float], count: int) -> None:
        super().__init__()
        self.p, self.scale, self.count = p, scale, count

    def forward(self, *inputs: Any) -> Any:
        if torch.rand(()) >= self.p:
            return inputs if len(inputs) > 1 else inputs[0]
        return super().forward(*inputs)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        patches = []
        for _ in range(self.count):
            area = height * width * float(torch.empty(()).uniform_(*self.scale))
            side_h = max(1, min(height, int(area**0.5)))
            side_w = max(1, min(width, int(area / side_h)))
            top = int(torch.randint(0, height - side_h + 1, ()))
            left = int(torch.randint(0, width - side_w + 1, ()))
            patches.append((top, left, side_h, side_w))
        return {"patches": patches}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        out = inpt.clone()
        for top, left, h, w in params["patches"]:
            out[..., top : top + h, left : left + w] = 0.5
        return out


class DetectionTransform:
    """Callable ``(uint8 image, target) -> (float image, target)`` for the dataset.

    With ``augment=None`` it only resizes (validation and inference); boxes follow the
    image through every step.
    """

    def __init__(self, size: int, augment: Augmentations | None = None) -> None:
        self.size = size
        self.pipeline = build_pipeline(size, augment)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        height, width = image.shape[-2:]
        boxes = tv_tensors.BoundingBoxes(
            target["boxes"], format="XYXY", canvas_size=(int(height), int(width))
        )
        out_image, out = self.pipeline(tv_tensors.Image(image), {**target, "boxes": boxes})
        out["boxes"] = out["boxes"].as_subclass(torch.Tensor)
        return out_image.as_subclass(torch.Tensor), out


class TrainingSamples(Dataset):
    """Augmented training samples of a dataset; a fraction ``mosaic`` of them are mosaics.

    A mosaic tiles the sample and three random others, each shrunk to half the input
    size, into one 2x2 image (boxes follow), before the usual augmentations: more
    objects per step, and at smaller scales.
    """

    def __init__(
        self, dataset: CocoDetection, transform: DetectionTransform, *, mosaic: float
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.mosaic = mosaic
        self._tile = DetectionTransform(transform.size // 2)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        image, target = self.dataset.raw(index)
        if not self.mosaic or float(torch.rand(())) >= self.mosaic:
            return self.transform(image, target)
        size, half = self.transform.size, self.transform.size // 2
        canvas = torch.zeros(3, size, size)
        boxes, labels = [], []
        others = torch.randint(len(self.dataset), (3,)).tolist()
        for tile, other in enumerate([index, *others]):
            tile_image, tile_target = self._tile(*self.dataset.raw(other))
            top, left = (tile // 2) * half, (tile % 2) * half
            canvas[:, top : top + half, left : left + half] = tile_image
            boxes.append(tile_target["boxes"] + torch.tensor([left, top, left, top]))
            labels.append(tile_target["labels"])
        mosaic_target = {**target, "boxes": torch.cat(boxes), "labels": torch.cat(labels)}
        return self.transform(canvas, mosaic_target)
