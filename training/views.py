"""Pages of training: the Train form and the live run page. Writes go through the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from labeling import selectors as labeling_selectors
from labeling.permissions import Action, role_allows
from training import selectors
from training.ml.config import PRESET_IMAGE_SIZE
from training.readiness import project_readiness
from training.start_from import start_candidates

# Latency: ONNX Runtime, one 640x480 image, 1 CPU thread, median of 100, measured on the
# 2-core development VM after 15- and 30-minute BCCD runs, on its faster and its slower
# days (`make bench-train` reports it for your machine; training/ml/README.md has the
# accuracy of each).
PRESET_HELP = {
    "fast": "Smallest input: lowest latency (about 11-24 ms per image on one CPU core), "
    "meant for CPUs and edge devices.",
    "balanced": "Larger input: a middle ground (about 18-42 ms per image on one CPU core).",
    "accurate": "Trains at the small input first, then at the largest: the best mAP "
    "for small objects, slower to train and to run (about 19-50 ms per image on one CPU core).",
}


@login_required
@require_GET
def train_form(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = labeling_selectors.project_get_with_role(
        user=request.user, project_id=project_id
    )
    presets = [
        {"name": name, "help": PRESET_HELP[name], "image_size": size}
        for name, size in PRESET_IMAGE_SIZE.items()
    ]
    starts = start_candidates(user=request.user, project=project)
    page_data = {
        "api": {"runs": reverse("api-runs", args=[project.pk])},
        "project": {"id": project.pk},
        "can_train": role_allows(role, Action.TRAIN),
        "starts": starts,  # the JS locks the preset to the chosen model's
    }
    return render(
        request,
        "training/train.html",
        {
            "project": project,
            "presets": presets,
            "starts": starts,
            "can_train": role_allows(role, Action.TRAIN),
            "default_budget": settings.STUDIO_DEFAULT_TIME_BUDGET_MINUTES,
            "max_budget": settings.STUDIO_MAX_TIME_BUDGET_MINUTES,
            "runs": selectors.run_list(project=project)[:20],
            "readiness": project_readiness(project=project),
            "page_data": page_data,
        },
    )


@login_required
@require_GET
def run_detail(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project, role = labeling_selectors.project_get_with_role(
        user=request.user, project_id=project_id
    )
    run = selectors.run_get(project=project, run_id=run_id)
    page_data = {
        "api": {
            "run": reverse("api-run", args=[project.pk, run.pk]),
            "cancel": reverse("api-run-cancel", args=[project.pk, run.pk]),
        },
        "can_train": role_allows(role, Action.TRAIN),
        "server_now": timezone.now().isoformat(),  # the page's elapsed time ticks from it
    }
    return render(
        request,
        "training/run.html",
        {"project": project, "run": run, "page_data": page_data},
    )
