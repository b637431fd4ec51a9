"""REST API of model-assisted labeling.

/projects/<pid>/prelabel                        GET jobs (newest first), POST start one (202)
/projects/<pid>/prelabel/<job_id>               GET a job and its progress
/projects/<pid>/prelabel/<job_id>/cancel        POST cancel it
/projects/<pid>/images/most-useful              GET unlabeled images, least sure first

The rules are in training/prelabel.py. The suggestions a job makes are labeling's: the
editor reads them from labeling/api_suggestions.py (contract: labeling/suggestions.py).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from labeling.api import ProjectScopedView
from labeling.models import ImageStatus, Split
from labeling.permissions import Action
from studio.api_input import StrictSerializer, refuse_unknown_fields
from studio.pagination import LimitOffsetPagination
from training import prelabel
from training.models import ModelVersion, PrelabelJob
from training.verdict import confirmation_needed


class PrelabelFiltersSerializer(StrictSerializer):
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    category = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=ImageStatus.choices, required=False)
    no_objects = serializers.BooleanField(required=False)


class PrelabelStartSerializer(StrictSerializer):
    model = serializers.IntegerField(min_value=1, help_text="A model version id of the project.")
    threshold = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=1,
        help_text="Keep detections scoring at least this (every class); default: the "
        "model's saved threshold and per-class thresholds.",
    )
    filters = PrelabelFiltersSerializer(
        required=False,
        help_text="Which images, as the image list filters them; default: "
        '{"status": "unlabeled"}; {} for every image.',
    )
    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=100_000,
        help_text="Only these images (further narrowed by the filters).",
    )
    confirm = serializers.BooleanField(
        default=False, help_text="Needed to pre-label with a version judged not usable yet."
    )


class PrelabelJobSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model.version", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = PrelabelJob
        fields = [
            "id", "url", "model", "model_version", "status", "threshold", "filters", "total",
            "processed", "suggestion_count", "failed_images", "cancel_requested", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_url(self, job: PrelabelJob) -> str:
        return reverse("api-prelabel-job", args=[job.project_id, job.pk])


class UsefulImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    original_name = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    split = serializers.CharField()
    file_url = serializers.CharField()
    thumbnail_url = serializers.CharField()


class UsefulResultSerializer(serializers.Serializer):
    image = UsefulImageSerializer()
    uncertainty = serializers.FloatField()
    borderline = serializers.IntegerField()
    suggested = serializers.IntegerField()
    max_score = serializers.FloatField()


class MostUsefulSerializer(serializers.Serializer):
    job = PrelabelJobSerializer(allow_null=True)
    count = serializers.IntegerField()
    results = UsefulResultSerializer(many=True)


class JobPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


class UsefulPagination(LimitOffsetPagination):
    """Pages of "label next most useful", whose count is taken from the unlabeled images
    (prelabel.images_most_useful_count), not by counting every result of the job."""

    default_limit = 24
    max_limit = 200

    def __init__(self, count: int) -> None:
        self.known_count = count

    def get_count(self, queryset) -> int:
        return self.known_count


class PrelabelJobListView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW, "POST": Action.ANNOTATE}

    @extend_schema(responses=PrelabelJobSerializer(many=True))
    def get(self, request, project_id: int):
        jobs = PrelabelJob.objects.filter(project=self.project).select_related("model")
        paginator = JobPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(PrelabelJobSerializer(page, many=True).data)

    @extend_schema(
        request=PrelabelStartSerializer,
        responses={202: PrelabelJobSerializer, 409: dict},
        description="Pre-label images with a model version: a worker stores its detections "
        "as suggestions (never labels until accepted). 409 while another job of the "
        "project is queued or running.",
    )
    def post(self, request, project_id: int):
        payload = PrelabelStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        model = get_object_or_404(ModelVersion, project=self.project, pk=data["model"])
        refused = confirmation_needed(model, confirmed=data["confirm"], use="a pre-labeling model")
        if refused:
            raise serializers.ValidationError({"model": refused})
        try:
            job = prelabel.prelabel_start(
                project=self.project,
                model=model,
                user=request.user,
                threshold=data.get("threshold"),
                filters=data.get("filters"),
                image_ids=data.get("image_ids"),
            )
        except prelabel.PrelabelBusy as busy:
            return Response(
                {"detail": str(busy), "job": PrelabelJobSerializer(busy.job).data},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(PrelabelJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class _JobView(ProjectScopedView):
    def _job(self, job_id: int) -> PrelabelJob:
        jobs = PrelabelJob.objects.select_related("model")
        return get_object_or_404(jobs, project=self.project, pk=job_id)


class PrelabelJobDetailView(_JobView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=PrelabelJobSerializer)
    def get(self, request, project_id: int, job_id: int):
        return Response(PrelabelJobSerializer(self._job(job_id)).data)


class PrelabelJobCancelView(_JobView):
    project_actions = {"POST": Action.ANNOTATE}

    @extend_schema(request=None, responses=PrelabelJobSerializer)
    def post(self, request, project_id: int, job_id: int):
        refuse_unknown_fields(request.data, ())
        job = prelabel.prelabel_cancel(job=self._job(job_id))
        return Response(PrelabelJobSerializer(job).data)


class ImagesMostUsefulView(ProjectScopedView):
    """Unlabeled images ordered by how unsure the model was about them (the project's
    latest finished pre-label job, or that of ``model``): label these first."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(
        parameters=[OpenApiParameter("model", int, description="A model version id.")],
        responses=MostUsefulSerializer,
    )
    def get(self, request, project_id: int):
        model = request.query_params.get("model")
        if model is not None and not model.isdigit():
            raise serializers.ValidationError({"model": "A model version id."})
        job = prelabel.latest_finished_job(
            project=self.project, model_id=int(model) if model else None
        )
        if job is None:
            return Response({"job": None, "count": 0, "results": []})
        paginator = UsefulPagination(prelabel.images_most_useful_count(job=job))
        page = paginator.paginate_queryset(prelabel.images_most_useful(job=job), request, view=self)
        results = [
            {
                "image": {
                    "id": r.image.pk,
                    "original_name": r.image.original_name,
                    "width": r.image.width,
                    "height": r.image.height,
                    "split": r.image.split,
                    "file_url": reverse("api-image-file", args=[project_id, r.image.pk]),
                    "thumbnail_url": reverse("api-image-thumbnail", args=[project_id, r.image.pk]),
                },
                "uncertainty": r.uncertainty,
                "borderline": r.borderline,
                "suggested": r.suggested,
                "max_score": r.max_score,
            }
            for r in page
        ]
        return Response(
            {"job": PrelabelJobSerializer(job).data, "count": paginator.count, "results": results}
        )
