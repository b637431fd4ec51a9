"""REST API of dataset imports and exports: /projects/<id>/imports..., /export/<format>."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from labeling import formats
from labeling.api import ProjectScopedView
from labeling.api_images import AnyAccept
from labeling.dataset_export import ExportOptions, export_zip_stream
from labeling.dataset_import import dataset_import_enqueue
from labeling.models import DatasetImport
from labeling.permissions import Action
from studio.api_input import StrictSerializer
from studio.parsers import FormParser, JSONParser, MultiPartParser
from studio.request_limits import body_limit


class DatasetImportSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = DatasetImport
        fields = [
            "id", "source_name", "requested_format", "format", "status", "error", "images_added",
            "images_updated", "images_skipped", "boxes_added", "categories_added",
            "created_by", "created_at",
        ]  # fmt: skip


class DatasetImportDetailSerializer(DatasetImportSerializer):
    class Meta(DatasetImportSerializer.Meta):
        fields = [*DatasetImportSerializer.Meta.fields, "report"]


class ImportRequestSerializer(StrictSerializer):
    file = serializers.FileField(help_text="a zip of the dataset, or an annotation file")
    format = serializers.ChoiceField(choices=["auto", *formats.FORMATS], default="auto")

    def validate_file(self, upload):
        limit = settings.STUDIO_ZIP_MAX_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(f"The file is larger than {limit:,} bytes.")
        return upload


@body_limit(lambda: settings.STUDIO_MAX_UPLOAD_BYTES)
class DatasetImportListView(ProjectScopedView):
    """GET: past imports. POST (multipart ``file`` and ``format``): queue an import, which
    a worker runs all or nothing."""

    project_actions = {"GET": Action.VIEW, "POST": Action.IMPORT}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses=DatasetImportSerializer(many=True))
    def get(self, request, project_id: int):
        records = DatasetImport.objects.filter(project=self.project).select_related("created_by")[
            :100
        ]
        return Response(DatasetImportSerializer(records, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: DatasetImportSerializer},
        description="Queues the import: a worker runs it. Follow it at imports/<id> "
        "(status queued, running, then succeeded or failed with the reason).",
    )
    def post(self, request, project_id: int):
        payload = ImportRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        record = dataset_import_enqueue(
            project=self.project,
            upload=payload.validated_data["file"],
            format=payload.validated_data["format"],
            user=request.user,
        )
        return Response(DatasetImportSerializer(record).data, status=status.HTTP_202_ACCEPTED)


class DatasetImportDetailView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=DatasetImportDetailSerializer)
    def get(self, request, project_id: int, import_id: int):
        record = get_object_or_404(DatasetImport, project=self.project, pk=import_id)
        return Response(DatasetImportDetailSerializer(record).data)


class DatasetImportReportView(ProjectScopedView):
    """The import report as a JSON file to download."""

    project_actions = {"GET": Action.VIEW}
    content_negotiation_class = AnyAccept

    @extend_schema(responses={(200, "application/json"): dict})
    def get(self, request, project_id: int, import_id: int):
        record = get_object_or_404(DatasetImport, project=self.project, pk=import_id)
        body = {
            **DatasetImportSerializer(record).data,
            "report": record.report or {"summary": {}, "problems": []},
        }
        response = HttpResponse(
            json.dumps(body, indent=2, default=str), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{record.pk}-report.json"'
        return response


class ExportQuerySerializer(StrictSerializer):
    images = serializers.ChoiceField(
        choices=["labeled", "all"],
        default="labeled",
        help_text="labeled: images with boxes or marked 'no objects'; all: every image",
    )
    layout = serializers.ChoiceField(
        choices=["splits", "single"],
        default="splits",
        help_text="COCO only: instances_<split>.json per split, or one annotations.json",
    )


class ProjectExportView(ProjectScopedView):
    """The project as a dataset zip (images included), streamed."""

    project_actions = {"GET": Action.VIEW}
    content_negotiation_class = AnyAccept

    @extend_schema(parameters=[ExportQuerySerializer], responses={(200, "application/zip"): bytes})
    def get(self, request, project_id: int, dataset_format: str):
        format = dataset_format
        if format not in formats.FORMATS:
            return Response(
                {"detail": f"Unknown format {format!r}; known: {', '.join(formats.FORMATS)}."},
                status=status.HTTP_404_NOT_FOUND,
            )
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["layout"] == "single" and format != "coco":
            raise serializers.ValidationError(
                {"layout": ["Only a COCO export has a layout to choose."]}
            )
        options = ExportOptions(
            include_unlabeled=query.validated_data["images"] == "all",
            single_file=query.validated_data["layout"] == "single",
        )
        stream = export_zip_stream(project=self.project, format=format, options=options)
        response = StreamingHttpResponse(stream, content_type="application/zip")
        filename = f"{slugify(self.project.name) or 'project'}-{format}.zip"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
