from __future__ import annotations

from django.urls import path

from labeling import api, api_categories, api_datasets, api_images

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
    path(
        "projects/<int:project_id>/categories",
        api_categories.CategoryListView.as_view(),
        name="api-categories",
    ),
    path(
        "projects/<int:project_id>/categories/<int:category_id>",
        api_categories.CategoryDetailView.as_view(),
        name="api-category",
    ),
    path(
        "projects/<int:project_id>/categories/<int:category_id>/merge",
        api_categories.CategoryMergeView.as_view(),
        name="api-category-merge",
    ),
    path(
        "projects/<int:project_id>/images",
        api_images.ImageListView.as_view(),
        name="api-images",
    ),
    path(
        "projects/<int:project_id>/images/split",
        api_images.ImageSplitView.as_view(),
        name="api-images-split",
    ),
    path(
        "projects/<int:project_id>/images/<int:image_id>",
        api_images.ImageDetailView.as_view(),
        name="api-image",
    ),
    path(
        "projects/<int:project_id>/images/<int:image_id>/file",
        api_images.ImageFileView.as_view(),
        name="api-image-file",
    ),
    path(
        "projects/<int:project_id>/images/<int:image_id>/thumbnail",
        api_images.ImageThumbnailView.as_view(),
        name="api-image-thumbnail",
    ),
    path(
        "projects/<int:project_id>/resplit",
        api_images.ProjectResplitView.as_view(),
        name="api-project-resplit",
    ),
    path(
        "projects/<int:project_id>/health",
        api_images.ProjectHealthView.as_view(),
        name="api-project-health",
    ),
    path(
        "projects/<int:project_id>/imports",
        api_datasets.DatasetImportListView.as_view(),
        name="api-imports",
    ),
    path(
        "projects/<int:project_id>/imports/<int:import_id>",
        api_datasets.DatasetImportDetailView.as_view(),
        name="api-import",
    ),
    path(
        "projects/<int:project_id>/imports/<int:import_id>/report",
        api_datasets.DatasetImportReportView.as_view(),
        name="api-import-report",
    ),
    path(
        "projects/<int:project_id>/export/<slug:dataset_format>",
        api_datasets.ProjectExportView.as_view(),
        name="api-project-export",
    ),
]
