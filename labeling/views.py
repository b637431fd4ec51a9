"""Pages of projects. Writes go through the JSON API (labeling/api.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling import selectors
from labeling.models import Role
from labeling.permissions import Action, role_allows


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    page_data = {"api": {"projects": reverse("api-projects")}}
    return render(
        request, "labeling/project_list.html", {"projects": projects, "page_data": page_data}
    )


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
        },
        "urls": {"projects": reverse("project-list")},
    }
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
        },
    )
