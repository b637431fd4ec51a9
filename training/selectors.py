"""Reads of runs and models, scoped to a project the caller already resolved."""

from __future__ import annotations

from django.db.models import Max, QuerySet
from django.db.models.fields.json import KeyTransform
from django.shortcuts import get_object_or_404

from labeling.models import Category, Image, Project
from training.models import DeletedModelVersion, ModelVersion, TrainingRun


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
    return (
        ModelVersion.objects.filter(project=project)
        .select_related("run")
        .defer("evaluation", "label_audit")
    )


def model_get_for_user(*, user, model_id: int) -> ModelVersion:
    """A model version of one of the user's projects; 404 otherwise."""
    models = ModelVersion.objects.select_related("project", "run__dataset_version")
    return get_object_or_404(models, pk=model_id, project__memberships__user=user)


def model_get(*, project: Project, model_id: int) -> ModelVersion:
    """One model version of the project, with its full evaluation report; 404 otherwise."""
    models = ModelVersion.objects.select_related("project", "run__dataset_version")
    return get_object_or_404(models, project=project, pk=model_id)


def next_model_version(*, project_id: int) -> int:
    """The number of the project's next model version: after every version it has had,
    deleted ones included (a number always means one model)."""
    kept = ModelVersion.objects.filter(project_id=project_id).aggregate(v=Max("version"))["v"]
    gone = DeletedModelVersion.objects.filter(project_id=project_id).aggregate(v=Max("version"))
    return max(kept or 0, gone["v"] or 0) + 1


def model_was_deleted(*, project: Project, version: int) -> bool:
    return DeletedModelVersion.objects.filter(project=project, version=version).exists()


def model_list_with_sweep(*, project: Project) -> QuerySet[ModelVersion]:
    """The project's model versions with only the overall IoU-0.5 confidence sweep of their
    reports (``sweep_thresholds``, ``sweep_overall``), not the whole report."""
    sweep = KeyTransform("confidence_sweep", "evaluation")
    return model_list(project=project).annotate(
        sweep_thresholds=KeyTransform("thresholds", sweep),
        sweep_overall=KeyTransform("overall", KeyTransform("iou_0.5", sweep)),
    )


def image_names_present(*, project: Project, image_ids: list[int]) -> dict[int, str]:
    """The file name of each of ``image_ids`` that is still an image of the project (a
    model's test images may have been deleted since it was trained)."""
    rows = Image.objects.filter(project=project, pk__in=image_ids)
    return dict(rows.values_list("pk", "original_name"))


def class_colours(*, project: Project) -> dict[str, str]:
    """The project's colour of each class, by class name (model reports name classes)."""
    return dict(Category.objects.filter(project=project).values_list("name", "color"))


def model_get_with_role(*, user, model_id: int) -> tuple[ModelVersion, str]:
    """A model version of one of the user's projects and the user's role there, in one
    query (the prediction API's hot path); 404 otherwise."""
    from django.db.models import F
    from django.http import Http404

    model = (
        ModelVersion.objects.select_related("project")
        .defer("evaluation", "label_audit")  # the review page's: large, not needed to predict
        .filter(pk=model_id, project__memberships__user=user)
        .annotate(member_role=F("project__memberships__role"))
        .first()
    )
    if model is None:
        raise Http404("No such model.")
    return model, model.member_role
