from __future__ import annotations

from pathlib import Path

import pytest

from labeling.formats import Box, FormatError, ProblemKind, read

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotation><filename>&lol3;</filename></annotation>
"""


def _voc_xml(filename: str, objects: str, size: str = "<width>64</width><height>48</height>"):
    return f"<annotation><filename>{filename}</filename><size>{size}</size>{objects}</annotation>"


def _object(name: str, xmin, ymin, xmax, ymax) -> str:
    return (
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def test_bccd_reads_364_images_and_drops_the_2_zero_area_boxes(bccd: Path):
    dataset = read(bccd)

    assert dataset.format == "voc"
    assert len(dataset.images) == 364
    assert dataset.box_count == 4888 - 2
    assert dataset.classes == ["Platelets", "RBC", "WBC"]
    counts = {label: 0 for label in dataset.classes}
    for image in dataset.images:
        for box in image.boxes:
            counts[box.label] += 1
    assert counts == {"RBC": 4155 - 2, "WBC": 372, "Platelets": 361}
    assert dataset.split_counts() == {"train": 205, "val": 87, "test": 72}
    assert dataset.report.summary() == {"box_degenerate": 2}
    assert dataset.report.items(ProblemKind.BOX_DEGENERATE) == [
        "BloodImage_00338.jpg",
        "BloodImage_00343.jpg",
    ]
    assert all((image.width, image.height) == (640, 480) for image in dataset.images)
    # VOC corners are 1-based and inclusive: xmax=640 reaches the right edge, legally.
    edge = [b for image in dataset.images for b in image.boxes if b.x + b.w == 640]
    assert edge
    assert not dataset.report.count(ProblemKind.BOX_CLIPPED)


def test_one_based_corners_become_zero_based_boxes(tmp_path: Path, make_image):
    make_image(tmp_path / "JPEGImages" / "a.jpg", (640, 480))
    (tmp_path / "Annotations").mkdir()
    objects = _object("cell", 1, 1, 640, 480) + _object("cell", 11, 21, 30, 40)
    size = "<width>640</width><height>480</height>"
    (tmp_path / "Annotations" / "a.xml").write_text(_voc_xml("a.jpg", objects, size))

    dataset = read(tmp_path / "Annotations" / "a.xml")

    assert dataset.images[0].boxes == [Box("cell", 0, 0, 640, 480), Box("cell", 10, 20, 20, 20)]
    assert dataset.images[0].split is None


def test_round_trip_is_exact(sample_dataset, round_trip):
    # Without boxes, VOC cannot tell an image with no objects from one not labeled yet.
    round_trip(sample_dataset, "voc", keeps_no_objects=False)


def test_xml_bomb_and_broken_files_are_reported_and_the_rest_is_read(tmp_path, make_image):
    make_image(tmp_path / "JPEGImages" / "good.jpg")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "bomb.xml").write_text(BOMB)
    (tmp_path / "Annotations" / "broken.xml").write_text("<annotation><filename>")
    (tmp_path / "Annotations" / "good.xml").write_text(
        _voc_xml("good.jpg", _object("cat", 1, 1, 10, 10) + _object("cat", 1, 1, "x", 5))
    )

    dataset = read(tmp_path)

    assert [image.name for image in dataset.images] == ["good.jpg"]
    assert dataset.images[0].boxes == [Box("cat", 0, 0, 10, 10)]
    assert dataset.report.items(ProblemKind.BAD_ENTRY) == ["bomb.xml", "broken.xml", "good.jpg"]


def test_a_lone_xml_bomb_is_a_format_error(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "bomb.xml").write_text(BOMB)
    with pytest.raises(FormatError, match="none of the VOC annotation files"):
        read(tmp_path, format="voc")


def test_missing_size_is_read_from_the_image_with_exif_rotation(tmp_path, make_image):
    make_image(tmp_path / "photo.jpg", (40, 30), exif_orientation=6)
    (tmp_path / "photo.xml").write_text(_voc_xml("photo.jpg", "", size=""))

    dataset = read(tmp_path)

    image = dataset.images[0]
    assert (image.width, image.height, image.no_objects) == (30, 40, True)


def test_annotation_files_linked_from_outside_are_not_read(tmp_path, make_image):
    outside = tmp_path / "outside.xml"
    outside.write_text(_voc_xml("a.jpg", _object("cat", 1, 1, 5, 5)))
    dataset_folder = tmp_path / "dataset"
    make_image(dataset_folder / "JPEGImages" / "a.jpg")
    (dataset_folder / "Annotations").mkdir()
    (dataset_folder / "Annotations" / "a.xml").symlink_to(outside)
    (dataset_folder / "Annotations" / "b.xml").write_text(_voc_xml("a.jpg", ""))

    dataset = read(dataset_folder)

    assert [(image.name, image.boxes) for image in dataset.images] == [("a.jpg", [])]


def test_path_and_the_xml_name_are_hints_when_filename_is_wrong(tmp_path: Path, make_image):
    """labelImg writes the author's absolute <path>; some tools leave <filename> stale."""
    make_image(tmp_path / "pictures" / "day1" / "real.jpg")
    make_image(tmp_path / "pictures" / "by-id.png")
    (tmp_path / "xml").mkdir()
    by_path = _voc_xml("renamed.jpg", _object("cat", 1, 1, 10, 10)).replace(
        "</filename>", "</filename><path>C:\\Users\\me\\pictures\\day1\\real.jpg</path>"
    )
    (tmp_path / "xml" / "one.xml").write_text(by_path)
    (tmp_path / "xml" / "by-id.xml").write_text(_voc_xml("", _object("dog", 1, 1, 5, 5)))

    dataset = read(tmp_path)

    assert sorted(image.file_name for image in dataset.images) == [
        "pictures/by-id.png",
        "pictures/day1/real.jpg",
    ]
    assert len(dataset.report) == 0, dataset.report.problems
    assert dataset.report.layout[0] == "annotations: xml/ (2 XML files)"
