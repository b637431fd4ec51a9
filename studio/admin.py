from __future__ import annotations

from django.contrib import admin

from studio.models import WorkerCheck


@admin.register(WorkerCheck)
class WorkerCheckAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "created_by", "created_at", "worker_hostname", "worker_pid"]
    readonly_fields = [f.name for f in WorkerCheck._meta.fields]
