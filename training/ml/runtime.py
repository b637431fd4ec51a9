"""Run an exported ONNX detector with ONNX Runtime (numpy and Pillow, no torch).

This is what a deployment needs: the model file carries its classes and default
threshold in its metadata, and takes uint8 images as they come. The studio's web
server and workers use the plain functions below (``load_session``, ``image_input``,
``detect``, ``detections_filter``, ``uncertainty``): pre- and post-processing are
vectorised numpy, and nothing here imports torch, so a web process stays small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from training.ml.errors import DatasetError, EngineError


def session_options(threads: int = 0) -> Any:
    """ONNX Runtime options for a CPU shared with other work.

    Intra-op threads do not spin-wait between operators: on this project's 2-core
    machine, shared with test suites, the fast preset took a median 28.7 ms per image
    with 2 spinning threads against 9.6-14.6 ms without spinning (14.2 ms on 1 thread).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxDetector:
    """An exported model ready to run; ``threshold`` defaults to the model's own."""

    def __init__(
        self, model_path: str | Path, *, threshold: float | None = None, threads: int = 0
    ) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise EngineError(f"model file not found: {path}")
        options = session_options(threads)
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise EngineError(f"cannot load ONNX model {path}: {exc}") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        if "class_names" not in meta:
            raise EngineError(f"{path} was not exported by detection-studio (no class_names)")
        self.class_names: list[str] = json.loads(meta["class_names"])
        self.category_ids: list[int] = json.loads(meta.get("category_ids", "[]"))
        self.threshold = float(meta.get("score_threshold", 0.3)) if threshold is None else threshold

    def detect(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Detections of one uint8 RGB ``(H, W, 3)`` image above the threshold."""
        batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
        boxes, scores, labels, _ = self.session.run(None, {"images": batch})
        detections = []
        for box, score, label in zip(boxes, scores, labels, strict=True):
            if score < self.threshold:
                continue
            detection = {
                "label": self.class_names[int(label)],
                "score": round(float(score), 5),
                "box": [round(float(v), 2) for v in box],
            }
            if self.category_ids:
                detection["category_id"] = self.category_ids[int(label)]
            detections.append(detection)
        return detections


def read_rgb(path: str | Path) -> np.ndarray:
    """A uint8 RGB ``(H, W, 3)`` array of an image file, or a DatasetError."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def predict_files(
    model_path: str | Path, images: list[str | Path], *, threshold: float | None = None
) -> list[dict[str, Any]]:
    """Run a model over image files; one ``{"image", "width", "height", "detections"}`` each."""
    detector = OnnxDetector(model_path, threshold=threshold)
    results = []
    for path in images:
        pixels = read_rgb(path)
        results.append(
            {
                "image": str(path),
                "width": int(pixels.shape[1]),
                "height": int(pixels.shape[0]),
                "detections": detector.detect(pixels),
            }
        )
    return results


# --- Plain functions of the studio's prediction API and pre-labeling -------------------------

OUTPUTS = ("boxes", "scores", "labels", "batch_index")


