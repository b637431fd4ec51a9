"""The decoded-image cache holds images at training size, within its memory bound."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.ml.data import CacheBudget, CocoDetection
from training.ml.engine import _datasets
from training.ml.models import build_model
from training.ml.predict import InferenceModel, predict_dataset
from training.ml.transforms import DetectionTransform

from .conftest import tiny_config

WIDTH, HEIGHT = 2048, 1371  # the large photos


def make_photos(root: Path, sizes: list[tuple[int, int]]) -> tuple[Path, Path]:
    """JPEG 'photos' of the given (width, height), each with two boxes, and a COCO file."""
    images = root / "images"
    images.mkdir(parents=True)
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    rng = np.random.default_rng(0)
    for image_id, (width, height) in enumerate(sizes, start=1):
        pixels = np.full((height, width, 3), 110, np.uint8)
        pixels[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)  # a gradient to resample
        for k in range(2):
            w, h = width // 4, height // 3
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            pixels[y : y + h, x : x + w] = (230, 30, 30)
            box = [x + 0.5, y + 0.25, w - 1.0, h - 0.5]
            coco["annotations"].append(
                {"id": 2 * image_id + k, "image_id": image_id, "category_id": 1, "bbox": box}
            )
        name = f"photo_{image_id}.jpg"
        Image.fromarray(pixels).save(images / name, quality=90)
        coco["images"].append({"id": image_id, "file_name": name, "width": width, "height": height})
    path = root / "coco.json"
    path.write_text(json.dumps(coco))
    return path, images


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    sizes = [(WIDTH, HEIGHT)] * 5 + [(HEIGHT, WIDTH), (300, 200), (640, 480)]
    return make_photos(tmp_path_factory.mktemp("photos"), sizes)


def test_large_photos_are_cached_at_training_size_with_their_boxes(photos) -> None:
    dataset = CocoDetection(*photos, max_size=320)
    assert dataset.preload() == len(dataset)
    originals = CocoDetection(*photos, cache=False)
    for index in range(len(dataset)):
        image, target = dataset.raw(index)
        height, width = originals.load_image(index).shape[-2:]
        assert max(image.shape[-2:]) <= 320
        assert image.shape[-2:] == (min(height, 320), min(width, 320))
        assert dataset.original_size(index) == target["orig_size"] == (height, width)
        scale = torch.tensor([image.shape[-1] / width, image.shape[-2] / height] * 2)
        assert torch.allclose(target["boxes"], originals.target(index)["boxes"] * scale)
    assert dataset.cache_bytes == sum(dataset.load_image(i).numel() for i in range(len(dataset)))
    assert dataset.cache_bytes < len(dataset) * 320 * 320 * 3 + 1
    # The small photo is kept as it is.
    assert dataset.load_image(6).shape == (3, 200, 300)


def test_a_cached_photo_trains_as_its_original_did(photos) -> None:
    """Stretched to the input size, the cached image gives the original's pixels (within
    uint8 rounding) and boxes: the non-augmented training sample and validation hold."""
    cached = CocoDetection(*photos, max_size=320)
    originals = CocoDetection(*photos, cache=False)
    transform = DetectionTransform(320)
    for index in (0, 5, 7):
        image, target = transform(*cached.raw(index))
        reference, reference_target = transform(*originals.raw(index))
        assert (image - reference).abs().max() <= 0.6 / 255
        assert torch.allclose(target["boxes"], reference_target["boxes"], atol=1e-3)


def test_the_cache_stays_within_its_bound_whatever_the_photos(photos) -> None:
    one = 320 * 320 * 3
    budget = CacheBudget(3 * one + 100)
    train = CocoDetection(*photos, max_size=320, cache_budget=budget)
    val = CocoDetection(*photos, max_size=320, cache_budget=budget)
    kept = train.preload() + val.preload()
    assert kept == 3  # the bound is shared by both data sets
    assert train.cache_bytes + val.cache_bytes == budget.used <= budget.max_bytes
    # Images the cache has no room for are still served, decoded again at training size.
    image, target = train.raw(len(train) - 1)
    assert max(image.shape[-2:]) <= 320 and len(target["boxes"]) == 2
    assert train.load_image(4) is not train.load_image(4)


def test_the_engine_caches_at_its_largest_input_size_within_its_setting(photos) -> None:
    config = tiny_config(preset="accurate", image_size=None, cache_max_megabytes=1)
    train_ds, val_ds = _datasets(config, photos[0], photos[1], None, None)
    assert val_ds is not None
    train_ds.preload()
    val_ds.preload()
    assert 0 < train_ds.cache_bytes + val_ds.cache_bytes <= 1 << 20
    largest = config.input_size  # accurate: 448, after 320 px at the start
    assert config.start_size < largest
    for dataset in (train_ds, val_ds):
        for index in range(len(dataset)):
            assert max(dataset.load_image(index).shape[-2:]) <= largest


def test_predictions_on_cached_photos_are_in_the_files_pixels(photos) -> None:
    torch.manual_seed(0)
    model = InferenceModel(build_model("fast", 1, pretrained=False, image_size=128), 128)
    model.max_detections, model.score_threshold = 5, 0.0
    small = predict_dataset(model, CocoDetection(*photos, max_size=128))
    full = predict_dataset(model, CocoDetection(*photos, cache=False))

    def ordered(boxes: list[list[float]]) -> np.ndarray:  # near-equal scores may swap
        return np.array(sorted(boxes, key=lambda box: [round(v) for v in box]))

    for on_small, on_file in zip(small, full, strict=True):
        assert on_small["image_id"] == on_file["image_id"]
        assert np.allclose(on_small["scores"], on_file["scores"], atol=2e-3)
        assert np.allclose(ordered(on_small["boxes"]), ordered(on_file["boxes"]), atol=2.0)
    boxes = np.array(full[0]["boxes"])
    assert boxes[:, 2].max() > 1024  # in the 2048-pixel-wide file's coordinates


def test_a_tiny_train_on_large_photos(photos, tmp_path: Path) -> None:
    from training.ml.engine import train

    config = tiny_config(epochs=1, val_fraction=0.25)
    result = train(config, coco=photos[0], images_dir=photos[1], out_dir=tmp_path)
    assert result.status == "completed"
    assert result.best_checkpoint is not None
    assert set(result.best_metrics) == {"map", "map50", "map75"}
