from __future__ import annotations

from django.contrib import admin

from labeling.models import Category, DatasetImport, Image, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "task_type", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "color", "shortcut", "order"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_name", "project", "width", "height", "split", "status"]
    list_filter = ["split", "status", "no_objects"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["project", "uploaded_by", "labeled_by", "reviewed_by"]
    readonly_fields = ["file", "thumbnail", "sha256", "bytes", "format", "width", "height"]


@admin.register(DatasetImport)
class DatasetImportAdmin(admin.ModelAdmin):
    list_display = ["source_name", "project", "format", "status", "images_added", "created_at"]
    list_filter = ["status", "format"]
    readonly_fields = ["report", "upload"]
