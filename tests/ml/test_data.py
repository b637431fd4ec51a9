from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from training.ml.config import Augmentations
from training.ml.data import CocoDetection, split_coco
from training.ml.errors import DatasetError
from training.ml.transforms import Cutout, DetectionTransform, TrainingSamples


def test_reads_boxes_as_xyxy_with_contiguous_labels(synthetic: tuple[Path, Path]) -> None:
    coco_path, images = synthetic
    coco = json.loads(coco_path.read_text())
    dataset = CocoDetection(coco_path, images)
    assert dataset.class_names == ["red", "blue"]
    first = coco["annotations"][0]
    x, y, w, h = first["bbox"]
    image, target = dataset[0]
    assert image.dtype == torch.uint8
    assert image.shape == (3, 128, 128)
    assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    assert target["labels"][0].item() == first["category_id"] - 1


def test_an_image_without_boxes_is_a_valid_sample(synthetic: tuple[Path, Path]) -> None:
    dataset = CocoDetection(*synthetic, transform=DetectionTransform(64, Augmentations()))
    empty = [i for i, im in enumerate(dataset.images) if im["id"] % 5 == 0]
    image, target = dataset[empty[0]]
    assert image.shape == (3, 64, 64)
    assert target["boxes"].shape == (0, 4)
    assert target["labels"].shape == (0,)


def test_decoded_images_are_cached(synthetic: tuple[Path, Path]) -> None:
    dataset = CocoDetection(*synthetic)
    assert dataset.load_image(3) is dataset.load_image(3)
    assert dataset.preload() == 12
    small = CocoDetection(*synthetic, cache_max_bytes=3 * 128 * 128 * 3)
    assert small.preload() == 3  # the cache stops at its size limit
    uncached = CocoDetection(*synthetic, cache=False)
    assert uncached.load_image(3) is not uncached.load_image(3)


def test_resize_scales_boxes(synthetic: tuple[Path, Path]) -> None:
    dataset = CocoDetection(*synthetic)
    raw = dataset.target(0)["boxes"]
    image, target = DetectionTransform(64)(dataset.load_image(0), dataset.target(0))
    assert image.dtype == torch.float32
    assert image.shape == (3, 64, 64)
    assert torch.allclose(target["boxes"], raw / 2)


def test_augmented_boxes_stay_valid(synthetic: tuple[Path, Path]) -> None:
    augment = Augmentations(vflip=True, cutout=True)
    dataset = CocoDetection(*synthetic, transform=DetectionTransform(96, augment))
    torch.manual_seed(0)
    for index in range(len(dataset)):
        image, target = dataset[index]
        boxes = target["boxes"]
        assert image.shape == (3, 96, 96)
        assert 0 <= image.min()
        assert image.max() <= 1
        assert len(boxes) == len(target["labels"])
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert ((boxes >= 0) & (boxes <= 96)).all()


def test_horizontal_flip_mirrors_boxes(synthetic: tuple[Path, Path]) -> None:
    dataset = CocoDetection(*synthetic)
    flip_only = Augmentations(hflip=True, scale_jitter=False, color_jitter=False, blur_noise=False)
    transform = DetectionTransform(128, flip_only)
    raw = dataset.target(0)["boxes"]
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        _, target = transform(dataset.load_image(0), dataset.target(0))
        seen.add(torch.equal(target["boxes"], raw))
        mirrored = torch.stack([128 - raw[:, 2], raw[:, 1], 128 - raw[:, 0], raw[:, 3]], 1)
        assert torch.equal(target["boxes"], raw) or torch.allclose(target["boxes"], mirrored)
    assert seen == {True, False}


def test_missing_image_is_a_clear_error(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    coco_path, images = synthetic
    coco = json.loads(coco_path.read_text())
    coco["images"][0]["file_name"] = "nope.png"
    with pytest.raises(DatasetError, match=r"image not found: .*nope\.png"):
        CocoDetection(coco, images)


def test_empty_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read COCO file"):
        CocoDetection(tmp_path / "bad.json", tmp_path)
    empty = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    with pytest.raises(DatasetError, match="no images"):
        CocoDetection(empty, tmp_path)


def test_split_is_deterministic_and_disjoint(synthetic: tuple[Path, Path]) -> None:
    coco = json.loads(synthetic[0].read_text())
    train, val = split_coco(coco, val_fraction=0.25, seed=3)
    again, _ = split_coco(coco, val_fraction=0.25, seed=3)
    train_ids = {im["id"] for im in train["images"]}
    val_ids = {im["id"] for im in val["images"]}
    assert len(val_ids) == 3
    assert not train_ids & val_ids
    assert train == again
    assert all(a["image_id"] in val_ids for a in val["annotations"])


def test_mosaic_tiles_four_images_with_their_boxes(synthetic: tuple[Path, Path]) -> None:
    dataset = CocoDetection(*synthetic)
    plain = Augmentations(hflip=False, scale_jitter=False, color_jitter=False, blur_noise=False)
    samples = TrainingSamples(dataset, DetectionTransform(128, plain), mosaic=1.0)
    torch.manual_seed(0)
    image, target = samples[0]
    assert image.shape == (3, 128, 128)
    first = dataset.target(0)
    n_first = len(first["boxes"])
    # The sample's own image is the top-left tile, at half scale.
    assert torch.allclose(target["boxes"][:n_first], first["boxes"] / 2)
    assert torch.equal(target["labels"][:n_first], first["labels"])
    assert len(target["boxes"]) >= n_first
    # Its top-left tile is the half-size image itself.
    tile, _ = DetectionTransform(64)(dataset.load_image(0), first)
    assert torch.allclose(image[:, :64, :64], tile)


def test_cutout_erases_patches_and_keeps_boxes() -> None:
    image = tv_tensors.Image(torch.zeros(3, 64, 64))
    boxes = tv_tensors.BoundingBoxes([[1.0, 2.0, 30.0, 40.0]], format="XYXY", canvas_size=(64, 64))
    torch.manual_seed(0)
    out_image, out_boxes = Cutout(p=1.0, scale=(0.05, 0.05), count=2)(image, boxes)
    erased = (out_image == 0.5).all(dim=0).sum().item()
    assert 0 < erased <= 2 * 0.05 * 64 * 64 + 64
    assert torch.equal(out_boxes, boxes)
    unchanged, _ = Cutout(p=0.0, scale=(0.05, 0.05), count=2)(image, boxes)
    assert torch.equal(unchanged, image)
