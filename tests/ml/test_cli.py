"""``python -m training.ml``: happy paths in-process, error paths as one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.ml import checkpoint as ckpt
from training.ml.__main__ import main
from training.ml.engine import TrainResult

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_evaluate_export_predict(
    trained: TrainResult, synthetic: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    coco, images = synthetic
    report = tmp_path / "report.json"
    code, out, _ = _run(
        ["evaluate", "--checkpoint", str(trained.best_checkpoint), "--coco", str(coco),
         "--images", str(images), "--out", str(report)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert json.loads(report.read_text())["num_images"] == 12
    assert set(json.loads(out)) == {"report", "metrics", "recommended_threshold"}

    model = tmp_path / "model.onnx"
    code, out, _ = _run(
        ["export", "--checkpoint", str(trained.best_checkpoint), "--out", str(model),
         "--images", str(images), "--threshold", "0.1"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert model.is_file()
    assert json.loads(out)["metadata"]["class_names"] == ["red", "blue"]

    picture = images / "img_001.png"
    code, out, _ = _run(["predict", "--model", str(model), str(picture)], capsys)
    assert code == 0
    [result] = json.loads(out)
    assert result["image"] == str(picture)
    assert result["width"] == 128
    assert all(d["score"] >= 0.1 for d in result["detections"])


def test_train_command(synthetic: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    code, out, err = _run(
        ["train", "--coco", str(synthetic[0]), "--images", str(synthetic[1]), "--out",
         str(tmp_path), "--epochs", "1", "--image-size", "64", "--no-pretrained",
         "--threads", "1", "--cache-mb", "1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "completed"
    assert result["epochs_completed"] == 1
    assert Path(result["best_checkpoint"]).is_file()
    assert ckpt.load(result["last_checkpoint"])["config"]["cache_max_megabytes"] == 1


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        ([], 2, "required: command"),
        (["train", "--coco", "x.json"], 2, "required: --images, --out"),
        (["train", "--coco", "x", "--images", "y", "--out", "z", "--epochs", "0"], 2, "positive"),
        (["train", "--coco", "x", "--images", "y", "--out", "z", "--preset", "big"],
         2, "invalid choice"),
        (["train", "--coco", "missing.json", "--images", ".", "--out", "z"],
         1, "COCO file not found"),
        (["evaluate", "--checkpoint", "no.pt", "--coco", "x", "--images", "y", "--out", "r.json"],
         1, "checkpoint not found"),
        (["predict", "--model", "no.onnx", "missing.png"], 1, "image not found"),
    ],
)  # fmt: skip
def test_bad_arguments_give_one_line(
    argv: list[str], code: int, message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(argv, capsys)
    assert status == code
    assert message in _error_line(err)


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(images=[], annotations=[]), "no images"),
        (lambda c: c["images"][0].update(file_name="gone.png"), "image not found"),
        (lambda c: c["categories"].append({"id": 5, "name": "green"}), "'green' has no boxes"),
        (lambda c: c.pop("categories"), "no categories"),
    ],
)
def test_bad_data_gives_one_line(
    change, message: str, synthetic: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    coco = json.loads(synthetic[0].read_text())
    change(coco)
    bad = _write(tmp_path / "bad.json", coco)
    status, _, err = _run(
        ["train", "--coco", str(bad), "--images", str(synthetic[1]), "--out", str(tmp_path / "o"),
         "--no-pretrained", "--image-size", "64"],
        capsys,
    )  # fmt: skip
    assert status == 1
    assert message in _error_line(err)


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training.ml", "export", "--checkpoint", str(tmp_path / "x.pt"),
         "--out", str(tmp_path / "m.onnx")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: checkpoint not found: {tmp_path / 'x.pt'}"]


def test_train_exits_within_its_time_budget(long_epochs: tuple[Path, Path], tmp_path: Path) -> None:
    """The budget is the whole process's: imports, decoding, training and validation."""
    budget_minutes = 0.2  # 12 s, shorter than one epoch of this data
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "training.ml", "train", "--coco", str(long_epochs[0]),
         "--images", str(long_epochs[1]), "--out", str(tmp_path), "--image-size", "128",
         "--no-pretrained", "--threads", "1", "--time-budget", str(budget_minutes)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "time_budget"
    assert Path(result["best_checkpoint"]).is_file()
    assert wall < budget_minutes * 60 + 15
    assert result["elapsed_seconds"] > budget_minutes * 60 * 0.6  # no budget left unused
