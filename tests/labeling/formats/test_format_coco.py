from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from labeling.formats import Box, FormatError, ProblemKind, coco, read, write


def _coco_file(folder: Path, images: list[dict], annotations: list[dict], categories: list[dict]):
    folder.mkdir(parents=True, exist_ok=True)
    document = {"images": images, "annotations": annotations, "categories": categories}
    path = folder / "_annotations.coco.json"
    path.write_text(json.dumps(document))
    return path


def test_rabbit_roboflow_takes_the_197_present_images_and_reports_the_203_missing(rabbit):
    dataset = read(rabbit / "train" / "_annotations.coco.json")

    listed = json.loads((rabbit / "train" / "_annotations.coco.json").read_text())["images"]
    present = {p.name for p in (rabbit / "train").glob("*.jpg")}
    missing = sorted(image["file_name"] for image in listed if image["file_name"] not in present)
    assert len(dataset.images) == 197
    assert dataset.classes == ["rabbit"]  # the "z" placeholder category is not a class
    assert dataset.box_count == 260
    assert len(missing) == 203
    assert sorted(dataset.report.items(ProblemKind.MISSING_IMAGE)) == missing
    assert len(dataset.report) == 203
    first = next(i for i in dataset.images if i.name.startswith("0a5b1f2391bcbbb5"))
    assert (first.width, first.height) == (1024, 833)
    assert first.boxes == [Box("rabbit", 104, 115, 596, 567)]
    assert first.split == "train"  # from the Roboflow "train" folder


def test_round_trip_is_exact_and_pycocotools_loads_the_export(sample_dataset, round_trip, tmp_path):
    sample_dataset.images[0].boxes.append(Box("dog", 1.25, 2.5, 10.75, 3.125))
    round_trip(sample_dataset, "coco")

    out = tmp_path / "export-coco"
    assert sorted(p.name for p in (out / "annotations").iterdir()) == [
        "instances_default.json",  # d.jpg has no split
        "instances_test.json",
        "instances_train.json",
        "instances_val.json",
    ]
    assert sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.*")) == [
        "images/default/d.jpg",
        "images/test/c.jpg",
        "images/train/a.jpg",
        "images/train/e.jpg",
        "images/val/b.png",
    ]
    train = COCO(str(out / "annotations" / "instances_train.json"))
    assert [c["id"] for c in train.loadCats(train.getCatIds())] == [1, 2, 3]
    annotation = train.loadAnns(train.getAnnIds(imgIds=[1]))[1]
    assert annotation["bbox"] == [10, 5, 20, 30]
    assert annotation["area"] == 600
    assert (annotation["iscrowd"], annotation["segmentation"]) == (0, [])
    val = COCO(str(out / "annotations" / "instances_val.json"))
    image = val.loadImgs([2])[0]
    assert (image["file_name"], image["width"], image["height"], image["split"]) == (
        "b.png",  # relative to images/val/, as CVAT and datumaro write it
        50,
        40,
        "val",
    )
    assert val.dataset["info"]["description"] == "sample"


def test_single_file_form_round_trips_too(sample_dataset, tmp_path):
    out = tmp_path / "single"
    write(sample_dataset, out, "coco", single_file=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "annotations.json",
        "images/a.jpg",
        "images/b.png",
        "images/c.jpg",
        "images/d.jpg",
        "images/e.jpg",
    ]
    api = COCO(str(out / "annotations.json"))
    assert api.loadImgs([2])[0]["file_name"] == "images/b.png"
    again = read(out)
    assert len(again.report) == 0
    assert {(i.name, i.split, len(i.boxes)) for i in again.images} == {
        (i.name, i.split, len(i.boxes)) for i in sample_dataset.images
    }


