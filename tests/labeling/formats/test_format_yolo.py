from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labeling.formats import Box, FormatError, ProblemKind, read


def test_round_trip_within_half_a_pixel(sample_dataset, round_trip, tmp_path):
    round_trip(sample_dataset, "yolo", tolerance=0.5)

    config = yaml.safe_load((tmp_path / "export-yolo" / "data.yaml").read_text())
    assert config == {
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "nc": 3,
        "names": ["cat", "dog", "bird"],
    }
    assert (tmp_path / "export-yolo" / "labels" / "test" / "c.txt").read_text() == ""


def test_ultralytics_layout_with_names_map(tmp_path: Path, make_image):
    (tmp_path / "data.yaml").write_text(
        "path: /elsewhere\ntrain: images/train\nnames: {0: cat, 1: dog}\n"
    )
    make_image(tmp_path / "images" / "train" / "a.jpg", (100, 50))
    make_image(tmp_path / "images" / "val" / "b.jpg", (100, 50))
    make_image(tmp_path / "images" / "val" / "c.jpg", (100, 50))
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text(
        "1 0.5 0.5 0.2 0.4\n"
        "0 0.05 0.05 0.2 0.2\n"  # reaches past the top-left corner: clipped
        "7 0.5 0.5 0.1 0.1\n"  # no class 7
        "0 0.5 0.5\n"  # too few numbers
        "0 0.1 0.2 0.3 0.2 0.3 0.6\n"  # a segment: its bounding box
    )
    (tmp_path / "labels" / "val" / "b.txt").write_text("\n")
    (tmp_path / "labels" / "val" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")

    dataset = read(tmp_path)

    assert dataset.format == "yolo"
    assert dataset.classes == ["cat", "dog"]
    images = {image.name: image for image in dataset.images}
    assert [(i.split, i.no_objects) for i in images.values()] == [
        ("train", False),
        ("val", True),  # empty label file: no objects
        ("val", False),  # no label file: not labeled
    ]
    a = images["a.jpg"].boxes
    assert a[0] == Box("dog", 40, 15, 20, 20)
    assert a[1] == pytest.approx(Box("cat", 0, 0, 15, 7.5))
    assert a[2] == pytest.approx(Box("cat", 10, 10, 20, 20))
    assert dataset.report.summary() == {
        "box_clipped": 1,
        "unknown_class": 1,
        "bad_entry": 1,
        "missing_image": 1,
    }
    assert dataset.report.items(ProblemKind.UNKNOWN_CLASS) == ["labels/train/a.txt:3"]
    assert dataset.report.items(ProblemKind.MISSING_IMAGE) == ["labels/val/orphan.txt"]


def test_roboflow_layout_and_flat_classes_txt(tmp_path: Path, make_image):
    (tmp_path / "data.yaml").write_text("train: ../train/images\nnames: [rabbit]\n")
    make_image(tmp_path / "valid" / "images" / "a.jpg")
    (tmp_path / "valid" / "labels").mkdir()
    (tmp_path / "valid" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    flat = tmp_path / "flat"
    make_image(flat / "b.png", (10, 10))
    (flat / "b.txt").write_text("0 0.5 0.5 1 1\n")
    (flat / "classes.txt").write_text("thing\n")

    rabbits, things = read(tmp_path), read(flat / "classes.txt")

    assert [(i.file_name, i.split, i.boxes) for i in rabbits.images] == [
        ("flat/b.png", None, [Box("rabbit", 0, 0, 10, 10)]),
        ("valid/images/a.jpg", "val", [Box("rabbit", 16, 12, 32, 24)]),
    ]
    assert things.images[0].boxes == [Box("thing", 0, 0, 10, 10)]


@pytest.mark.parametrize(
    ("text", "message"),
    [("names: [a, b\n", "not valid YAML"), ("nc: 2\n", "no 'names' list")],
)
def test_bad_data_yaml_is_a_format_error(tmp_path, text, message):
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(FormatError, match=message):
        read(tmp_path)
