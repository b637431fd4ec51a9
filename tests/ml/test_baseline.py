"""The average-box baseline: each class's mean box, everywhere, with score 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.ml.baseline import average_box_map50, average_box_predictions


def test_the_average_box_scores_1_where_boxes_never_move_and_little_elsewhere(
    synthetic: tuple[Path, Path],
) -> None:
    still = {
        "images": [{"id": i, "width": 100, "height": 50, "file_name": f"{i}.png"} for i in (1, 2)],
        "annotations": [
            {
                "id": i,
                "image_id": i,
                "category_id": 7,
                "bbox": [10, 5, 20, 10],
                "iscrowd": 0,
                "area": 200,
            }
            for i in (1, 2)
        ],  # fmt: skip
        "categories": [{"id": 7, "name": "cell"}],
    }
    [first, _] = average_box_predictions(still, still)
    assert first["boxes"] == [pytest.approx([10.0, 5.0, 30.0, 15.0])]
    assert first["category_ids"] == [7]
    assert average_box_map50(still, still) == 1.0
    coco = json.loads(synthetic[0].read_text())  # rectangles anywhere
    assert average_box_map50(coco, coco) < 0.2
