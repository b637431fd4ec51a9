from __future__ import annotations

from pathlib import Path

import pytest

from labeling.formats import Box, FormatError, ProblemKind, read


def test_round_trip_within_half_a_pixel(sample_dataset, round_trip, tmp_path):
    # AutoML has no class list: classes come back sorted, the unused one is gone; an image
    # without boxes is written as a "no objects" row.
    round_trip(
        sample_dataset, "automl-csv", tolerance=0.5, classes=["cat", "dog"], keeps_no_objects=False
    )

    rows = (tmp_path / "export-automl-csv" / "annotations.csv").read_text().splitlines()
    assert rows[0] == "TRAIN,images/a.jpg,cat,0,0,,,1,1,,"
    assert "UNASSIGNED,images/d.jpg,cat,0.025,0.06666667,,,0.1,0.2,," in rows
    assert "TEST,images/c.jpg,,,,,,,,," in rows  # no objects: still the 11 columns
    assert {len(row.split(",")) for row in rows} == {11}


def test_google_rows_sets_vertices_and_bad_rows(tmp_path: Path, make_image):
    make_image(tmp_path / "images" / "a.jpg", (200, 100))
    make_image(tmp_path / "b.jpg", (200, 100))
    make_image(tmp_path / "c.jpg", (200, 100))
    (tmp_path / "labels.csv").write_text(
        "TRAIN,gs://bucket/images/a.jpg,car,0.1,0.2,,,0.5,0.6,,\n"
        "TRAIN,gs://bucket/images/a.jpg,bus,0.1,0.2,0.5,0.2,0.5,0.6,0.1,0.6\n"
        "VALIDATION,gs://bucket/images/a.jpg,car,0.9,0.9,,,1.2,1.0,,\n"
        "TEST,gs://bucket/b.jpg,,,,,,,,,\n"
        "c.jpg,car,0,0,,,0.5,0.5,,\n"
        "TRAIN,gs://bucket/images/a.jpg,car,0.1,0.2,,,0.5,0.6,,,,,,\n"
        "TRAIN,gs://bucket/images/a.jpg,car,0.1,oops,,,0.5,0.6,,\n"
        "UNASSIGNED,gs://bucket/missing.jpg\n"
        "\n"
    )

    dataset = read(tmp_path)

    assert dataset.format == "automl-csv"
    assert dataset.classes == ["bus", "car"]
    images = {image.name: image for image in dataset.images}
    a, b, c = images["a.jpg"], images["b.jpg"], images["c.jpg"]
    assert (a.split, b.split, c.split) == ("train", "test", None)
    assert a.boxes[0] == pytest.approx(Box("car", 20, 20, 80, 40))
    assert a.boxes[1] == pytest.approx(Box("bus", 20, 20, 80, 40))
    assert a.boxes[2] == pytest.approx(Box("car", 180, 90, 20, 10))  # clipped
    assert (b.boxes, b.no_objects) == ([], True)
    assert c.boxes == [Box("car", 0, 0, 100, 50)]
    assert dataset.report.summary() == {"bad_entry": 2, "missing_image": 1, "box_clipped": 1}
    assert dataset.report.items(ProblemKind.BAD_ENTRY) == ["labels.csv:6", "labels.csv:7"]


def test_undecodable_csv_is_a_format_error(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"TRAIN,\xff\xfe\n")
    with pytest.raises(FormatError, match="not a readable CSV"):
        read(tmp_path / "x.csv")
