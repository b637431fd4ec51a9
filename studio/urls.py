from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studio import api, api_docs, health, views
from studio.request_limits import LOGIN_BODY_BYTES, body_limit
from training import deepstack

api_v1 = [
    path("auth/token", api.TokenCreateView.as_view(), name="api-token"),
    path("me", api.MeView.as_view(), name="api-me"),
    path("system/worker-checks", api.WorkerCheckListView.as_view(), name="api-worker-checks"),
    path(
        "system/worker-checks/<int:check_id>",
        api.WorkerCheckDetailView.as_view(),
        name="api-worker-check",
    ),
    path("", include("labeling.api_urls")),
    path("", include("training.api_urls")),
    path("schema", api_docs.SchemaView.as_view(), name="api-schema"),
    path("docs", api_docs.DocsView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "studio.not_found.not_found"  # JSON under /api/ (studio/not_found.py)
handler500 = "studio.server_error.server_error"  # JSON under /api/ as well

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path(
        "accounts/login/",
        body_limit(LOGIN_BODY_BYTES)(auth_views.LoginView.as_view()),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/", views.account, name="account"),
    path("system/", views.system, name="system"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # DeepStack / CodeProject.AI compatible detection (training/deepstack.py)
    path("v1/vision/detection", deepstack.detection, name="deepstack-detection"),
    path("v1/vision/custom/<str:model_name>", deepstack.custom, name="deepstack-custom"),
    path("", include("labeling.urls")),
    path("", include("training.urls")),
]
