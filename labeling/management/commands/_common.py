"""What the labeling commands share: finding a project by id or name."""

from __future__ import annotations

from django.core.management.base import CommandError

from labeling.models import Project


def project_lookup(value: str) -> Project:
    """The project with this id, or else with this exact name (which must be unique)."""
    if value.isdigit():
        project = Project.objects.filter(pk=int(value)).first()
        if project is not None:
            return project
    matches = list(Project.objects.filter(name=value)[:2])
    if not matches:
        raise CommandError(f"There is no project with the id or name {value!r}.")
    if len(matches) > 1:
        raise CommandError(f"Several projects are named {value!r}: give its id instead.")
    return matches[0]
