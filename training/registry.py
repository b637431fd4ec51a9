"""Model versions as users take them away: threshold, production flag, downloads.

The downloaded ONNX file carries the studio's metadata (class names, the saved
threshold, the model and dataset versions, metrics) in ``metadata_props``; the sidecar
JSON holds the same. Nothing here imports torch: onnx is enough.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from training.models import ModelVersion

ARTIFACTS = {
    # name: (file name in the download, content type)
    "onnx": ("model.onnx", "application/octet-stream"),
    "sidecar": ("model.json", "application/json"),
    "labels": ("classes.txt", "text/plain; charset=utf-8"),
    "card": ("MODEL_CARD.md", "text/markdown; charset=utf-8"),
    "checkpoint": ("checkpoint.pt", "application/octet-stream"),
    # model.onnx + model.yaml for Blue Onyx's rt-detrv2 type (training/ml/blueonyx.py)
    "blueonyx": ("blueonyx.zip", "application/zip"),
}
HEADLINE = ("map", "map50", "map75", "map_small", "map_medium", "map_large")


def model_update(
    *,
    model: ModelVersion,
    threshold: float | None = None,
    class_thresholds: dict[str, float] | None = None,
    is_production: bool | None = None,
    name: str | None = None,
    notes: str | None = None,
) -> ModelVersion:
    """Save the chosen confidence threshold (and per-class overrides, which replace the
    previous ones; ``{}`` removes them), make this the production model, and/or set the
    version's name and notes."""
    with transaction.atomic():
        model = ModelVersion.objects.select_for_update().get(pk=model.pk)
        if threshold is not None:
            if not 0 <= threshold <= 1:
                raise ValidationError({"threshold": "The threshold must be between 0 and 1."})
            model.threshold = threshold
        if class_thresholds is not None:
            model.class_thresholds = _checked_class_thresholds(model, class_thresholds)
        if is_production is not None:
            if is_production:
                ModelVersion.objects.filter(project_id=model.project_id).exclude(
                    pk=model.pk
                ).update(is_production=False)
            model.is_production = is_production
        if name is not None:
            model.name = name.strip()
        if notes is not None:
            model.notes = notes.strip()
        model.save(
            update_fields=["threshold", "class_thresholds", "is_production", "name", "notes"]
        )
    return model


class ModelNotDeletable(Exception):
    """Why a model version cannot be deleted now (the message says what to do)."""


def model_delete(*, model: ModelVersion, user) -> None:
    """Delete a model version and, once that is committed, its files (ONNX, checkpoint).
    Not the production version, nor one a pre-label job is still running with. Its
    pending suggestions go with it (decided ones stay: they are the boxes' history), and
    its pre-label jobs. Its number is kept (DeletedModelVersion): no later model takes it."""
    from labeling.models import Project, Suggestion, SuggestionStatus
    from training.models import DeletedModelVersion, PrelabelJob, PrelabelStatus
    from training.prelabel import prelabel_lost

    with transaction.atomic():
        # The project first, then the version: the order pre-label jobs lock them in
        # (training/prelabel.py), so that one asked for meanwhile waits, then is refused.
        Project.objects.select_for_update().filter(pk=model.project_id).first()
        model = ModelVersion.objects.select_for_update().get(pk=model.pk)
        if model.is_production:
            raise ModelNotDeletable(
                f"v{model.version} is the production model: make another version the "
                "production one first."
            )
        active = PrelabelJob.objects.filter(
            model=model, status__in=[PrelabelStatus.QUEUED, PrelabelStatus.RUNNING]
        )
        if any(not prelabel_lost(job) for job in active):  # a lost one goes with the model
            raise ModelNotDeletable(
                f"A pre-label job is using v{model.version}: cancel it or let it finish first."
            )
        files = [name for name in (model.onnx_file, model.checkpoint_file) if name]
        DeletedModelVersion.objects.create(
            project_id=model.project_id, version=model.version, name=model.name, deleted_by=user
        )
        Suggestion.objects.filter(model_id=model.pk, status=SuggestionStatus.PENDING).delete()
        model.delete()
        transaction.on_commit(lambda: _delete_files(files))


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _checked_class_thresholds(model: ModelVersion, values: dict[str, float]) -> dict[str, float]:
    names = set(class_names(model))
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValidationError({"class_thresholds": f"Not classes of this model: {unknown}."})
    if any(not 0 <= float(v) <= 1 for v in values.values()):
        raise ValidationError({"class_thresholds": "Thresholds must be between 0 and 1."})
    return {name: float(value) for name, value in sorted(values.items())}


def class_names(model: ModelVersion) -> list[str]:
    return list(model.export.get("metadata", {}).get("class_names", []))


