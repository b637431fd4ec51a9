from __future__ import annotations

from django.urls import path

from training import views

urlpatterns = [
    path("projects/<int:project_id>/train/", views.train_form, name="train"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run-detail"),
]
