"""In-app notifications: when a training run or a dataset import ends, each member of
its project finds it under the top bar's bell (static/js/lib/notifications.js), on every
page, with a link; opening it marks it read.

Telling is idempotent (one notification per user and event ``key``), so a redelivered
job tells nobody twice. Reads are scoped to the user's own notifications of projects
they are still a member of.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from labeling.models import DatasetImport, Membership, Notification, Project

LISTED = 20  # the newest ones under the bell


def members_notify(*, project: Project, key: str, text: str, url: str, level: str) -> None:
    """Tell every member of the project, once per ``key`` (a member told already is not
    told again)."""
    users = Membership.objects.filter(project=project).values_list("user_id", flat=True)
    rows = [
        Notification(user_id=user_id, project=project, key=key, text=text[:300], url=url,
                     level=level)
        for user_id in users
    ]  # fmt: skip
    Notification.objects.bulk_create(rows, ignore_conflicts=True)


def import_ended_notify(*, import_id: int) -> None:
    """A dataset import run by a worker has ended: tell the project's members."""
    from django.urls import reverse

    record = DatasetImport.objects.select_related("project").filter(pk=import_id).first()
    finished = (DatasetImport.Status.SUCCEEDED, DatasetImport.Status.FAILED)
    if record is None or record.status not in finished:
        return
    project = record.project
    if record.status == DatasetImport.Status.SUCCEEDED:
        text = (
            f"Import of {record.source_name} into {project.name} finished: "
            f"{record.images_added} image(s) added, {record.boxes_added} box(es)."
        )
        level = Notification.Level.SUCCESS
    else:
        text = f"Import of {record.source_name} into {project.name} failed: {record.error}"
        level = Notification.Level.ERROR
    url = reverse("project-detail", args=[project.pk]) + "#imports"
    members_notify(project=project, key=f"import:{record.pk}", text=text, url=url, level=level)


def notification_list(*, user) -> QuerySet[Notification]:
    """The user's notifications of projects they are a member of, newest first."""
    mine = Membership.objects.filter(user=user).values("project_id")
    return Notification.objects.filter(user=user, project_id__in=mine)


def notification_open(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (404 for anyone else's)."""
    notification = get_object_or_404(notification_list(user=user), pk=notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_read_all(*, user) -> int:
    return notification_list(user=user).filter(read_at=None).update(read_at=timezone.now())
