from __future__ import annotations

from django.contrib import admin

from labeling.models import Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "task_type", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
