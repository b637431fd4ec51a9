"""The role table: what each project role may do. Written once, used by every view.

A non-member never learns that a project exists: querysets are scoped to the user's
projects (selectors.py), so another project's objects are 404, not 403.

| action          | owner | annotator | viewer |
|-----------------|-------|-----------|--------|
| view            | yes   | yes       | yes    |
| annotate        | yes   | yes       |        |
| import          | yes   | yes       |        |
| train           | yes   | yes       |        |
| serve           | yes   |           |        |
| review          | yes   |           |        |
| edit_project    | yes   |           |        |
| manage_members  | yes   |           |        |
| delete_project  | yes   |           |        |

Serving decisions are the owner's: which model version is production (the one the
DeepStack endpoint serves to cameras, training/deepstack.py) and the saved thresholds of
that version (the endpoint's default confidence). Annotators may tune the thresholds of
the other versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from labeling.models import Role


class Action(StrEnum):
    VIEW = "view"  # see the project, its images, boxes, runs and models
    ANNOTATE = "annotate"  # draw and edit boxes, upload and import images
    IMPORT = "import"  # import a labeled dataset (images, boxes and any new classes)
    TRAIN = "train"  # start and cancel training runs, tune a non-production model
    SERVE = "serve"  # mark the production model, change the production model's thresholds
    EDIT_PROJECT = "edit_project"  # rename, describe, change classes
    MANAGE_MEMBERS = "manage_members"  # add, remove and change the role of members
    DELETE_PROJECT = "delete_project"
    REVIEW = "review"  # accept or reject an image's boxes


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ANNOTATOR: frozenset({Action.VIEW, Action.ANNOTATE, Action.IMPORT, Action.TRAIN}),
    Role.VIEWER: frozenset({Action.VIEW}),
}

DENIED = "Your role in this project does not allow this."

# The fields of a model version whose change alters what a production model serves.
SERVING_FIELDS = frozenset({"threshold", "class_thresholds"})


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


def role_require(role: str | None, action: Action) -> None:
    """403 unless the role allows the action (for checks that depend on the request)."""
    if not role_allows(role, action):
        raise PermissionDenied(DENIED)


def model_update_action(*, is_production: bool, fields: Iterable[str]) -> Action:
    """The action a change of these fields of a model version needs: SERVE for the
    production flag and for the thresholds of the production version, else TRAIN."""
    fields = set(fields)
    if "is_production" in fields or (is_production and fields & SERVING_FIELDS):
        return Action.SERVE
    return Action.TRAIN


class ProjectRolePermission(BasePermission):
    """DRF permission: the view names the action each HTTP method needs.

    Views set `project_actions = {"GET": Action.VIEW, "PATCH": Action.EDIT_PROJECT, ...}`
    and `get_project_role(request)` returns the user's role in the project at hand (the
    view has already 404ed when the user is not a member).
    """

    message = DENIED

    def has_permission(self, request, view) -> bool:
        action = view.project_actions.get(request.method)
        if action is None:
            return False
        return role_allows(view.get_project_role(), action)
