from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeling.formats import Box, FormatError, detect_format, read


def _task(image: str, results: list[dict], **annotation) -> dict:
    return {"data": {"image": image}, "annotations": [{"result": results, **annotation}]}


def _rectangle(x, y, w, h, label="cat", rotation=0, size=(200, 100)) -> dict:
    return {
        "type": "rectanglelabels",
        "original_width": size[0],
        "original_height": size[1],
        "value": {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "rotation": rotation,
            "rectanglelabels": [label],
        },
    }


def test_rabbit_label_studio_export(rabbit: Path):
    path = next((rabbit / "train").glob("project-3-at-*.json"))

    dataset = read(path)

    assert detect_format(path) == "labelstudio"
    # Every upload ("e1c994fe-<name>") is found under its original name.
    assert len(dataset.images) == 106
    assert dataset.box_count == 126
    assert dataset.classes == ["rabbit"]
    assert len(dataset.report) == 0
    first = next(i for i in dataset.images if i.name.startswith("09c4840e08e0e30a"))
    assert (first.width, first.height) == (1024, 691)
    box = first.boxes[0]
    assert (box.x, box.y) == pytest.approx((22.8, 7.6), abs=0.05)
    assert (box.w, box.h) == pytest.approx((653.5, 683.4), abs=0.05)


def test_round_trip_within_half_a_pixel(sample_dataset, round_trip):
    # Label Studio exports carry no class list: classes come back sorted, unused ones gone.
    round_trip(sample_dataset, "labelstudio", tolerance=0.5, classes=["cat", "dog"])


def test_tasks_annotations_and_rotation(tmp_path: Path, make_image):
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        make_image(tmp_path / name, (200, 100))
    tasks = [
        _task("/data/upload/1/0123abcd-a.jpg", [_rectangle(10, 20, 50, 50, rotation=90)]),
        {
            "data": {"image": "/data/local-files/?d=b.jpg"},
            "annotations": [
                {"result": [_rectangle(0, 0, 10, 10, "old")], "updated_at": "2022-01-01"},
                {"result": [_rectangle(0, 0, 20, 20, "new")], "updated_at": "2023-01-01"},
                {"result": [_rectangle(0, 0, 30, 30, "no")], "was_cancelled": True},
            ],
        },
        _task("https://example.com/c.jpg", []),
        {"data": {"image": "d.jpg"}, "annotations": [], "predictions": [{"result": []}]},
        _task("../outside.jpg", []),
        {"data": {"text": "no image"}},
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))

    dataset = read(tmp_path)

    images = {image.name: image for image in dataset.images}
    # 100x50 turned by 90 degrees about its top-left corner (20, 20) spans x -30..20 and
    # y 20..120: the box around it, clipped to the image.
    assert images["a.jpg"].boxes == [pytest.approx(Box("cat", 0, 20, 20, 80))]
    assert images["b.jpg"].boxes == [Box("new", 0, 0, 40, 20)]
    assert (images["c.jpg"].boxes, images["c.jpg"].no_objects) == ([], True)
    assert (images["d.jpg"].boxes, images["d.jpg"].no_objects) == ([], False)
    assert dataset.report.summary() == {"box_clipped": 1, "unsafe_path": 1, "bad_entry": 1}


def test_not_a_task_list_is_a_format_error(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2")
    with pytest.raises(FormatError, match="not valid JSON"):
        read(tmp_path / "x.json")
    (tmp_path / "x.json").write_text('{"tasks": []}')
    with pytest.raises(FormatError, match="no list of tasks"):
        read(tmp_path / "x.json", format="labelstudio")
