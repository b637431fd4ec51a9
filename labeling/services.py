"""Writes to projects and their memberships."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from labeling import selectors
from labeling.categories import categories_ensure
from labeling.ingest import image_files_delete, project_files_delete
from labeling.models import Image, Membership, Project, Role

logger = logging.getLogger(__name__)

# Who else holds image files: ``holder(project_id=, since=, names=)`` returns those of
# ``names`` (files of the project's images uploaded at or after ``since``) that it still
# needs. Training's frozen dataset versions, and a freeze still in flight, are one (set in
# training/apps.py: labeling never imports it).
FileHolder = Callable[..., "set[str]"]
_file_holders: list[FileHolder] = []


def file_holder_add(holder: FileHolder) -> None:
    if holder not in _file_holders:
        _file_holders.append(holder)


def held_file_names(*, project_id: int, since: datetime, names: set[str]) -> set[str]:
    return set().union(*(h(project_id=project_id, since=since, names=names) for h in _file_holders))


def project_create(
    *,
    user: AbstractBaseUser,
    name: str,
    description: str = "",
    classes: list[str] | tuple[str, ...] = (),
) -> Project:
    """Create a project with its classes (in order, keys 1-9 for the first nine); its
    creator becomes its owner. A class named twice is one class; an invalid name creates
    nothing."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A project needs a name."})
    with transaction.atomic():
        project = Project.objects.create(name=name, description=description, created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        try:
            categories_ensure(project=project, names=[c.strip() for c in classes])
        except ValidationError as error:
            raise ValidationError({"classes": error.messages}) from error
    return project


def project_update(*, project: Project, name: str | None = None, description: str | None = None):
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A project needs a name."})
        project.name = name
    if description is not None:
        project.description = description
    project.save(update_fields=["name", "description", "updated_at"])
    return project


def project_delete(*, project: Project) -> None:
    """Delete the project, its rows and (once that is committed) its stored files."""
    project_id = project.pk
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: project_files_delete(project_id=project_id))


def image_delete(*, image: Image) -> None:
    """Delete an image with its boxes and history (see images_delete)."""
    images_delete(project_id=image.project_id, image_ids=[image.pk])


def images_delete(*, project_id: int, image_ids: list[int]) -> int:
    """Delete images of a project with their boxes, history and suggestions; the number
    deleted (ids of other projects, or already deleted, are ignored).

    Once that is committed, their thumbnails go, and their files too unless a holder
    needs them (a frozen dataset version whose COCO file names them, and whose runs read
    them): those stay until the project is deleted.
    """
    with transaction.atomic():
        images = Image.objects.select_for_update().filter(project_id=project_id, pk__in=image_ids)
        rows = list(images.values_list("file", "thumbnail", "created_at"))
        if not rows:
            return 0
        Image.objects.filter(project_id=project_id, pk__in=image_ids).delete()
        since = min(created for _, _, created in rows)

        def files_delete() -> None:
            try:
                held = held_file_names(
                    project_id=project_id, since=since, names={file for file, _, _ in rows}
                )
            except (OSError, ValueError):  # a version unreadable: keep every file for it
                logger.exception("project %s: kept the files of deleted images", project_id)
                held = {file for file, _, _ in rows}
            image_files_delete(names=[thumb for _, thumb, _ in rows])
            image_files_delete(names=[file for file, _, _ in rows if file not in held])

        transaction.on_commit(files_delete)
    return len(rows)


def _other_owner_exists(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def member_add(*, project: Project, username: str, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Role.values)}."})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"There is no user named {username!r}."})
    with transaction.atomic():
        if Membership.objects.filter(project=project, user=user).exists():
            raise ValidationError({"username": f"{username} is already a member."})
        return Membership.objects.create(project=project, user=user, role=role)


def member_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Role.values)}."})
    with transaction.atomic():
        if (
            membership.role == Role.OWNER
            and role != Role.OWNER
            and not _other_owner_exists(membership)
        ):
            raise ValidationError({"role": "A project must keep at least one owner."})
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def member_remove(*, membership: Membership) -> None:
    with transaction.atomic():
        if membership.role == Role.OWNER and not _other_owner_exists(membership):
            raise ValidationError({"user": "A project must keep at least one owner."})
        membership.delete()


def images_assign(*, project: Project, username: str, count: int, filters: dict) -> int:
    """Assign up to ``count`` of the project's unassigned images that pass ``filters``
    (the grid's, in its order) to the member ``username``, who must be able to annotate;
    the number assigned."""
    membership = (
        Membership.objects.filter(project=project, user__username=username)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise ValidationError({"username": f"{username} is not a member of this project."})
    if membership.role not in (Role.OWNER, Role.ANNOTATOR):
        raise ValidationError({"username": f"{username} is a {membership.role}: cannot annotate."})
    with transaction.atomic():
        images = selectors.image_list(project=project, **filters).filter(assigned_to__isnull=True)
        ids = list(images.values_list("pk", flat=True)[:count])
        return Image.objects.filter(pk__in=ids, assigned_to__isnull=True).update(
            assigned_to=membership.user
        )