def load_session(model: bytes | str | Path, *, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session of an exported model (bytes or a path); EngineError if
    it cannot be loaded."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(
            source, session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise EngineError(f"cannot load the ONNX model: {exc}") from exc


def model_metadata(session: Any) -> dict[str, Any]:
    """The studio metadata of a session's model, JSON values decoded."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if "class_names" not in meta:
        raise EngineError("the model was not exported by detection-studio (no class_names)")
    for key in ("class_names", "category_ids"):
        meta[key] = json.loads(meta.get(key, "[]"))
    return meta


def image_input(image: np.ndarray) -> np.ndarray:
    """A uint8 RGB ``(H, W, 3)`` image as the model's ``images`` input ``(1, 3, H, W)``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise EngineError(f"expected a uint8 (H, W, 3) RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None])


def detect(session: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every detection the graph keeps for one image: ``boxes (N, 4)`` x1, y1, x2, y2 in
    the image's pixels, ``scores (N,)`` (decreasing) and ``labels (N,)`` class indices."""
    boxes, scores, labels, _ = session.run(list(OUTPUTS), {"images": image_input(image)})
    return boxes.astype(np.float32, copy=False), scores, labels.astype(np.int64, copy=False)


def class_thresholds(
    class_names: list[str], default: float, overrides: dict[str, float] | None = None
) -> np.ndarray:
    """One threshold per class index: ``default``, or the class's own override."""
    overrides = overrides or {}
    return np.array([float(overrides.get(name, default)) for name in class_names], np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by class-wise greedy non-maximum suppression, by decreasing score.

    The pairwise IoU matrix is computed at once; the greedy pass walks the boxes in score
    order, each step one vector operation (a graph keeps at most a few hundred boxes)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    x1, y1, x2, y2 = b[:, 0:1], b[:, 1:2], b[:, 2:3], b[:, 3:4]
    inter_w = np.clip(np.minimum(x2, x2.T) - np.maximum(x1, x1.T), 0, None)
    inter_h = np.clip(np.minimum(y2, y2.T) - np.maximum(y1, y1.T), 0, None)
    inter = inter_w * inter_h
    area = (x2 - x1) * (y2 - y1)
    overlap = inter / np.maximum(area + area.T - inter, 1e-9)
    overlap *= labels[order][:, None] == labels[order][None, :]
    suppressed = np.zeros(len(b), bool)
    for i in range(len(b)):
        if not suppressed[i]:
            suppressed[i + 1 :] |= overlap[i, i + 1 :] > iou
    return order[~suppressed]


def detections_filter(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    thresholds: np.ndarray,
    width: int,
    height: int,
    keep_classes: np.ndarray | None = None,
    iou: float | None = None,
    max_detections: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections to report: at or above their class's threshold, of the kept classes,
    optionally through a stricter NMS (``iou``), at most ``max_detections``, by decreasing
    score, boxes clipped to the ``width`` x ``height`` image."""
    keep = scores >= thresholds[labels]
    if keep_classes is not None:
        keep &= keep_classes[labels]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if iou is not None:
        order = nms(boxes, scores, labels, iou)
    else:
        order = np.argsort(-scores, kind="stable")
    if max_detections is not None:
        order = order[:max_detections]
    boxes = boxes[order].copy()
    np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    return boxes, scores[order], labels[order]


def closeness(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How near each score is to its threshold: 1 at the threshold, falling linearly to 0
    at a score of 0 (below it) or of 1 (above it)."""
    t = np.clip(thresholds.astype(np.float64), 1e-6, 1 - 1e-6)
    s = scores.astype(np.float64)
    distance = np.where(s < t, (t - s) / t, (s - t) / (1 - t))
    return np.clip(1.0 - distance, 0.0, 1.0)


def uncertainty(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    """How unsure the model is about one image, from all the detections the graph kept.

    ``uncertainty`` is the mean closeness to their class threshold of the detections that
    score at least half of it, weighted by score: 1 when they all sit at the threshold,
    near 0 when they are all confident, 0 when nothing scores that high (no sign of
    doubt to go on). Not the largest closeness: among the graph's up to 100 candidates
    (down to a score of 0.05) one nearly always lands on the threshold, which made every
    image read 1.00. ``borderline`` counts the detections with a closeness of at least
    0.5. "Label next most useful" sorts images by uncertainty, then borderline, both
    decreasing.
    """
    if len(scores) == 0:
        return {"uncertainty": 0.0, "borderline": 0, "max_score": 0.0}
    own = thresholds[labels]
    near = closeness(scores, own)
    weights = np.where(scores >= own / 2, scores.astype(np.float64), 0.0)
    total = weights.sum()
    return {
        "uncertainty": round(float((near * weights).sum() / total), 6) if total > 0 else 0.0,
        "borderline": int((near >= 0.5).sum()),
        "max_score": float(scores.max()),
    }
