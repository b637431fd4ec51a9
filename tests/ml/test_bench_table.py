"""The benchmark's results table (no training: figures written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from training.ml.bench import write_table


def test_table_gathers_presets_and_their_int8_variant(tmp_path: Path) -> None:
    figures = {
        "preset": "fast",
        "budget_minutes": 15,
        "epochs": 30,
        "seconds_per_epoch": 28.0,
        "test_map50": 0.9,
        "test_map": 0.6,
        "test_ap50_per_class": {"Platelets": 0.8, "RBC": 0.9, "WBC": 1.0},
        "onnx_latency_ms_by_threads": {"1": 17.0, "2": 11.0},
        "onnx_size_mb": 7.5,
        "peak_rss_mb": 1500,
        "int8": {"test_map50": 0.89, "test_map": 0.59, "onnx_size_mb": 2.3},
    }
    (tmp_path / "fast-15min.json").write_text(json.dumps(figures))
    (tmp_path / "unrelated.json").write_text("{}")
    rows = [line for line in write_table(tmp_path).read_text().splitlines() if "| fast" in line]
    assert rows[0].startswith("| fast | 15 | 30 | 28.0 | 0.900 | 0.600 | 0.800 / 0.900 / 1.000")
    assert "| 17.0 | 11.0 | 7.5 |" in rows[0]
    assert rows[1].startswith("| fast INT8 | 15 | 30 | 28.0 | 0.890 | 0.590 |")


def test_table_lists_the_label_audit(tmp_path: Path) -> None:
    figures = {
        "preset": "accurate",
        "budget_minutes": 15,
        "test_map50": 0.91,
        "test_map": 0.6,
        "label_audit": {
            "min_score": 0.5,
            "max_iou": 0.3,
            "candidates_by_class": {"Platelets": 22, "RBC": 329, "WBC": 3},
            "labelled_by_class": {"Platelets": 69, "RBC": 805, "WBC": 71},
            "without_candidates": {
                "map50": 0.979,
                "map": 0.623,
                "ap50_per_class": {"Platelets": 0.981, "RBC": 0.962, "WBC": 0.995},
            },
            "sheet": "bench-results/accurate-15min/label-audit.png",
        },
    }
    (tmp_path / "accurate-15min.json").write_text(json.dumps(figures))
    text = write_table(tmp_path).read_text()
    assert "## Label audit" in text
    assert (
        "| accurate | 15 | 22 (69) / 329 (805) / 3 (71) | 0.979 | 0.623 "
        "| 0.981 / 0.962 / 0.995 | bench-results/accurate-15min/label-audit.png |"
    ) in text
    (tmp_path / "accurate-15min.json").write_text(json.dumps({**figures, "label_audit": None}))
    assert "Label audit" not in write_table(tmp_path).read_text()


def test_table_shows_the_cpu_share_and_a_section_per_data_set(tmp_path: Path) -> None:
    ours = {
        "dataset": "rabbit",
        "preset": "fast",
        "budget_minutes": 30,
        "budget_clock": "cpu",
        "epochs": 12,
        "seconds_per_epoch": 40.0,
        "test_map50": 0.7,
        "test_map": 0.4,
        "test_ap50_per_class": {"rabbit": 0.7},
        "wall_seconds": 1200.0,
        "cpu_seconds": 1800.0,
        "cpu_share": 0.75,
        "load_average_start": [1.5, 1.2, 1.0],
        "load_average_end": [2.25, 1.9, 1.3],
    }
    (tmp_path / "rabbit-fast-cpu30min.json").write_text(json.dumps(ours))
    bccd = {"preset": "fast", "budget_minutes": 15, "test_map50": 0.9, "test_map": 0.6}
    (tmp_path / "fast-15min.json").write_text(json.dumps(bccd))  # no "dataset": BCCD's
    text = write_table(tmp_path).read_text()
    bccd_part, rabbit_part = text.split("## rabbit-roboflow")
    assert "## BCCD" in bccd_part and "| fast | 15 |" in bccd_part
    assert "| CPU share |" in bccd_part and "| CPU share |" in rabbit_part
    assert "| AP@0.5 rabbit |" in rabbit_part
    [row] = [line for line in rabbit_part.splitlines() if line.startswith("| fast")]
    assert row.startswith("| fast | 30 CPU | 12 | 40.0 | 0.700 | 0.400 | 0.700 |")
    assert row.endswith("| 1200 | 1800 | 0.75 | 1.50 / 2.25 |")
