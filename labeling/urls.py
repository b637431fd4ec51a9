from __future__ import annotations

from django.urls import path

from labeling import views

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("notifications/<int:notification_id>/", views.notification_open, name="notification-open"),
    path("projects/<int:project_id>/upload/", views.project_upload, name="project-upload"),
    path("projects/<int:project_id>/images/", views.project_images, name="project-images"),
    path("projects/<int:project_id>/health/", views.project_health, name="project-health"),
    path(
        "projects/<int:project_id>/annotate/<int:image_id>/",
        views.annotate,
        name="annotate",
    ),
]
