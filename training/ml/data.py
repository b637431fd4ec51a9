"""Detection data over a COCO JSON file and an image folder.

Labels inside the engine are contiguous indices ``0..C-1`` over the COCO categories
sorted by id; :class:`CocoDetection` keeps the mapping back to category ids.
Images without annotations are valid samples (pure background).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from training.ml.errors import Cancelled, DatasetError

logger = logging.getLogger(__name__)

Sample = tuple[torch.Tensor, dict[str, Any]]


def load_coco(coco: str | Path | dict[str, Any]) -> dict[str, Any]:
    """Read a COCO detection file (or pass a dict through) and check its shape."""
    if isinstance(coco, dict):
        data = coco
    else:
        path = Path(coco)
        if not path.is_file():
            raise DatasetError(f"COCO file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"cannot read COCO file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError("COCO file has no 'images' list")
    if not isinstance(data.get("categories"), list) or not data["categories"]:
        raise DatasetError("COCO file has no categories")
    data.setdefault("annotations", [])
    return data


def class_names_of(coco: dict[str, Any]) -> list[str]:
    """Category names in label order (categories sorted by id)."""
    return [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]


def category_ids_of(coco: dict[str, Any]) -> list[int]:
    """Category ids in label order: ``category_ids_of(coco)[label]`` is the COCO id."""
    return sorted(int(c["id"]) for c in coco["categories"])


def split_coco(
    coco: dict[str, Any], *, val_fraction: float, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a COCO dict by image into (train, val), deterministically from ``seed``."""
    images = sorted(coco["images"], key=lambda im: im["id"])
    if not images:
        raise DatasetError("the dataset has no images")
    if len(images) < 2:
        raise DatasetError("need at least 2 images to hold some out for validation")
    order = list(range(len(images)))
    random.Random(seed).shuffle(order)
    n_val = min(len(images) - 1, max(1, round(len(images) * val_fraction)))
    val_ids = {images[i]["id"] for i in order[:n_val]}

    def subset(keep: Callable[[int], bool]) -> dict[str, Any]:
        return {
            **coco,
            "images": [im for im in images if keep(im["id"])],
            "annotations": [a for a in coco["annotations"] if keep(a["image_id"])],
        }

    return subset(lambda i: i not in val_ids), subset(lambda i: i in val_ids)


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor of shape (3, H, W).

    The EXIF orientation is applied, so pixels are as a browser shows them (and as
    the boxes were drawn in the studio's editor).
    """
    try:
        with Image.open(path) as image:
            pixels = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path}: {exc}") from exc
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


def shrink_to(image: torch.Tensor, max_size: int) -> torch.Tensor:
    """``image`` (uint8 ``(3, H, W)``) with each side brought down to ``max_size`` at most.

    The same bilinear resize (no antialiasing) that training, inference and the ONNX
    graph apply when they stretch an image to the square input size: an image larger
    than the input on both sides becomes exactly the pixels they would compute (rounded
    to uint8), so a cache of such images trains and validates as the originals did.
    """
    height, width = image.shape[-2:]
    size = (min(height, max_size), min(width, max_size))
    if size == (height, width):
        return image
    resized = torch.nn.functional.interpolate(
        image[None].to(torch.float32), size=size, mode="bilinear", align_corners=False
    )[0]
    return resized.round_().clamp_(0, 255).to(torch.uint8)


class CacheBudget:
    """The bytes of decoded images that the data sets sharing it may keep in memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def take(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` if they fit; False (nothing reserved) if not."""
        if self.used + nbytes > self.max_bytes:
            return False
        self.used += nbytes
        return True


class CocoDetection(Dataset):
    """A COCO detection dataset yielding ``(image, target)`` pairs.

    ``image`` is whatever ``transform`` makes of the uint8 ``(3, H, W)`` image (the
    image itself without a transform); ``target`` has ``boxes`` (XYXY pixels, float),
    ``labels`` (int64, contiguous), ``image_id`` and ``orig_size`` ``(H, W)`` (of the
    image file).

    ``max_size``: images are decoded with no side larger than it (the largest input
    size training uses: :func:`shrink_to`), and boxes are scaled with them; None keeps
    the files' sizes (evaluation). :meth:`original_size` gives an image's size in its
    file, to bring predictions back to the file's pixels.
    Decoded images are cached in memory up to ``cache_max_bytes``, or as far as
    ``cache_budget`` allows when it is given (one budget shared by several data sets).
    """

    def __init__(
        self,
        coco: str | Path | dict[str, Any],
        images_dir: str | Path,
        *,
        transform: Callable[[torch.Tensor, dict[str, Any]], Sample] | None = None,
        cache: bool = True,
        cache_max_bytes: int = 2 << 30,
        cache_budget: CacheBudget | None = None,
        max_size: int | None = None,
    ) -> None:
        self.coco = load_coco(coco)
        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise DatasetError(f"image folder not found: {self.images_dir}")
        self.transform = transform
        self.class_names = class_names_of(self.coco)
        self.category_ids = category_ids_of(self.coco)
        label_of = {cid: i for i, cid in enumerate(self.category_ids)}
        self.images = sorted(self.coco["images"], key=lambda im: im["id"])
        if not self.images:
            raise DatasetError("the dataset has no images")
        self._boxes: dict[int, list[list[float]]] = {im["id"]: [] for im in self.images}
        self._labels: dict[int, list[int]] = {im["id"]: [] for im in self.images}
        for ann in self.coco["annotations"]:
            if ann.get("iscrowd", 0) or ann["image_id"] not in self._boxes:
                continue
            if ann["category_id"] not in label_of:
                raise DatasetError(
                    f"annotation {ann.get('id')} has unknown category {ann['category_id']}"
                )
            x, y, w, h = (float(v) for v in ann["bbox"])
            if w <= 0 or h <= 0:
                logger.warning("skipping empty box in annotation %s", ann.get("id"))
                continue
            self._boxes[ann["image_id"]].append([x, y, x + w, y + h])
            self._labels[ann["image_id"]].append(label_of[ann["category_id"]])
        for im in self.images:
            if not (self.images_dir / im["file_name"]).is_file():
                raise DatasetError(f"image not found: {self.images_dir / im['file_name']}")
        self.max_size = max_size
        self._cache_enabled = cache
        self._cache_budget = cache_budget or CacheBudget(cache_max_bytes)
        self._cache: dict[int, torch.Tensor] = {}
        self._original_sizes: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.images)

    def boxes_per_class(self) -> list[int]:
        """Number of boxes of each class, in label order."""
        counts = [0] * len(self.class_names)
        for labels in self._labels.values():
            for label in labels:
                counts[label] += 1
        return counts

    @property
    def cache_bytes(self) -> int:
        """Bytes of the decoded images this data set holds in memory."""
        return sum(image.numel() for image in self._cache.values())

    def load_image(self, index: int) -> torch.Tensor:
        """The decoded uint8 image at ``index``, at most ``max_size`` a side (from the
        cache when possible)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        image = read_image(self.images_dir / self.images[index]["file_name"])
        self._original_sizes[index] = (int(image.shape[-2]), int(image.shape[-1]))
        if self.max_size is not None:
            image = shrink_to(image, self.max_size)
        if self._cache_enabled and self._cache_budget.take(image.numel()):
            self._cache[index] = image
        return image

    def original_size(self, index: int) -> tuple[int, int]:
        """``(H, W)`` of the image at ``index`` in its file (it is decoded if need be)."""
        if index not in self._original_sizes:
            self.load_image(index)
        return self._original_sizes[index]

    def raw(self, index: int) -> Sample:
        """The decoded image at ``index`` and its target, boxes in that image's pixels."""
        image = self.load_image(index)
        target = self.target(index)
        height, width = self.original_size(index)
        target["orig_size"] = (height, width)
        if image.shape[-2:] != (height, width):
            scale_x, scale_y = image.shape[-1] / width, image.shape[-2] / height
            target["boxes"] = target["boxes"] * torch.tensor([scale_x, scale_y, scale_x, scale_y])
        return image, target

    def preload(
        self,
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Decode every image into the cache (as far as it allows); returns how many.

        Done before data-loader workers fork, they all share the decoded images.
        ``should_stop`` is asked before every image; raises Cancelled when it says so.
        ``on_progress(images decoded)`` is called about every second, and at the end.
        """
        if self._cache_enabled:
            reported = time.monotonic()
            for index in range(len(self)):
                if should_stop is not None and should_stop():
                    raise Cancelled(f"stopped while decoding image {index + 1} of {len(self)}")
                self.load_image(index)
                if on_progress is not None and time.monotonic() - reported >= 1.0:
                    reported = time.monotonic()
                    on_progress(index + 1)
            if on_progress is not None:
                on_progress(len(self))
        return len(self._cache)

    def subset(self, indices: list[int]) -> CocoDetection:
        """The images at ``indices`` as a data set of their own (sharing decoded images)."""
        keep = {self.images[i]["id"] for i in indices}
        part = CocoDetection(
            {
                **self.coco,
                "images": [im for im in self.images if im["id"] in keep],
                "annotations": [a for a in self.coco["annotations"] if a["image_id"] in keep],
            },
            self.images_dir,
            transform=self.transform,
            cache=self._cache_enabled,
            cache_budget=self._cache_budget,
            max_size=self.max_size,
        )
        index_of = {im["id"]: i for i, im in enumerate(self.images)}
        for new, image in enumerate(part.images):
            old = index_of[image["id"]]
            cached = self._cache.get(old)
            if cached is not None:  # shared, not counted again
                part._cache[new] = cached
                part._original_sizes[new] = self._original_sizes[old]
        return part

    def target(self, index: int) -> dict[str, Any]:
        """The labels of the image at ``index``, boxes in the file's pixels."""
        info = self.images[index]
        boxes = torch.tensor(self._boxes[info["id"]], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor(self._labels[info["id"]], dtype=torch.int64)
        return {"boxes": boxes, "labels": labels, "image_id": int(info["id"])}

    def __getitem__(self, index: int) -> Sample:
        image, target = self.raw(index)
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


def collate(batch: list[Sample]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Keep images and targets as lists (detection models take lists)."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
