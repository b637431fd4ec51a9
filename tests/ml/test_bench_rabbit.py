"""The benchmark's rabbit set: its committed split and its loader, on the real export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.ml.bench import result_name, write_splits
from training.ml.bench_datasets import RABBIT_SPLIT, rabbit_split
from training.ml.data import CocoDetection

RABBIT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "rabbit-roboflow"
needs_rabbit = pytest.mark.skipif(not RABBIT.is_dir(), reason="rabbit data set not present")


def test_the_split_file_is_fixed_and_has_no_overlap() -> None:
    split = json.loads(RABBIT_SPLIT.read_text())
    train, val, test = (set(split[name]) for name in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (137, 30, 30)  # 70/15/15 of 197
    assert not (train & val or train & test or val & test)


@needs_rabbit
def test_the_split_covers_exactly_the_present_photos() -> None:
    split = json.loads(RABBIT_SPLIT.read_text())
    files = [name for part in ("train", "val", "test") for name in split[part]]
    present = {p.name for p in (RABBIT / "train").glob("*.jpg")}
    assert len(present) == 197
    assert sorted(files) == sorted(present)
    # The committed file is what its documented function writes.
    assert {k: split[k] for k in ("train", "val", "test")} == rabbit_split(RABBIT)


@needs_rabbit
def test_the_loader_maps_each_split_to_its_photos_and_boxes(tmp_path: Path) -> None:
    splits, images = write_splits("rabbit", RABBIT, tmp_path)
    assert {s: p.name for s, p in splits.items()} == {
        "train": "rabbit-train.json",
        "val": "rabbit-val.json",
        "test": "rabbit-test.json",
    }
    listed = json.loads(RABBIT_SPLIT.read_text())
    boxes = 0
    for name, path in splits.items():
        coco = json.loads(path.read_text())
        assert sorted(im["file_name"] for im in coco["images"]) == listed[name]
        assert coco["categories"] == [{"id": 1, "name": "rabbit"}]  # no "z" placeholder
        assert min(im["id"] for im in coco["images"]) == 1  # no id 0 for pycocotools
        assert min(a["id"] for a in coco["annotations"]) == 1
        dataset = CocoDetection(coco, images, cache=False)
        assert len(dataset) == len(listed[name])
        assert dataset.boxes_per_class()[0] == len(coco["annotations"]) > 0
        boxes += len(coco["annotations"])
    assert boxes == 260  # every box of the 197 present photos
    image, target = CocoDetection(json.loads(splits["test"].read_text()), images, cache=False)[0]
    assert image.shape[0] == 3 and len(target["boxes"]) >= 1  # noqa: PT018


def test_results_of_the_two_data_sets_and_clocks_have_their_own_names() -> None:
    assert result_name("bccd", "fast", 15) == "fast-15min"  # as before the rabbit set
    assert result_name("rabbit", "fast", 15) == "rabbit-fast-15min"
    assert result_name("rabbit", "accurate", 30, "cpu") == "rabbit-accurate-cpu30min"
