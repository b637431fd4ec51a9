"""The project page: its images, classes, imports and members (labeling) with its runs,
models and pre-labeling (training). It lives here because training builds on labeling,
never the other way. Writes go through the JSON API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling import selectors
from labeling.formats import FORMATS
from labeling.models import DatasetImport, Role
from labeling.permissions import Action, role_allows
from labeling.views import image_url_template
from training.selectors import model_list, run_list
from training.verdict import model_verdict
from training.workflow import project_workflow


@login_required
@require_GET
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = selectors.project_get_with_role(user=request.user, project_id=project_id)
    can = {action.value: role_allows(role, action) for action in Action}
    page_data = {
        "project": {"id": project.pk, "name": project.name},
        "role": role,
        "can": can,
        "api": {
            "project": reverse("api-project", args=[project.pk]),
            "members": reverse("api-project-members", args=[project.pk]),
            "categories": reverse("api-categories", args=[project.pk]),
            "imports": reverse("api-imports", args=[project.pk]),
            "exports": reverse("api-exports", args=[project.pk]),
            "prelabel": reverse("api-prelabel-jobs", args=[project.pk]),
            "most_useful": reverse("api-images-most-useful", args=[project.pk]),
            "assign": reverse("api-images-assign", args=[project.pk]),
        },
        "urls": {
            "projects": reverse("project-list"),
            "annotate": image_url_template("annotate", project),
        },
    }
    models = list(model_list(project=project).select_related("run__dataset_version")[:5])
    for model in models:
        model.judged = model_verdict(model)
    # Pre-labeling offers the production version, else the newest usable one, else the
    # newest, marked "not usable yet" (its Pre-label asks for a confirmation first).
    default = (
        next((m for m in models if m.is_production), None)
        or next((m for m in models if m.judged["usable"]), None)
        or (models[0] if models else None)
    )
    return render(
        request,
        "labeling/project_detail.html",
        {
            "project": project,
            "role": role,
            "can": can,
            "roles": Role.choices,
            "memberships": selectors.membership_list(project=project),
            "page_data": page_data,
            "workflow": project_workflow(project=project, role=role),
            "assignments": [
                {**a, "left": a["assigned"] - a["tagged"]}
                for a in selectors.assignment_progress(project=project)
            ],
            "runs": run_list(project=project)[:5],
            "models": models,
            "prelabel_default": default.pk if default else None,
            **_dataset_context(project),
        },
    )


@login_required
@require_GET
def project_runs_table(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project page's runs table alone: the page polls it while a run is unfinished."""
    project, _role = selectors.project_get_with_role(user=request.user, project_id=project_id)
    return render(request, "training/run_table.html", {"runs": run_list(project=project)[:5]})


def _dataset_context(project) -> dict:
    """What the project page shows of images, classes, imports and exports."""
    return {
        "image_summary": selectors.image_summary(project=project),
        "categories": selectors.category_list(project=project),
        "imports": DatasetImport.objects.filter(project=project)[:5],
        "export_formats": [
            (name, reverse("api-project-export", args=[project.pk, name])) for name in FORMATS
        ],
        "import_formats": ["auto", *FORMATS],
    }
