from __future__ import annotations

from django.urls import path

from labeling import api

urlpatterns = [
    path("projects", api.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>", api.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<int:project_id>/members",
        api.MemberListView.as_view(),
        name="api-project-members",
    ),
    path(
        "projects/<int:project_id>/members/<int:membership_id>",
        api.MemberDetailView.as_view(),
        name="api-project-member",
    ),
]
