"""Pages of model versions: the registry list, one model's review page, a comparison.

Writes (threshold, production flag) go through the API (training/api_models.py); these
views only read, check membership and hand the data to the page's module.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling import selectors as labeling_selectors
from labeling.permissions import Action, model_update_action, role_allows
from training import label_audit, registry, selectors
from training.models import ModelVersion
from training.verdict import model_verdict

# What the model page needs of the evaluation report (not per_image_errors: the page
# recomputes the errors at its own threshold from per_image).
PAGE_REPORT_KEYS = (
    "num_images", "num_ground_truth", "num_predictions", "num_ground_truth_by_size",
    "metrics", "per_class", "confidence_sweep", "recommended_threshold", "confusion_matrix",
    "per_image",
)  # fmt: skip
COMPARE_REPORT_KEYS = (
    "num_images", "num_ground_truth", "num_ground_truth_by_size", "metrics", "per_class",
    "pr_curves", "confidence_sweep", "recommended_threshold",
)  # fmt: skip
PLACEHOLDER = 999999999  # an image id in URL templates, replaced by "{id}"


def nearest_index(thresholds: list[float], value: float) -> int | None:
    """Index of the sweep threshold nearest to ``value`` (the lower one on a tie)."""
    if not thresholds:
        return None
    return min(range(len(thresholds)), key=lambda i: (abs(thresholds[i] - value), i))


def at_threshold(
    thresholds: list[float] | None, table: dict[str, list] | None, threshold: float
) -> dict[str, Any] | None:
    """Precision, recall and F1 of a sweep table at the evaluated threshold nearest to
    ``threshold``; None for a report without a sweep."""
    i = nearest_index(thresholds or [], threshold)
    if i is None or not table:
        return None
    return {"threshold": thresholds[i], **{k: table[k][i] for k in ("precision", "recall", "f1")}}


def at_saved_thresholds(model: ModelVersion) -> dict[str, Any] | None:
    """Overall precision, recall and F1 at IoU 0.5 at the model's saved threshold and its
    per-class overrides (class-aware matching keeps classes apart: their counts add up)."""
    sweep = (model.evaluation or {}).get("confidence_sweep") or {}
    thresholds, table = sweep.get("thresholds"), sweep.get("iou_0.5")
    overrides = {
        k: v
        for k, v in (model.class_thresholds or {}).items()
        if k in (table or {}).get("per_class", {})
    }
    if not overrides:
        return at_threshold(thresholds, (table or {}).get("overall"), model.threshold)
    tp = fp = fn = 0
    for name, per_class in table["per_class"].items():
        i = nearest_index(thresholds, overrides.get(name, model.threshold))
        tp, fp, fn = tp + per_class["tp"][i], fp + per_class["fp"][i], fn + per_class["fn"][i]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    i = nearest_index(thresholds, model.threshold)
    return {
        "threshold": thresholds[i],
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "per_class": True,
    }


def model_facts(model: ModelVersion) -> dict[str, Any]:
    """The model's headline facts other than metrics: preset, size, speed, data, time."""
    run = model.run
    dataset = run.dataset_version
    export = model.export or {}
    metadata = export.get("metadata", {})
    return {
        "preset": metadata.get("preset") or run.config.get("preset"),
        "input_size": metadata.get("input_size") or run.config.get("image_size"),
        "onnx_bytes": model.onnx_bytes,
        "parameters": export.get("parameters"),
        "latency": export.get("latency"),
        "training_seconds": run.elapsed_seconds or None,
        "epochs": (run.result or {}).get("epochs_completed"),
        "device": run.device,
        "dataset": {
            "content_hash": dataset.content_hash,
            "images": dataset.image_count,
            "boxes": dataset.box_count,
            "splits": dataset.split_counts,
        },
    }


def editor_review(*, project, model_id: str | None) -> dict[str, Any] | None:
    """What the box editor needs when opened from a model's error gallery
    (``?review=<model id>``): the model's detections and gt boxes of every test image, to
    overlay them and walk the gallery's errors; None without a (known) model or when its
    report has no detections."""
    if not model_id or not model_id.isdigit():
        return None
    model = ModelVersion.objects.filter(project=project, pk=int(model_id)).first()
    report = (model.evaluation or {}) if model else {}
    per_image = report.get("per_image") or {}
    if not per_image.get("images"):
        return None
    return {
        "model": {"id": model.pk, "version": model.version, "threshold": model.threshold},
        "classes": [
            {"category_id": c["category_id"], "name": c["name"]}
            for c in report.get("per_class") or []
        ],
        "images": per_image["images"],
        "urls": {"model": reverse("model-detail", args=[project.pk, model.pk])},
    }


def _url_template(name: str, project_id: int) -> str:
    return reverse(name, args=[project_id, PLACEHOLDER]).replace(str(PLACEHOLDER), "{id}")


def _downloads(model: ModelVersion) -> dict[str, str]:
    base = reverse("api-model-download", args=[model.pk])
    return {artifact: f"{base}?artifact={artifact}" for artifact in registry.ARTIFACTS}


def _page_project(request: HttpRequest, project_id: int):
    return labeling_selectors.project_get_with_role(user=request.user, project_id=project_id)


