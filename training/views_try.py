"""The "Try it" page of a model version: drop an image (or pick one of the project's) and
see its detections, with a threshold slider. Predictions go through the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling import selectors as labeling_selectors
from training import registry, selectors


@login_required
@require_GET
def model_try(request: HttpRequest, project_id: int, model_id: int) -> HttpResponse:
    project, role = labeling_selectors.project_get_with_role(
        user=request.user, project_id=project_id
    )
    model = get_object_or_404(selectors.model_list(project=project), pk=model_id)
    metadata = model.export.get("metadata", {})
    page_data = {
        "api": {
            "predict": reverse("api-model-predict", args=[model.pk]),
            "images": reverse("api-images", args=[project.pk]),
        },
        "model": {
            "id": model.pk,
            "version": model.version,
            "threshold": model.threshold,
            "class_thresholds": model.class_thresholds,
            "class_names": registry.class_names(model),
            # The graph keeps nothing below this score: the slider's lowest useful value.
            "floor": float(metadata.get("graph_score_threshold", 0.05)),
        },
        "limits": {
            "max_image_bytes": settings.STUDIO_MAX_IMAGE_BYTES,
        },
    }
    return render(
        request,
        "training/try_model.html",
        {"project": project, "role": role, "model": model, "page_data": page_data},
    )