def test_roboflow_split_folders_give_the_splits(tmp_path, make_image):
    categories = [
        {"id": 0, "name": "cells", "supercategory": "none"},
        {"id": 1, "name": "rbc", "supercategory": "cells"},
        {"id": 2, "name": "wbc", "supercategory": "cells"},
    ]
    for folder, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        make_image(tmp_path / folder / f"{split}.jpg")
        images = [{"id": 0, "file_name": f"{split}.jpg", "width": 64, "height": 48}]
        annotations = [{"id": 0, "image_id": 0, "category_id": 2, "bbox": [1, 2, 3, 4]}]
        _coco_file(tmp_path / folder, images, annotations, categories)

    dataset = read(tmp_path)

    assert dataset.format == "coco"
    assert dataset.classes == ["rbc", "wbc"]
    assert {image.name: image.split for image in dataset.images} == {
        "train.jpg": "train",
        "val.jpg": "val",
        "test.jpg": "test",
    }
    assert all(image.boxes == [Box("wbc", 1, 2, 3, 4)] for image in dataset.images)


def test_cvat_and_label_studio_quirks(tmp_path, make_image):
    make_image(tmp_path / "images" / "a.jpg")
    images = [{"id": 0, "file_name": "images/a.jpg", "width": 64, "height": 48}]
    categories = [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]  # Label Studio: 0-based
    annotations = [
        {"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 1, 5, 5], "ignore": 0},
        {"id": 2, "image_id": 0, "category_id": 1, "bbox": [2, 2, 5, 5], "ignore": 1},
        {"id": 3, "image_id": 0, "category_id": 1, "bbox": [3, 3, 5, 5], "iscrowd": 1},
        {"id": 4, "image_id": 0, "category_id": 1, "bbox": [60, 40, 10, 10], "attributes": {}},
        {"id": 5, "image_id": 0, "category_id": 9, "bbox": [1, 1, 5, 5]},
        {"id": 6, "image_id": 7, "category_id": 0, "bbox": [1, 1, 5, 5]},
        {"id": 7, "image_id": 0, "category_id": 0, "bbox": [1, 1, 0, 5]},
        {"id": 8, "image_id": 0, "category_id": 0, "bbox": "nonsense"},
    ]
    _coco_file(tmp_path, images, annotations, categories)

    dataset = read(tmp_path)

    assert dataset.classes == ["cat", "dog"]
    assert dataset.images[0].boxes == [Box("cat", 1, 1, 5, 5), Box("dog", 60, 40, 4, 8)]
    assert dataset.report.summary() == {
        "skipped": 2,
        "box_clipped": 1,
        "unknown_class": 1,
        "bad_entry": 2,
        "box_degenerate": 1,
    }


def test_paths_escaping_the_dataset_folder_are_never_resolved(tmp_path, make_image):
    outside = make_image(tmp_path / "secret.jpg")
    inside = tmp_path / "dataset"
    (inside / "link.jpg").parent.mkdir()
    (inside / "link.jpg").symlink_to(outside)
    images = [
        {"id": 1, "file_name": "../secret.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": str(outside), "width": 64, "height": 48},
        {"id": 3, "file_name": "link.jpg", "width": 64, "height": 48},
        {"id": 4, "file_name": "../../etc/passwd", "width": 64, "height": 48},
    ]
    path = _coco_file(inside, images, [], [{"id": 1, "name": "cat"}])

    dataset = coco.read(path)

    assert dataset.images == []
    assert dataset.report.items(ProblemKind.UNSAFE_PATH) == [
        "../secret.jpg",
        "link.jpg",
        "../../etc/passwd",
    ]
    assert dataset.report.items(ProblemKind.MISSING_IMAGE) == [str(outside)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [', "not valid JSON (line 1"),
        ('{"annotations": []}', "no 'images' list"),
        ('{"images": [], "categories": [{"name": "x"}]}', "category #1 has no integer id"),
    ],
)
def test_malformed_files_fail_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(FormatError, match=re.escape(message)):
        read(path, format="coco")


def test_writer_refuses_a_box_of_an_unlisted_class(sample_dataset, tmp_path):
    sample_dataset.classes = ["cat"]
    with pytest.raises(FormatError, match="class 'dog'"):
        write(sample_dataset, tmp_path / "out", "coco")