@login_required
@require_GET
def model_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """The registry: every model version of the project with its metrics and status."""
    project, role = _page_project(request, project_id)
    models = list(selectors.model_list_with_sweep(project=project))
    for model in models:
        model.at_threshold = at_threshold(
            model.sweep_thresholds, model.sweep_overall, model.threshold
        )
    page_data = {
        "can_train": role_allows(role, Action.TRAIN),
        "can_serve": role_allows(role, Action.SERVE),
        "api": {
            "model": reverse("api-model", args=[PLACEHOLDER]).replace(str(PLACEHOLDER), "{id}")
        },
        "urls": {"compare": reverse("model-compare", args=[project.pk])},
    }
    # After a deletion (?deleted=<version>): said only if that version was deleted.
    asked = request.GET.get("deleted", "")
    deleted = asked.isdigit() and selectors.model_was_deleted(project=project, version=int(asked))
    return render(
        request,
        "training/model_list.html",
        {
            "project": project,
            "models": models,
            "deleted": int(asked) if deleted else None,
            "page_data": page_data,
        },
    )


@login_required
@require_GET
def model_detail(request: HttpRequest, project_id: int, model_id: int) -> HttpResponse:
    """One model version: metrics, threshold slider, curves, confusion matrix, errors."""
    project, role = _page_project(request, project_id)
    model = selectors.model_get(project=project, model_id=model_id)
    report = model.evaluation or {}
    evaluation = {key: report.get(key) for key in PAGE_REPORT_KEYS}
    per_image = evaluation["per_image"] or {}
    image_ids = [image["id"] for image in per_image.get("images", [])]
    names = selectors.image_names_present(project=project, image_ids=image_ids)
    audit = label_audit.model_audit(model=model)
    page_data = {
        "model": {
            "id": model.pk,
            "version": model.version,
            "threshold": model.threshold,
            "class_thresholds": model.class_thresholds or {},
            "is_production": model.is_production,
            "class_names": registry.class_names(model),
            "verdict": model_verdict(model),
        },
        # The project's colour of each class (by name), for the charts.
        "class_colours": selectors.class_colours(project=project),
        "evaluation": evaluation,
        "images_present": sorted(names),
        "image_names": {str(pk): name for pk, name in names.items()},
        # Possible missing labels; annotators make a candidate a suggestion to accept.
        "audit": audit,
        "can_annotate": role_allows(role, Action.ANNOTATE),
        "can_train": role_allows(role, Action.TRAIN),
        "can_serve": role_allows(role, Action.SERVE),
        # Saving thresholds: owners only once this version is the production one.
        "can_tune": role_allows(
            role, model_update_action(is_production=model.is_production, fields={"threshold"})
        ),
        "api": {
            "model": reverse("api-model", args=[model.pk]),
            "audit_suggestion": reverse(
                "api-model-audit-suggestion", args=[model.pk, PLACEHOLDER]
            ).replace(str(PLACEHOLDER), "{index}"),
        },
        "urls": {
            "models": reverse("model-list", args=[project.pk]),
            "thumbnail": _url_template("api-image-thumbnail", project.pk),
            "file": _url_template("api-image-file", project.pk),
            # The box editor's page (labeling): /projects/<p>/annotate/<image id>/
            "editor": f"/projects/{project.pk}/annotate/{{id}}/",
        },
    }
    others = list(selectors.model_list(project=project).exclude(pk=model.pk).values("id"))
    return render(
        request,
        "training/model_detail.html",
        {
            "project": project,
            "model": model,
            "facts": model_facts(model),
            "metrics": report.get("metrics") or model.metrics or {},
            "sizes": report.get("num_ground_truth_by_size") or {},
            "audit": audit,
            "saved": at_saved_thresholds(model),
            "downloads": _downloads(model),
            "others": others,
            "can_train": page_data["can_train"],
            "can_annotate": page_data["can_annotate"],
            "can_serve": page_data["can_serve"],
            "can_tune": page_data["can_tune"],
            "page_data": page_data,
        },
    )


@login_required
@require_GET
def model_compare(request: HttpRequest, project_id: int) -> HttpResponse:
    """Two model versions of the project side by side (``?a=<id>&b=<id>``)."""
    project, _role = _page_project(request, project_id)
    choices = list(selectors.model_list(project=project))
    picked = []
    for key, default in (("a", 1), ("b", 0)):
        value = request.GET.get(key)
        if value and value.isdigit():
            picked.append(selectors.model_get(project=project, model_id=int(value)))
        elif len(choices) > default:  # defaults: the previous and the latest version
            picked.append(selectors.model_get(project=project, model_id=choices[default].pk))
    models = [
        {
            "id": m.pk,
            "version": m.version,
            "threshold": m.threshold,
            "facts": model_facts(m),
            "evaluation": {key: (m.evaluation or {}).get(key) for key in COMPARE_REPORT_KEYS},
            "url": reverse("model-detail", args=[project.pk, m.pk]),
        }
        for m in picked
    ]
    return render(
        request,
        "training/model_compare.html",
        {
            "project": project,
            "choices": choices,
            "picked": picked,
            "page_data": {"models": models},
        },
    )
