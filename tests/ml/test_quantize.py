from __future__ import annotations

from pathlib import Path

import onnx

from training.ml.data import CocoDetection
from training.ml.engine import TrainResult
from training.ml.export import export_onnx, read_metadata
from training.ml.quantize import evaluate_onnx, quantize_int8


def test_int8_variant_keeps_metadata_and_is_evaluated(
    trained: TrainResult, synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    coco, images = synthetic
    dataset = CocoDetection(coco, images)
    fp32 = export_onnx(trained.best_checkpoint, tmp_path / "model.onnx",
                       images=[dataset.load_image(i) for i in range(2)])  # fmt: skip
    calibration = [dataset.load_image(i).permute(1, 2, 0).numpy() for i in range(4)]
    int8 = quantize_int8(fp32["path"], tmp_path / "model-int8.onnx", calibration)
    ops = {node.op_type for node in onnx.load(int8["path"]).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert int8["excluded"]  # the head's predictor stays in float
    meta = read_metadata(int8["path"])
    assert meta["class_names"] == ["red", "blue"]
    assert meta["quantization"].startswith("int8")
    report = evaluate_onnx(int8["path"], coco, images)
    assert report["num_images"] == 12
    assert 0.0 <= report["metrics"]["map50"] <= 1.0