def sidecar(model: ModelVersion) -> dict[str, Any]:
    """Everything a client needs next to the ONNX file, as plain data."""
    metadata = model.export.get("metadata", {})
    version = model.run.dataset_version
    return {
        "format": "detection-studio/model-v1",
        "project": {"id": model.project_id, "name": model.project.name},
        "model_version": model.version,
        "name": model.name,  # the user's, "" for none
        "notes": model.notes,
        "class_names": class_names(model),
        "category_ids": metadata.get("category_ids", []),
        "threshold": model.threshold,
        "class_thresholds": model.class_thresholds or {},
        "nms_iou": float(metadata.get("nms_iou", 0.6)),
        "input": metadata.get("input"),
        "input_size": int(metadata.get("input_size", 0) or 0),
        "normalization": metadata.get("normalization"),
        "outputs": metadata.get("outputs"),
        "preset": metadata.get("preset") or model.run.config.get("preset"),
        "dataset_version": {
            "content_hash": version.content_hash,
            "images": version.image_count,
            "boxes": version.box_count,
            "splits": version.split_counts,
        },
        "metrics": {k: model.metrics[k] for k in HEADLINE if k in model.metrics},
        "onnx_sha256_before_metadata": model.onnx_sha256,
        "versions": metadata.get("versions", {}),
    }


def onnx_bytes(model: ModelVersion) -> bytes:
    """The stored ONNX model with the studio's metadata written into ``metadata_props``."""
    import onnx

    with default_storage.open(model.onnx_file, "rb") as handle:
        proto = onnx.load_model_from_string(handle.read())
    info = sidecar(model)
    studio = {
        "score_threshold": str(model.threshold),
        "class_thresholds": json.dumps(model.class_thresholds or {}, sort_keys=True),
        "model_version": str(model.version),
        "project": info["project"]["name"],
        "dataset_version": info["dataset_version"]["content_hash"],
        "metrics": json.dumps(info["metrics"], sort_keys=True),
    }
    kept = [p for p in proto.metadata_props if p.key not in studio]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in studio.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def blueonyx_zip(model: ModelVersion) -> bytes:
    """The Blue Onyx variant of the model (``model.onnx``) with its ``model.yaml``."""
    import onnx

    from training.ml.blueonyx import blueonyx_zip as make_zip

    proto = onnx.load_model_from_string(onnx_bytes(model))
    size = int(model.export.get("metadata", {}).get("input_size", 0) or 0)
    return make_zip(proto, input_size=size, class_names=class_names(model))


def labels_text(model: ModelVersion) -> str:
    return "".join(f"{name}\n" for name in class_names(model))


def model_card(model: ModelVersion) -> str:
    info = sidecar(model)
    per_class = model.evaluation.get("per_class", [])
    rows = "\n".join(
        f"| {c.get('name')} | {_fmt(c.get('ap50'))} | {_fmt(c.get('ap'))} | "
        f"{c.get('num_ground_truth', '—')} |"
        for c in per_class
    )
    metrics = info["metrics"]
    dataset = info["dataset_version"]
    named = f" ({model.name})" if model.name else ""
    return f"""# {info["project"]["name"]} — model v{model.version}{named}

Object detector trained with Detection Studio ({info["preset"]} preset, input
{info["input_size"]} px), from ImageNet-pretrained weights.

## Data
Dataset version `{dataset["content_hash"][:12]}`: {dataset["images"]} images,
{dataset["boxes"]} boxes; splits {dataset["splits"]}. Classes:
{", ".join(info["class_names"])}.

## Training
Run #{model.run_id}: {model.run.result.get("epochs_completed", "—")} epochs,
stopped because of `{model.run.result.get("stop_reason", "—")}`, on {model.run.device or "—"}.

## Metrics (test split, pycocotools)
mAP@[.5:.95] {_fmt(metrics.get("map"))} · mAP@.5 {_fmt(metrics.get("map50"))} ·
mAP@.75 {_fmt(metrics.get("map75"))}

| class | AP@.5 | AP@[.5:.95] | boxes |
| --- | --- | --- | --- |
{rows}

## Use
`model.onnx` takes `images`, uint8 RGB (batch, 3, height, width), any size; it returns
`boxes` (x1, y1, x2, y2 in input pixels), `scores`, `labels` (index into the class names)
and `batch_index`, after NMS. Keep detections scoring at least **{model.threshold:.2f}**
(the saved threshold, also in the file's metadata as `score_threshold`){_overrides(model)}.

## Intended use and limits
Made for images like those of its dataset (same camera, scale and classes). It has not
been evaluated on anything else; check its precision and recall on your own images
before relying on it, and keep a person in the loop where mistakes matter.
{_notes(model)}"""


def _notes(model: ModelVersion) -> str:
    return f"\n## Notes\n{model.notes}\n" if model.notes else ""


def _overrides(model: ModelVersion) -> str:
    if not model.class_thresholds:
        return ""
    pairs = ", ".join(f"{name} {value:.2f}" for name, value in model.class_thresholds.items())
    return f"; per class: {pairs} (`class_thresholds`)"


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "—"
