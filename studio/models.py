from __future__ import annotations

from django.conf import settings
from django.db import models


class WorkerCheck(models.Model):
    """A round trip through the broker to a worker process: proof that jobs run.

    The row is the source of truth: the web creates it `queued`, the worker marks it
    `done` with its own host name and process id.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by_pid = models.IntegerField()
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Worker check {self.pk} ({self.status})"
