"""Running model versions inside the studio: cached ONNX Runtime sessions, predictions.

Sessions are loaded once per model version and kept in a process-wide LRU cache keyed by
the model version's id and the sha256 of its ONNX file: a model whose file changed is
loaded again (its old session dropped at once), and the least recently used sessions
are evicted beyond ``STUDIO_INFERENCE_CACHE_MODELS`` models or
``STUDIO_INFERENCE_CACHE_MB`` megabytes of ONNX files (a session takes about the size of
its file). The cache is thread-safe: a model is loaded by one thread while the others
wait for it (other models stay available), and ONNX Runtime sessions run concurrently.

Thresholds are read from the model version row at every call (the saved threshold, or
the per-class ``class_thresholds``), so changing them needs no reload. Decoding, the
network and the filtering are plain functions of ``training.ml.runtime`` (numpy only).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling import ingest
from labeling.models import Category
from training.ml import runtime
from training.ml.errors import EngineError
from training.models import DatasetVersion, ModelVersion

logger = logging.getLogger(__name__)


class PredictError(Exception):
    """A refusal with its HTTP status (always 4xx) and a message for the client."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class ModelNotReady(PredictError):
    status = 409


@dataclass
class LoadedModel:
    key: tuple[int, str]  # (model version id, onnx sha256)
    session: Any
    class_names: list[str]
    category_ids: list[int]  # the COCO ids of the dataset version, by class index
    nms_iou: float
    max_detections: int
    graph_score_threshold: float
    input_size: int
    nbytes: int
    studio_ids: list[int | None] | None = field(default=None, repr=False)


