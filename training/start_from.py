"""Where a run starts: the ImageNet backbone (the default) or a model version it
fine-tunes from, of this project or of another one the user is a member of whose class
names overlap this project's (the engine's side: training/ml/finetune.py).

A run records its origin twice: ``start_model`` (the version, None once deleted) and
``started_from``, a snapshot that outlives it (project, version, preset, class match).
The class match is the one of the project's classes when the run is started; the worker
replaces it with the engine's, made on the frozen dataset's classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import Http404

from labeling.models import Category, Project
from training import registry
from training.ml.config import TrainConfig
from training.ml.errors import CheckpointError
from training.ml.finetune import describe_match, match_classes
from training.models import ModelVersion, TrainingRun
from training.run_files import fetch_file

IMAGENET = "ImageNet backbone"
START_CANDIDATES = 50  # the Train form's list: the latest model versions, at most


def project_class_names(*, project: Project) -> list[str]:
    """The project's classes in the order a frozen dataset version lists them."""
    rows = Category.objects.filter(project=project).order_by("order", "id")
    return list(rows.values_list("name", flat=True))


def start_model_get_for_user(*, user, model_id: int) -> ModelVersion:
    """A model version of a project the user is a member of; Http404 (with words) otherwise."""
    model = (
        ModelVersion.objects.select_related("project", "run")
        .defer("evaluation", "label_audit")
        .filter(pk=model_id, project__memberships__user=user)
        .first()
    )
    if model is None:
        raise Http404(
            f"No model version {model_id} in your projects: start from one of your projects' "
            "models (or from the ImageNet backbone)."
        )
    return model


def model_preset(model: ModelVersion) -> str:
    """The preset (the network) the model's checkpoint was trained with."""
    return TrainConfig.from_dict(model.run.config).preset


def start_point(
    *, model: ModelVersion, project: Project, preset: str | None
) -> tuple[str, dict[str, Any]]:
    """Check that a run of ``project`` can fine-tune from ``model``; return the run's
    preset (the model's: a fine-tune keeps its network) and the ``started_from``
    snapshot. ValidationError saying why not: no checkpoint, another preset asked for,
    no class in common."""
    label = f"model v{model.version} of {model.project.name}"
    if not model.checkpoint_file or not default_storage.exists(model.checkpoint_file):
        raise ValidationError(
            {"start_from": f"Cannot start from {label}: it has no checkpoint to start from."}
        )
    saved = TrainConfig.from_dict(model.run.config)
    if preset and preset != saved.preset:
        raise ValidationError(
            {
                "preset": f"Cannot start from {label} with the {preset} preset: it was trained "
                f"with the {saved.preset} preset, and a fine-tune keeps the network of the model "
                f"it starts from. Choose {saved.preset} (or leave the preset out)."
            }
        )
    if not saved.pretrained:
        raise ValidationError(
            {"start_from": f"Cannot start from {label}: it was trained from a random backbone."}
        )
    ours = project_class_names(project=project)
    match = match_classes(registry.class_names(model), ours)
    if not match.matched:
        raise ValidationError(
            {
                "start_from": f"Cannot start from {label}: none of its classes "
                f"({', '.join(registry.class_names(model))}) is a class of this project "
                f"({', '.join(ours) or 'none yet'})."
            }
        )
    snapshot = {
        "model_id": model.pk,
        "project_id": model.project_id,
        "project": model.project.name,
        "version": model.version,
        "preset": saved.preset,
        "classes": match.to_dict(),
    }
    return saved.preset, snapshot


def origin_text(started_from: dict[str, Any] | None) -> str:
    """``ImageNet backbone`` or ``BCCD v3 (classes matched: RBC, WBC; new: Platelets)``."""
    if not started_from:
        return IMAGENET
    text = f"{started_from['project']} v{started_from['version']}"
    classes = started_from.get("classes")
    return f"{text} ({describe_match(classes)})" if classes else text


def origin_of(run: TrainingRun) -> dict[str, Any]:
    """A run's origin for the APIs: its words and its snapshot (``model_id`` is None for
    the ImageNet backbone; ``model_exists`` is False once that version was deleted)."""
    snapshot = run.started_from or {}
    return {
        "text": origin_text(snapshot),
        "model_id": snapshot.get("model_id"),
        "model_exists": run.start_model_id is not None,
        "project": snapshot.get("project"),
        "version": snapshot.get("version"),
        "classes": snapshot.get("classes"),
    }


def start_candidates(*, user, project: Project) -> list[dict[str, Any]]:
    """The model versions the Train form offers to start from: this project's, then those
    of the user's other projects with a class in common, each with its class match."""
    ours = project_class_names(project=project)
    models = (
        ModelVersion.objects.select_related("project", "run")
        .defer("evaluation", "label_audit")
        .filter(project__memberships__user=user)
        .exclude(checkpoint_file="")
        .order_by("-created_at", "-id")[:START_CANDIDATES]
    )
    choices = []
    for model in models:
        match = match_classes(registry.class_names(model), ours)
        if not match.matched:
            continue
        choices.append(
            {
                "id": model.pk,
                "same_project": model.project_id == project.pk,
                "label": f"{model.project.name} v{model.version}"
                + (f" ({model.name})" if model.name else ""),
                "preset": model_preset(model),
                "classes": match.to_dict(),
                "match_text": describe_match(match),
            }
        )
    choices.sort(key=lambda c: not c["same_project"])  # this project's first
    return choices


def start_checkpoint(run: TrainingRun, workdir: Path) -> Path | None:
    """In the worker: a local copy of the checkpoint the run fine-tunes from (read through
    the media storage, which may be S3), or None for a run from the ImageNet backbone.
    CheckpointError, in words, when that model or its checkpoint is gone."""
    if not run.started_from:
        return None
    label = origin_text({**run.started_from, "classes": None})
    model = ModelVersion.objects.filter(pk=run.start_model_id).first()
    if model is None or not model.checkpoint_file:
        raise CheckpointError(
            f"The model this run starts from ({label}) was deleted before the run began: "
            "start a new run from another model."
        )
    if not default_storage.exists(model.checkpoint_file):
        raise CheckpointError(f"The checkpoint of {label} is missing from the media storage.")
    return fetch_file(model.checkpoint_file, workdir / "start-from.pt")
