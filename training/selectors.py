"""Reads of runs and models, scoped to a project the caller already resolved."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from labeling.models import Project
from training.models import ModelVersion, TrainingRun


def run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return (
        TrainingRun.objects.filter(project=project)
        .select_related("dataset_version", "model_version")
        .defer("log_tail", "loss_points")
    )


def run_get(*, project: Project, run_id: int) -> TrainingRun:
    runs = TrainingRun.objects.select_related("dataset_version")
    return get_object_or_404(runs, project=project, pk=run_id)


def model_list(*, project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).select_related("run").defer("evaluation")


def model_get_for_user(*, user, model_id: int) -> ModelVersion:
    """A model version of one of the user's projects; 404 otherwise."""
    models = ModelVersion.objects.select_related("project", "run__dataset_version")
    return get_object_or_404(models, pk=model_id, project__memberships__user=user)
