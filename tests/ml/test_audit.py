"""The label audit on a hand-made case: one object the labels miss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.ml.__main__ import main
from training.ml.audit import audit, contact_sheet, metrics_without, unlabelled_candidates
from training.ml.evaluate import evaluate_predictions

# Two images of one "cell" each; image 1 also shows a cell nobody labelled at (60, 60).
GROUND_TRUTH = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 100, "height": 100},
        {"id": 2, "file_name": "b.png", "width": 100, "height": 100},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 5, "bbox": [10, 10, 30, 30], "iscrowd": 0},
    ],
    "categories": [{"id": 5, "name": "cell"}],
}
PREDICTIONS = [
    {
        "image_id": 1,
        "boxes": [
            [60, 60, 80, 80],  # the unlabelled cell, found with the best score
            [0, 0, 20, 20],  # the labelled one
            [8, 8, 28, 28],  # a poor second box on it (IoU 144 / 656 = 0.22)
            [70, 0, 90, 10],  # far from everything but unsure
        ],
        "scores": [0.9, 0.8, 0.6, 0.3],
        "category_ids": [5, 5, 5, 5],
    },
    {"image_id": 2, "boxes": [[10, 10, 40, 40]], "scores": [0.7], "category_ids": [5]},
]


@pytest.fixture
def report() -> dict:
    return evaluate_predictions(GROUND_TRUTH, PREDICTIONS)


def test_candidates_are_confident_and_overlap_no_labelled_box(report: dict) -> None:
    found = unlabelled_candidates(report, min_score=0.5, max_iou=0.3)
    # [8, 8, 28, 28] overlaps the labelled [0, 0, 20, 20] by 144 / 656 = 0.22 < 0.3: a
    # candidate too; the unsure far box (0.3) is not.
    assert [(c["image_id"], c["box"], c["score"]) for c in found] == [
        (1, [60.0, 60.0, 80.0, 80.0], 0.9),
        (1, [8.0, 8.0, 28.0, 28.0], 0.6),
    ]
    strict = unlabelled_candidates(report, min_score=0.5, max_iou=0.2)
    assert [c["box"] for c in strict] == [[60.0, 60.0, 80.0, 80.0]]


def test_metrics_without_the_candidates(report: dict) -> None:
    assert report["metrics"]["map50"] < 0.9  # the unlabelled cell ranks first: an "error"
    nothing = metrics_without(report, GROUND_TRUTH, [])
    assert nothing["map50"] == pytest.approx(report["metrics"]["map50"])
    assert nothing["map"] == pytest.approx(report["metrics"]["map"])
    found = unlabelled_candidates(report, min_score=0.5, max_iou=0.2)
    without = metrics_without(report, GROUND_TRUTH, found)
    assert without["map50"] == pytest.approx(1.0)
    assert without["ap50_per_class"] == {"cell": pytest.approx(1.0)}


def test_audit_counts_per_class_and_draws_the_sheet(report: dict, tmp_path: Path) -> None:
    for name, colour in (("a.png", (200, 50, 50)), ("b.png", (50, 50, 200))):
        Image.new("RGB", (100, 100), colour).save(tmp_path / name)
    result = audit(report, GROUND_TRUTH, tmp_path, tmp_path / "sheet.png", max_iou=0.2)
    assert result["candidates"] == 1
    assert result["candidates_by_class"] == {"cell": 1}
    assert result["labelled_by_class"] == {"cell": 2}
    assert result["without_candidates"]["map50"] == pytest.approx(1.0)
    assert [(c["file_name"], c["box"]) for c in result["found"]] == [
        ("a.png", [60.0, 60.0, 80.0, 80.0])
    ]
    sheet = np.asarray(Image.open(result["sheet"]))
    assert sheet.shape == (150, 150 * 8, 3)
    tile = sheet[:, :150]
    assert (tile == [255, 0, 0]).all(axis=-1).any()  # the outline
    assert (np.abs(tile.astype(int) - [200, 50, 50]).sum(-1) < 10).any()  # image a's pixels
    assert (sheet[:, 150:] == 255).all()  # nothing else


def test_contact_sheet_samples_at_most_count(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100), (0, 128, 0)).save(tmp_path / "a.png")
    many = [{"file_name": "a.png", "box": [10.0 * i, 10.0, 10.0 * i + 9, 19.0]} for i in range(9)]
    sheet = Image.open(contact_sheet(many, tmp_path, tmp_path / "s.png", count=5, columns=4))
    assert sheet.size == (600, 300)


def _images(folder: Path) -> None:
    for name in ("a.png", "b.png"):
        Image.new("RGB", (100, 100), (90, 90, 90)).save(folder / name)


def test_command_line(report: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _images(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "gt.json").write_text(json.dumps(GROUND_TRUTH))
    args = ["audit", "--report", str(tmp_path / "report.json"), "--coco", str(tmp_path / "gt.json")]
    args += ["--images", str(tmp_path), "--out", str(tmp_path / "out" / "sheet.png")]
    assert main([*args, "--max-iou", "0.2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["candidates"] == 1
    assert printed["found"][0]["box"] == [60.0, 60.0, 80.0, 80.0]
    assert (tmp_path / "out" / "sheet.png").is_file()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["candidates"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"report": "not json"}, "cannot read report"),
        ({"report": json.dumps({"metrics": {}})}, "is not a report of python -m training.ml"),
        ({"max-iou": "1.5"}, "must be in (0, 1]"),
        ({"images": "missing"}, "image folder not found"),
    ],
)
def test_bad_input_gives_one_line(
    report: dict, tmp_path: Path, capsys: pytest.CaptureFixture, change: dict, message: str
) -> None:
    _images(tmp_path)
    (tmp_path / "report.json").write_text(change.get("report", json.dumps(report)))
    (tmp_path / "gt.json").write_text(json.dumps(GROUND_TRUTH))
    args = ["audit", "--report", str(tmp_path / "report.json"), "--coco", str(tmp_path / "gt.json")]
    args += ["--images", str(tmp_path / change.get("images", "")), "--out", str(tmp_path / "s.png")]
    args += ["--max-iou", change.get("max-iou", "0.3")]
    assert main(args) in (1, 2)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "s.png").exists()
