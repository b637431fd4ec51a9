"""The role table: what each project role may do. Written once, used by every view.

A non-member never learns that a project exists: querysets are scoped to the user's
projects (selectors.py), so another project's objects are 404, not 403.
"""

from __future__ import annotations

from enum import StrEnum

from rest_framework.permissions import BasePermission

from labeling.models import Role


class Action(StrEnum):
    VIEW = "view"  # see the project, its images, boxes, runs and models
    ANNOTATE = "annotate"  # draw and edit boxes, upload and import images
    TRAIN = "train"  # start and cancel training runs
    EDIT_PROJECT = "edit_project"  # rename, describe, change classes
    MANAGE_MEMBERS = "manage_members"  # add, remove and change the role of members
    DELETE_PROJECT = "delete_project"
    REVIEW = "review"  # accept or reject an image's boxes


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ANNOTATOR: frozenset({Action.VIEW, Action.ANNOTATE, Action.TRAIN}),
    Role.VIEWER: frozenset({Action.VIEW}),
}


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


class ProjectRolePermission(BasePermission):
    """DRF permission: the view names the action each HTTP method needs.

    Views set `project_actions = {"GET": Action.VIEW, "PATCH": Action.EDIT_PROJECT, ...}`
    and `get_project_role(request)` returns the user's role in the project at hand (the
    view has already 404ed when the user is not a member).
    """

    message = "Your role in this project does not allow this."

    def has_permission(self, request, view) -> bool:
        action = view.project_actions.get(request.method)
        if action is None:
            return False
        return role_allows(view.get_project_role(), action)
