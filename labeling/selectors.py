"""Reads, always scoped to the projects the user belongs to."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet
from django.http import Http404

from labeling.models import Membership, Project


def project_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).annotate(
        member_count=Count("memberships", distinct=True)
    )


def project_get_with_role(
    *, user: AbstractBaseUser | AnonymousUser, project_id: int
) -> tuple[Project, str]:
    """The project and the user's role in it; Http404 when the user is not a member."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        Membership.objects.select_related("project")
        .filter(project_id=project_id, user=user)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    return membership.project, membership.role


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")
