"""REST API of training runs (/api/v1/projects/<id>/runs...)."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from labeling.api import ProjectScopedView
from labeling.permissions import Action
from studio.api_input import StrictSerializer, refuse_unknown_fields
from training import selectors, services
from training.ml.config import PRESETS
from training.models import TrainingRun
from training.readiness import DataNotReady
from training.start_from import origin_of, start_model_get_for_user, start_point
from training.verdict import model_verdict


class RunStartSerializer(StrictSerializer):
    preset = serializers.ChoiceField(
        choices=PRESETS,
        required=False,
        help_text="Default: fast, or the preset of the model version in start_from.",
    )
    start_from = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Id of a model version to fine-tune from (of this project, or of another "
        "project of yours with a class in common); null or absent: the ImageNet backbone.",
    )
    time_budget_minutes = serializers.FloatField(required=False, min_value=0.1)
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    image_size = serializers.IntegerField(required=False, min_value=64, max_value=2048)
    augment = serializers.BooleanField(default=True)
    request_key = serializers.CharField(required=False, max_length=64, default="")


class RunSerializer(serializers.ModelSerializer):
    preset = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    model_page = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    started_from = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "status", "phase", "preset", "config", "dataset", "created_at", "started_at",
            "finished_at", "heartbeat_at", "attempts", "cancel_requested", "epoch", "epochs",
            "resumed_from_epoch", "elapsed_seconds", "eta_seconds", "progress", "device", "worker",
            "error", "result", "model_version", "model_page", "verdict", "started_from",
        ]  # fmt: skip

    def get_started_from(self, run: TrainingRun) -> dict:
        return origin_of(run)

    def get_preset(self, run: TrainingRun) -> str:
        return run.config.get("preset", "")

    def get_dataset(self, run: TrainingRun) -> dict | None:
        """The frozen dataset version; None until the run's worker has frozen it."""
        version = run.dataset_version
        if version is None:
            return None
        return {
            "id": version.pk,
            "content_hash": version.content_hash,
            "images": version.image_count,
            "boxes": version.box_count,
            "classes": version.class_names,
            "splits": version.split_counts,
        }

    def get_model_version(self, run: TrainingRun) -> int | None:
        model = getattr(run, "model_version", None)
        return model.version if model else None

    def get_verdict(self, run: TrainingRun) -> dict | None:
        """The verdict on the run's model version, in words (training/verdict.py)."""
        model = getattr(run, "model_version", None)
        return model_verdict(model) if model else None

    def get_model_page(self, run: TrainingRun) -> str | None:
        """The review page of the run's model version, once it has one."""
        model = getattr(run, "model_version", None)
        return reverse("model-detail", args=[run.project_id, model.pk]) if model else None


class RunDetailSerializer(RunSerializer):
    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "history", "loss_points", "log_tail"]


class RunListView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW, "POST": Action.TRAIN}

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, project_id: int):
        return Response(RunSerializer(selectors.run_list(project=self.project), many=True).data)

    @extend_schema(request=RunStartSerializer, responses={201: RunSerializer})
    def post(self, request, project_id: int):
        payload = RunStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        request_key = data.pop("request_key")
        start_id = data.pop("start_from", None)
        start_model, started_from = None, None
        if start_id is not None:  # 404 for a version the user cannot see; 400 saying why
            start_model = start_model_get_for_user(user=request.user, model_id=start_id)
            data["preset"], started_from = start_point(
                model=start_model, project=self.project, preset=data.get("preset")
            )
        config = services.run_config(**data, fine_tune=start_model is not None)
        try:
            run = services.run_start(
                project=self.project,
                config=config,
                user=request.user,
                request_key=request_key,
                start_model=start_model,
                started_from=started_from,
            )
        except DataNotReady as refused:
            # Every problem at once: the blocking sentences, then all with their links.
            raise ValidationError(
                {"dataset": refused.blocking, "problems": refused.problems}
            ) from None
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=RunDetailSerializer)
    def get(self, request, project_id: int, run_id: int):
        run = selectors.run_get(project=self.project, run_id=run_id)
        return Response(RunDetailSerializer(run).data)


class RunCancelView(ProjectScopedView):
    project_actions = {"POST": Action.TRAIN}

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, project_id: int, run_id: int):
        refuse_unknown_fields(request.data, ())
        run = selectors.run_get(project=self.project, run_id=run_id)
        return Response(RunSerializer(services.run_cancel(run=run)).data)


class RunFileView(ProjectScopedView):
    """The run's log tail (text) or its config (JSON), as a download."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses={200: OpenApiResponse(description="A text or JSON attachment")})
    def get(self, request, project_id: int, run_id: int, name: str):
        run = selectors.run_get(project=self.project, run_id=run_id)
        if name == "log.txt":
            body, content_type = run.log_tail, "text/plain; charset=utf-8"
        else:
            body, content_type = json.dumps(run.config, indent=2), "application/json"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-{name}"'
        return response
