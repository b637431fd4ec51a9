"""REST API of export jobs: /projects/<id>/exports (POST to prepare one, GET the recent
ones), exports/<id> (its state and progress), exports/<id>/file (the zip, once ready)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from labeling import formats
from labeling.api import ProjectScopedView
from labeling.api_images import AnyAccept
from labeling.dataset_export import ExportOptions
from labeling.export_jobs import export_file_name, export_job_enqueue
from labeling.models import DatasetExport
from labeling.permissions import Action
from studio import media
from studio.api_input import StrictSerializer


class DatasetExportSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    download = serializers.SerializerMethodField()

    class Meta:
        model = DatasetExport
        fields = [
            "id", "format", "options", "status", "images_done", "images_total", "size",
            "error", "created_by", "created_at", "finished_at", "download",
        ]  # fmt: skip

    def get_download(self, record) -> str | None:
        """The file's URL once it is ready, none before."""
        if record.status != DatasetExport.Status.SUCCEEDED:
            return None
        return reverse("api-export-file", args=[record.project_id, record.pk])


class ExportJobRequestSerializer(StrictSerializer):
    format = serializers.ChoiceField(choices=list(formats.FORMATS))
    images = serializers.ChoiceField(choices=["labeled", "all"], default="labeled")
    layout = serializers.ChoiceField(choices=["splits", "single"], default="splits")

    def validate(self, attrs):
        if attrs["layout"] == "single" and attrs["format"] != "coco":
            raise serializers.ValidationError(
                {"layout": ["Only a COCO export has a layout to choose."]}
            )
        return attrs


class ExportJobListView(ProjectScopedView):
    """GET: the recent export jobs. POST (format, images, layout): queue one; a worker
    writes the zip, exports/<id> follows it, exports/<id>/file downloads it."""

    project_actions = {"GET": Action.VIEW, "POST": Action.VIEW}

    @extend_schema(responses=DatasetExportSerializer(many=True))
    def get(self, request, project_id: int):
        records = DatasetExport.objects.filter(project=self.project).select_related("created_by")[
            :20
        ]
        return Response(DatasetExportSerializer(records, many=True).data)

    @extend_schema(request=ExportJobRequestSerializer, responses={202: DatasetExportSerializer})
    def post(self, request, project_id: int):
        payload = ExportJobRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        options = ExportOptions(
            include_unlabeled=payload.validated_data["images"] == "all",
            single_file=payload.validated_data["layout"] == "single",
        )
        record = export_job_enqueue(
            project=self.project,
            format=payload.validated_data["format"],
            options=options,
            user=request.user,
        )
        return Response(DatasetExportSerializer(record).data, status=status.HTTP_202_ACCEPTED)


class ExportJobDetailView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=DatasetExportSerializer)
    def get(self, request, project_id: int, export_id: int):
        record = get_object_or_404(DatasetExport, project=self.project, pk=export_id)
        return Response(DatasetExportSerializer(record).data)


class ExportJobFileView(ProjectScopedView):
    """The prepared zip, streamed from the storage (404 until it is ready)."""

    project_actions = {"GET": Action.VIEW}
    content_negotiation_class = AnyAccept

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, project_id: int, export_id: int):
        record = get_object_or_404(
            DatasetExport.objects.select_related("project"),
            project=self.project,
            pk=export_id,
            status=DatasetExport.Status.SUCCEEDED,
        )
        try:
            handle = media.open_stream(record.file)
        except FileNotFoundError:
            raise Http404("The export's file is missing from the storage.") from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=export_file_name(record),
            content_type="application/zip",
        )
        if "Content-Length" not in response and (size := media.stream_size(handle)):
            response["Content-Length"] = size
        response["X-Content-Type-Options"] = "nosniff"
        return response
