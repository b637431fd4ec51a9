"""ONNX export of a trained detector, verified against PyTorch at every export.

The graph is :class:`training.ml.predict.InferenceModel`: input ``images`` uint8
``(batch, 3, height, width)`` RGB of any size (resized and normalised inside); outputs
``boxes`` ``(N, 4)`` XYXY in input pixels, ``scores`` ``(N,)``, ``labels`` ``(N,)``
(index into the ``class_names`` metadata) and ``batch_index`` ``(N,)``. Everything a
client needs is in ``metadata_props`` (read it back with :func:`read_metadata`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from training.ml import checkpoint as ckpt
from training.ml.errors import Cancelled, ConfigError, ExportCheckFailed
from training.ml.predict import InferenceModel

logger = logging.getLogger(__name__)

OUTPUTS = ("boxes", "scores", "labels", "batch_index")
BOX_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 1e-3
# NMS is discontinuous: two boxes whose overlap sits on the NMS IoU threshold may be kept
# by one runtime and suppressed by the other after a 1e-6 difference in coordinates.
NMS_IOU_MARGIN = 0.02
MAX_EXCUSED, MAX_EXCUSED_SHARE = 4, 0.02  # NMS ties excused per export, at most
JSON_KEYS = (
    "class_names", "category_ids", "normalization", "versions", "outputs", "class_thresholds",
)  # fmt: skip


def sample_images(count: int = 4, seed: int = 0) -> list[torch.Tensor]:
    """Deterministic uint8 test images (noise with bright and dark blocks) of two sizes."""
    generator = torch.Generator().manual_seed(seed)
    images = []
    for i in range(count):
        height, width = (240, 320) if i % 2 == 0 else (300, 200)
        image = torch.randint(60, 200, (3, height, width), generator=generator, dtype=torch.uint8)
        image[:, height // 4 : height // 2, width // 4 : width // 2] = 230 - 40 * i
        images.append(image)
    return images


def export_onnx(
    checkpoint: str | Path | dict[str, Any],
    out_path: str | Path,
    *,
    images: list[torch.Tensor] | None = None,
    opset: int = 17,
    score_threshold: float = 0.3,
    graph_score_threshold: float = 0.05,
    nms_iou: float = 0.6,
    max_detections: int = 100,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Export, check with ``onnx.checker``, verify parity with onnxruntime, then publish.

    ``images`` (uint8 ``(3, H, W)`` tensors) are the parity test images; deterministic
    synthetic ones are used if none are given. ``score_threshold`` is the default a
    client should apply (recorded in the metadata); the graph itself keeps every
    detection above ``graph_score_threshold``. The file at ``out_path`` only appears
    when every check passed. Returns the metadata and the parity figures.
    ``should_stop`` is asked after the trace, after the check and before every parity
    batch; raises Cancelled (and publishes nothing) when it says so.
    """
    if opset < 17:
        raise ConfigError(f"ONNX opset must be 17 or newer (got {opset})")
    state = checkpoint if isinstance(checkpoint, dict) else ckpt.load(checkpoint)
    model, config = ckpt.model_from_checkpoint(state)
    wrapper = InferenceModel(
        model,
        config.input_size,
        score_threshold=graph_score_threshold,
        nms_iou=nms_iou,
        max_detections=max_detections,
    ).eval()
    metadata = {
        "format": "detection-studio/onnx-v1",
        "class_names": list(state["class_names"]),
        "category_ids": list(state["category_ids"]),
        "input_size": str(config.input_size),
        "input": "images: uint8 RGB (batch, 3, height, width), any size; resized inside",
        "normalization": {
            "scale": 1 / 255,
            "mean": list(model.transform.image_mean),
            "std": list(model.transform.image_std),
            "resize": "bilinear, align_corners=False, no antialias, stretched to a square",
        },
        "outputs": {
            "boxes": "(N, 4) float32 x1, y1, x2, y2 in input pixels",
            "scores": "(N,) float32",
            "labels": "(N,) int64 index into class_names",
            "batch_index": "(N,) int64 image of the batch",
        },
        "score_threshold": str(score_threshold),
        "graph_score_threshold": str(graph_score_threshold),
        "nms_iou": str(nms_iou),
        "max_detections": str(max_detections),
        "preset": config.preset,
        "opset": str(opset),
        "versions": {**ckpt.versions(), "onnx": onnx.__version__},
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _trace_to_onnx(wrapper, tmp, opset)
        _stop_if(should_stop, "after the ONNX trace")
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key = key
            entry.value = json.dumps(value) if key in JSON_KEYS else str(value)
        proto.producer_name = "detection-studio"
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
        _stop_if(should_stop, "after the ONNX check")
        samples = images if images is not None else sample_images()
        parity = check_parity(wrapper, tmp, samples, should_stop=should_stop)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("exported %s (%d bytes), parity %s", out, out.stat().st_size, parity)
    return {
        "path": str(out),
        "size_bytes": out.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "metadata": read_metadata(out),
        "parity": parity,
    }


def onnx_latency_ms(
    model_path: str | Path,
    image: np.ndarray,
    *,
    threads: int = 0,
    runs: int = 20,
    warmup: int = 3,
    provider: str = "CPUExecutionProvider",
) -> float:
    """Median ONNX Runtime latency (ms) of one uint8 ``(H, W, 3)`` image, after warm-up.

    The session is the one deployments get (:func:`training.ml.runtime.session_options`:
    threads that do not spin-wait); ``threads=0`` lets ONNX Runtime choose.
    """
    import statistics
    import time

    import onnxruntime as ort

    from training.ml.runtime import session_options

    session = ort.InferenceSession(str(model_path), session_options(threads), providers=[provider])
    batch = {"images": np.ascontiguousarray(image.transpose(2, 0, 1)[None])}
    for _ in range(warmup):
        session.run(None, batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure_latency(model_path: str | Path, image: np.ndarray, *, runs: int = 20) -> dict[str, Any]:
    """Latency of the exported model on this machine's CPU (and GPU, when ONNX Runtime
    has CUDA): median of ``runs`` runs on one uint8 ``(H, W, 3)`` image, batch 1."""
    import onnxruntime as ort

    threads = max(1, torch.get_num_threads())
    result: dict[str, Any] = {
        "cpu_ms": round(onnx_latency_ms(model_path, image, threads=threads, runs=runs), 2),
        "cpu_threads": threads,
        "gpu_ms": None,
        "runs": runs,
        "image_size": [int(image.shape[1]), int(image.shape[0])],
    }
    if "CUDAExecutionProvider" in ort.get_available_providers():
        try:
            result["gpu_ms"] = round(
                onnx_latency_ms(model_path, image, runs=runs, provider="CUDAExecutionProvider"), 2
            )
            result["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CUDA"
        except Exception as exc:  # noqa: BLE001 - a broken CUDA set-up only loses a figure
            logger.warning("GPU latency not measured: %s", exc)
    return result


def _trace_to_onnx(wrapper: InferenceModel, path: Path, opset: int) -> None:
    example = torch.zeros(1, 3, wrapper.image_size, wrapper.image_size, dtype=torch.uint8)
    dynamic = {"images": {0: "batch", 2: "height", 3: "width"}}
    dynamic.update({name: {0: "detections"} for name in OUTPUTS})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: the dynamo one fails on batched_nms (torch 2.14).
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["images"],
            output_names=list(OUTPUTS),
            dynamic_axes=dynamic,
        )


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata_props`` of an exported model, JSON values decoded."""
    proto = onnx.load(str(path), load_external_data=False)
    data: dict[str, Any] = {}
    for entry in proto.metadata_props:
        data[entry.key] = json.loads(entry.value) if entry.key in JSON_KEYS else entry.value
    return data


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def _unmatched(
    reference: list[np.ndarray],
    other: list[np.ndarray],
    min_score: float,
    max_detections: int,
    nms_iou: float | None = None,
) -> tuple[int, float, float]:
    """Count confident ``reference`` detections with no counterpart in ``other``.

    When an image has ``max_detections`` detections, the ones tied (within the score
    tolerance) with its lowest kept score may legitimately be swapped for other tied
    ones at the cut, so they are not required to match. Likewise a detection that
    overlaps a same-class detection of ``other`` by an IoU within NMS_IOU_MARGIN of
    ``nms_iou`` sits on NMS's knife edge and is not required to match, and so does one
    that overlaps a same-class detection of ``other`` by more than ``nms_iou`` with a
    score equal within the tolerance: of two such boxes NMS keeps either, and scores that
    agree to 1e-6 between the runtimes can still order them differently (found in a
    15-minute BCCD run: two WBC boxes scoring 0.2492257 and 0.2492253, IoU 0.71).
    Returns ``(missing, worst box error, worst score error, excused)``.
    """
    boxes, scores, labels, batch = reference
    o_boxes, o_scores, o_labels, o_batch = other
    missing, worst_box, worst_score, excused = 0, 0.0, 0.0, 0
    for i in np.flatnonzero(scores >= min_score):
        image_scores = scores[batch == batch[i]]
        at_cut = len(image_scores) >= max_detections
        if at_cut and scores[i] <= image_scores.min() + SCORE_TOLERANCE:
            continue
        same = (o_batch == batch[i]) & (o_labels == labels[i])
        if not same.any():
            missing += 1
            continue
        box_err = np.abs(o_boxes[same] - boxes[i]).max(axis=1)
        score_err = np.abs(o_scores[same] - scores[i])
        ok = (box_err <= BOX_TOLERANCE_PX) & (score_err <= SCORE_TOLERANCE)
        if not ok.any():
            ious = _iou(boxes[i], o_boxes[same])
            on_nms_edge = nms_iou is not None and bool(
                (np.abs(ious - nms_iou) <= NMS_IOU_MARGIN).any()
            )
            tied_survivor = nms_iou is not None and bool(
                ((ious > nms_iou) & (score_err <= SCORE_TOLERANCE)).any()
            )
            if on_nms_edge or tied_survivor:
                excused += 1
            else:
                missing += 1
            continue
        best = int(np.argmin(np.where(ok, box_err, np.inf)))
        worst_box = max(worst_box, float(box_err[best]))
        worst_score = max(worst_score, float(score_err[best]))
    return missing, worst_box, worst_score, excused


def _stop_if(should_stop: Callable[[], bool] | None, where: str) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled(f"export stopped {where}")


def check_parity(
    wrapper: InferenceModel,
    onnx_path: str | Path,
    images: list[torch.Tensor],
    *,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run PyTorch and onnxruntime on ``images``; raise ExportCheckFailed on a mismatch.

    Every PyTorch detection scoring at least ``graph_score_threshold + 2e-3`` must have
    an onnxruntime detection of the same image and class with the box within 1 px and
    the score within 1e-3, and the other way round (the margin keeps detections that
    sit on the threshold from flipping the check). Images are run one at a time, and
    same-sized ones also as one batch to check the dynamic batch dimension.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    batches = [image.unsqueeze(0) for image in images]
    shapes: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for image in images:
        shapes.setdefault(tuple(image.shape), []).append(image)
    batches += [torch.stack(group) for group in shapes.values() if len(group) > 1]
    min_score = wrapper.score_threshold + 2e-3
    compared, worst_box, worst_score, excused = 0, 0.0, 0.0, 0
    for batch in batches:
        _stop_if(should_stop, "during the parity check")
        with torch.no_grad():
            expected = [t.numpy() for t in wrapper(batch)]
        actual = session.run(list(OUTPUTS), {"images": batch.numpy()})
        for ref, other in ((expected, actual), (actual, expected)):
            missing, box_err, score_err, knife_edge = _unmatched(
                ref, other, min_score, wrapper.max_detections, wrapper.nms_iou
            )
            excused += knife_edge
            if missing:
                raise ExportCheckFailed(
                    f"ONNX Runtime and PyTorch disagree on {missing} detection(s) for a batch "
                    f"of shape {tuple(batch.shape)} (tolerance {BOX_TOLERANCE_PX} px, "
                    f"{SCORE_TOLERANCE})"
                )
            worst_box, worst_score = max(worst_box, box_err), max(worst_score, score_err)
        compared += int((expected[1] >= min_score).sum())
    # Knife-edge cases are rare; many of them mean the two graphs really differ.
    if excused > max(MAX_EXCUSED, compared * MAX_EXCUSED_SHARE):
        raise ExportCheckFailed(
            f"ONNX Runtime and PyTorch disagree on {excused} of {compared} detections, "
            "each on an NMS tie: too many to be ties"
        )
    return {
        "batches": len(batches),
        "detections_compared": compared,
        "max_box_error_px": worst_box,
        "max_score_error": worst_score,
        "nms_ties_excused": excused,
    }
