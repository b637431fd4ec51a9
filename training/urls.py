from __future__ import annotations

from django.urls import path

from training import views, views_models, views_project, views_try

urlpatterns = [
    path("projects/<int:project_id>/", views_project.project_detail, name="project-detail"),
    path(
        "projects/<int:project_id>/runs/table/",
        views_project.project_runs_table,
        name="project-runs-table",
    ),
    path("projects/<int:project_id>/train/", views.train_form, name="train"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("projects/<int:project_id>/models/", views_models.model_list, name="model-list"),
    path(
        "projects/<int:project_id>/models/compare/",
        views_models.model_compare,
        name="model-compare",
    ),
    path(
        "projects/<int:project_id>/models/<int:model_id>/",
        views_models.model_detail,
        name="model-detail",
    ),
    path(
        "projects/<int:project_id>/models/<int:model_id>/try/",
        views_try.model_try,
        name="model-try",
    ),
]
