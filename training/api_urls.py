from __future__ import annotations

from django.urls import path

from training import api, api_audit, api_models, api_predict, api_prelabel

urlpatterns = [
    path("projects/<int:project_id>/models", api_models.ModelListView.as_view(), name="api-models"),
    path("models/<int:model_id>", api_models.ModelDetailView.as_view(), name="api-model"),
    path(
        "models/<int:model_id>/download",
        api_models.ModelDownloadView.as_view(),
        name="api-model-download",
    ),
    path("models/<int:model_id>/audit", api_audit.ModelAuditView.as_view(), name="api-model-audit"),
    path(
        "models/<int:model_id>/audit/<int:index>/suggestion",
        api_audit.AuditCandidateSuggestionView.as_view(),
        name="api-model-audit-suggestion",
    ),
    path(
        "models/<int:model_id>/predict",
        api_predict.ModelPredictView.as_view(),
        name="api-model-predict",
    ),
    path(
        "projects/<int:project_id>/prelabel",
        api_prelabel.PrelabelJobListView.as_view(),
        name="api-prelabel-jobs",
    ),
    path(
        "projects/<int:project_id>/prelabel/<int:job_id>",
        api_prelabel.PrelabelJobDetailView.as_view(),
        name="api-prelabel-job",
    ),
    path(
        "projects/<int:project_id>/prelabel/<int:job_id>/cancel",
        api_prelabel.PrelabelJobCancelView.as_view(),
        name="api-prelabel-job-cancel",
    ),
    path(
        "projects/<int:project_id>/images/most-useful",
        api_prelabel.ImagesMostUsefulView.as_view(),
        name="api-images-most-useful",
    ),
    path("projects/<int:project_id>/runs", api.RunListView.as_view(), name="api-runs"),
    path(
        "projects/<int:project_id>/runs/<int:run_id>",
        api.RunDetailView.as_view(),
        name="api-run",
    ),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/cancel",
        api.RunCancelView.as_view(),
        name="api-run-cancel",
    ),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/log.txt",
        api.RunFileView.as_view(),
        {"name": "log.txt"},
        name="api-run-log",
    ),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/config.json",
        api.RunFileView.as_view(),
        {"name": "config.json"},
        name="api-run-config",
    ),
]
