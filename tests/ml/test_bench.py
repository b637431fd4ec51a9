"""The benchmark's VOC reader, on the real BCCD files read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.ml.bench import voc_to_coco
from training.ml.data import CocoDetection
from training.ml.errors import DatasetError

BCCD = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "bccd-voc" / "BCCD"
pytestmark = pytest.mark.skipif(not BCCD.is_dir(), reason="BCCD data set not present")


def test_voc_split_becomes_coco() -> None:
    coco = voc_to_coco(BCCD, "test", ["Platelets", "RBC", "WBC"])
    assert len(coco["images"]) == 72
    assert [c["name"] for c in coco["categories"]] == ["Platelets", "RBC", "WBC"]
    assert {im["width"] for im in coco["images"]} == {640}
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0  # noqa: PT018
        assert x + w <= 640 and y + h <= 480  # noqa: PT018
    dataset = CocoDetection(coco, BCCD / "JPEGImages", cache=False)
    assert all(count > 0 for count in dataset.boxes_per_class())


def test_known_image_boxes() -> None:
    coco = voc_to_coco(BCCD, "trainval")
    image = next(im for im in coco["images"] if im["file_name"] == "BloodImage_00000.jpg")
    anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    assert len(anns) == 20
    wbc = next(a for a in anns if a["category_id"] == 3)  # sorted names: Platelets, RBC, WBC
    assert wbc["bbox"] == [259.0, 176.0, 232.0, 200.0]  # VOC 260..491 is 1-based inclusive


def test_missing_split_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="VOC split not found"):
        voc_to_coco(BCCD, "nope")
