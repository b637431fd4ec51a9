"""INT8 variant of an exported model, and the mAP of any exported model.

:func:`quantize_int8` statically quantizes the convolutions of a verified FP32
export (QDQ format, per-channel int8 weights, uint8 activations calibrated on real
images); pre-processing, box decoding and NMS stay in float. The file keeps the
FP32 model's metadata plus ``quantization``. Its accuracy is not guaranteed by a
parity check (INT8 is not meant to match FP32 within 1e-3): measure it with
:func:`evaluate_onnx` and keep it only if its mAP is close enough.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from training.ml.data import CocoDetection

logger = logging.getLogger(__name__)


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration_images: list[np.ndarray],
    *,
    exclude_predictor: bool = True,
) -> dict[str, Any]:
    """Write the INT8 variant of ``fp32_path`` to ``out_path``.

    ``calibration_images`` are uint8 RGB ``(H, W, 3)`` arrays (a few dozen training
    images). ``exclude_predictor`` keeps the head's last convolution in float (the
    scores and box offsets are what quantization errors hurt most).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[dict[str, np.ndarray]] = (
                {"images": np.ascontiguousarray(image.transpose(2, 0, 1)[None])}
                for image in calibration_images
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    model = onnx.load(str(fp32_path))
    excluded = [
        node.name
        for node in model.graph.node
        if node.op_type == "Conv" and exclude_predictor and "predictor" in node.name
    ]
    out = Path(out_path)
    quantize_static(
        str(fp32_path),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["Conv"],
        nodes_to_exclude=excluded,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    for entry in model.metadata_props:
        quantized.metadata_props.add(key=entry.key, value=entry.value)
    note = "int8 static QDQ: convolutions (per-channel weights), float pre/post-processing"
    quantized.metadata_props.add(key="quantization", value=note)
    onnx.save(quantized, str(out))
    logger.info("wrote INT8 variant %s (%d bytes)", out, out.stat().st_size)
    return {"path": str(out), "size_bytes": out.stat().st_size, "excluded": excluded}


def onnx_predictions(
    model_path: str | Path, dataset: CocoDetection, *, threads: int = 1
) -> list[dict[str, Any]]:
    """Run an exported model (ONNX Runtime) over ``dataset``, every detection kept.

    Returns the prediction dicts :func:`training.ml.evaluate.evaluate_predictions` takes.
    """
    import onnxruntime as ort

    from training.ml.runtime import session_options

    session = ort.InferenceSession(
        str(model_path), session_options(threads), providers=["CPUExecutionProvider"]
    )
    results = []
    for index in range(len(dataset)):
        image = dataset.load_image(index).numpy()[None]
        boxes, scores, labels, _ = session.run(None, {"images": image})
        results.append(
            {
                "image_id": int(dataset.images[index]["id"]),
                "boxes": boxes.tolist(),
                "scores": scores.tolist(),
                "category_ids": [dataset.category_ids[int(label)] for label in labels],
            }
        )
    return results


def evaluate_onnx(
    model_path: str | Path,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path,
    *,
    threads: int = 1,
) -> dict[str, Any]:
    """The evaluation report (:mod:`training.ml.evaluate`) of an exported model."""
    from training.ml.evaluate import evaluate_predictions

    dataset = CocoDetection(coco, images_dir, cache=False)
    return evaluate_predictions(
        dataset.coco, onnx_predictions(model_path, dataset, threads=threads)
    )