class SessionCache:
    """LRU cache of loaded models, bounded by count and bytes; thread-safe."""

    def __init__(self, *, max_models: int, max_bytes: int, loader=None) -> None:
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._loader = loader or model_load
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, LoadedModel] = OrderedDict()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self.loads = 0

    def get(self, model: ModelVersion) -> LoadedModel:
        key = (model.pk, model.onnx_sha256)
        with self._lock:
            entry = self._cached(key)
            if entry is not None:
                return entry
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                entry = self._cached(key)
                if entry is not None:
                    return entry
            try:
                entry = self._loader(model)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self._entries[model.pk] = entry
                self.loads += 1
                self._evict(keep=model.pk)
        return entry

    def _cached(self, key: tuple[int, str]) -> LoadedModel | None:
        entry = self._entries.get(key[0])
        if entry is None:
            return None
        if entry.key != key:  # the model's file changed: drop its old session
            del self._entries[key[0]]
            return None
        self._entries.move_to_end(key[0])
        return entry

    def _evict(self, *, keep: int) -> None:
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_models
            or sum(e.nbytes for e in self._entries.values()) > self.max_bytes
        ):
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            logger.info("inference cache: evicting model %s", oldest)
            del self._entries[oldest]

    def evict(self, model_id: int) -> None:
        with self._lock:
            self._entries.pop(model_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def cached_ids(self) -> list[int]:
        with self._lock:
            return list(self._entries)


def model_load(model: ModelVersion) -> LoadedModel:
    """Read a model version's ONNX file from the media storage, check it and load it."""
    not_ready = f"Model v{model.version} is not ready"
    if not model.onnx_file:
        raise ModelNotReady(f"{not_ready}: it has no ONNX file.")
    try:
        with default_storage.open(model.onnx_file, "rb") as handle:
            data = handle.read()
    except OSError:
        raise ModelNotReady(f"{not_ready}: its ONNX file is missing.") from None
    if model.onnx_sha256 and hashlib.sha256(data).hexdigest() != model.onnx_sha256:
        raise ModelNotReady(f"{not_ready}: its ONNX file does not match its sha256.")
    try:
        session = runtime.load_session(data, threads=settings.STUDIO_INFERENCE_THREADS)
        meta = runtime.model_metadata(session)
    except EngineError as exc:
        raise ModelNotReady(f"{not_ready}: {exc}.") from None
    outputs = {o.name for o in session.get_outputs()}
    if {i.name for i in session.get_inputs()} != {"images"} or not set(runtime.OUTPUTS) <= outputs:
        raise ModelNotReady(f"{not_ready}: its ONNX file is not a studio detector.")
    logger.info("inference: loaded model %s (v%s, %d bytes)", model.pk, model.version, len(data))
    return LoadedModel(
        key=(model.pk, model.onnx_sha256),
        session=session,
        class_names=list(meta["class_names"]),
        category_ids=list(meta["category_ids"]),
        nms_iou=float(meta.get("nms_iou", 0.6)),
        max_detections=int(meta.get("max_detections", 100)),
        graph_score_threshold=float(meta.get("graph_score_threshold", 0.05)),
        input_size=int(meta.get("input_size", 0) or 0),
        nbytes=len(data),
    )


_cache: SessionCache | None = None
_cache_lock = threading.Lock()


def session_cache() -> SessionCache:
    """The process's cache, sized by the settings."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = SessionCache(
                max_models=settings.STUDIO_INFERENCE_CACHE_MODELS,
                max_bytes=settings.STUDIO_INFERENCE_CACHE_MB * 1024 * 1024,
            )
        return _cache


def model_loaded(model: ModelVersion) -> LoadedModel:
    return session_cache().get(model)


# --- Classes ------------------------------------------------------------------------------


def model_category_ids(model: ModelVersion, loaded: LoadedModel) -> list[int | None]:
    """The project's class (Category id) of each model class, None when it has none.

    The class the model was trained on (recorded in its dataset version) when it still
    exists, else the project's class of the same name (a renamed class keeps its boxes'
    id; a model trained elsewhere matches by name).
    """
    names = dict(Category.objects.filter(project_id=model.project_id).values_list("name", "id"))
    existing = set(names.values())
    if loaded.studio_ids is None:
        loaded.studio_ids = _studio_ids(model, loaded)
    result: list[int | None] = []
    for index, name in enumerate(loaded.class_names):
        studio_id = loaded.studio_ids[index] if index < len(loaded.studio_ids) else None
        result.append(studio_id if studio_id in existing else names.get(name))
    return result


def _studio_ids(model: ModelVersion, loaded: LoadedModel) -> list[int | None]:
    from training.datasets import dataset_version_coco

    try:
        version = DatasetVersion.objects.get(runs__model_version=model)
        coco = dataset_version_coco(version)
    except (DatasetVersion.DoesNotExist, OSError, ValueError):
        return [None] * len(loaded.class_names)
    by_coco_id = {c["id"]: c.get("studio_id") for c in coco.get("categories", [])}
    return [by_coco_id.get(coco_id) for coco_id in loaded.category_ids]


def thresholds_for(
    model: ModelVersion, loaded: LoadedModel, threshold: float | None = None
) -> np.ndarray:
    """Per-class thresholds: ``threshold`` for every class when given, else the model's
    saved threshold with its per-class overrides."""
    if threshold is not None:
        return runtime.class_thresholds(loaded.class_names, threshold)
    return runtime.class_thresholds(loaded.class_names, model.threshold, model.class_thresholds)


# --- Predictions --------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictOptions:
    threshold: float | None = None  # None: the model's saved thresholds
    iou: float | None = None  # None: the NMS IoU of the export
    classes: tuple[str, ...] = ()  # () for every class
    max_detections: int | None = None


# The graph resizes in float32: a picture of this many pixels takes about 200 MB there.
# Larger ones are first shrunk by a whole factor (a box filter), boxes scaled back.
MAX_GRAPH_PIXELS = 4096 * 4096


def image_detect(loaded: LoadedModel, pixels: np.ndarray):
    """Every detection the graph keeps for a uint8 RGB image, in its pixels."""
    height, width = pixels.shape[:2]
    factor = math.ceil(math.sqrt(height * width / MAX_GRAPH_PIXELS))
    if factor <= 1:
        return runtime.detect(loaded.session, pixels)
    small = np.asarray(PILImage.fromarray(pixels).reduce(factor))
    boxes, scores, labels = runtime.detect(loaded.session, small)
    sx, sy = width / small.shape[1], height / small.shape[0]
    return boxes * np.array([sx, sy, sx, sy], np.float32), scores, labels


def image_decode(data: bytes) -> np.ndarray:
    """uint8 RGB pixels of an uploaded image, or PredictError (413 when too large)."""
    try:
        return ingest.image_rgb(data)
    except ingest.Refused as refusal:
        reason = str(refusal)
        status = 413 if ("larger than" in reason or "too many pixels" in reason) else 400
        raise PredictError(f"The image was refused: {reason}.", status) from None


def predict_images(
    *, model: ModelVersion, images: list[tuple[str, bytes]], options: PredictOptions
) -> dict[str, Any]:
    """Detections of each ``(name, file bytes)`` image, in the pixels of that image.

    Every image is decoded first: one bad image refuses the whole call (PredictError
    naming it), before any inference.
    """
    started = time.perf_counter()
    loaded = model_loaded(model)
    unknown = [name for name in options.classes if name not in loaded.class_names]
    if unknown:
        raise PredictError(
            f"Unknown class {unknown[0]!r}: the model's classes are "
            f"{', '.join(loaded.class_names)}."
        )
    decoded = []
    for name, data in images:
        start = time.perf_counter()
        try:
            pixels = image_decode(data)
        except PredictError as error:
            raise PredictError(f"{name}: {error}", error.status) from None
        decoded.append((name, pixels, (time.perf_counter() - start) * 1000))
    thresholds = thresholds_for(model, loaded, options.threshold)
    keep = None
    if options.classes:
        keep = np.array([n in options.classes for n in loaded.class_names], bool)
    iou = options.iou if options.iou is not None and options.iou < loaded.nms_iou else None
    max_det = min(options.max_detections or loaded.max_detections, loaded.max_detections)
    categories = model_category_ids(model, loaded)
    results = []
    for name, pixels, decode_ms in decoded:
        height, width = pixels.shape[:2]
        start = time.perf_counter()
        boxes, scores, labels = image_detect(loaded, pixels)
        inferred = time.perf_counter()
        boxes, scores, labels = runtime.detections_filter(
            boxes, scores, labels, thresholds=thresholds, width=width, height=height,
            keep_classes=keep, iou=iou, max_detections=max_det,
        )  # fmt: skip
        detections = [
            {
                "x_min": round(float(b[0]), 2),
                "y_min": round(float(b[1]), 2),
                "x_max": round(float(b[2]), 2),
                "y_max": round(float(b[3]), 2),
                "class_id": int(label),
                "class_name": loaded.class_names[label],
                "category_id": categories[label],
                "score": round(float(score), 5),
            }
            for b, score, label in zip(
                boxes.tolist(), scores.tolist(), labels.tolist(), strict=True
            )
        ]
        done = time.perf_counter()
        results.append(
            {
                "file": name,
                "width": width,
                "height": height,
                "detections": detections,
                "timing_ms": {
                    "decode": round(decode_ms, 2),
                    "inference": round((inferred - start) * 1000, 2),
                    "postprocess": round((done - inferred) * 1000, 2),
                },
            }
        )
    return {
        "model": {"id": model.pk, "version": model.version, "project": model.project_id},
        "threshold": options.threshold,
        "class_thresholds": {
            name: round(value, 6)
            for name, value in zip(loaded.class_names, thresholds.tolist(), strict=True)
        },
        "iou": min(options.iou, loaded.nms_iou) if options.iou is not None else loaded.nms_iou,
        "max_detections": max_det,
        "results": results,
        "timing_ms": {"total": round((time.perf_counter() - started) * 1000, 2)},
    }
