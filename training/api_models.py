"""REST API of model versions: list, threshold, production flag, name and notes,
deletion, downloads."""

from __future__ import annotations

import io
import json

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import selectors as labeling_selectors
from labeling.api import ProjectScopedView
from labeling.permissions import (
    Action,
    ProjectRolePermission,
    model_update_action,
    role_require,
)
from studio import media
from studio.api_input import StrictSerializer
from training import registry, selectors
from training.models import ModelVersion
from training.start_from import origin_of
from training.verdict import confirmation_needed, model_verdict


class Conflict(APIException):
    status_code = 409
    default_code = "conflict"


class ModelSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True)
    class_names = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    started_from = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id", "version", "run", "created_at", "metrics", "threshold", "class_thresholds",
            "is_production", "name", "notes", "onnx_bytes", "class_names", "verdict",
            "started_from",
        ]  # fmt: skip

    def get_started_from(self, model: ModelVersion) -> dict:
        """What its run started from (training/start_from.py): the ImageNet backbone or
        a model version, with the class match."""
        return origin_of(model.run)

    def get_verdict(self, model: ModelVersion) -> dict:
        return model_verdict(model)

    def get_class_names(self, model: ModelVersion) -> list[str]:
        return registry.class_names(model)


class ModelUpdateSerializer(StrictSerializer):
    threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    class_thresholds = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1),
        required=False,
        help_text="{class name: threshold}: per-class overrides of `threshold` (replace the "
        "saved ones; {} removes them)",
    )
    is_production = serializers.BooleanField(required=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    confirm = serializers.BooleanField(
        default=False,
        help_text="Needed with is_production: true for a version judged not usable yet.",
    )


class ModelListView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request, project_id: int):
        models = selectors.model_list(project=self.project).select_related("project")
        return Response(ModelSerializer(models, many=True).data)


class ModelScopedView(APIView):
    """Base of /models/<model_id>...: 404 unless the user is a member of its project."""

    permission_classes = [ProjectRolePermission]
    project_actions: dict[str, Action] = {}

    def initial(self, request, *args, **kwargs):
        self.perform_authentication(request)
        if request.user.is_authenticated:
            self.model = selectors.model_get_for_user(
                user=request.user, model_id=kwargs["model_id"]
            )
            self.project, self.role = labeling_selectors.project_get_with_role(
                user=request.user, project_id=self.model.project_id
            )
        super().initial(request, *args, **kwargs)

    def get_project_role(self) -> str | None:
        return getattr(self, "role", None)


class ModelDetailView(ModelScopedView):
    """PATCH needs TRAIN, and SERVE (owners) for the production flag or the thresholds
    of the production version (labeling/permissions.py). DELETE needs TRAIN and answers
    409 for the production version (or one a pre-label job is using)."""

    project_actions = {"GET": Action.VIEW, "PATCH": Action.TRAIN, "DELETE": Action.TRAIN}

    @extend_schema(responses=ModelSerializer)
    def get(self, request, model_id: int):
        return Response(ModelSerializer(self.model).data)

    @extend_schema(request=ModelUpdateSerializer, responses=ModelSerializer)
    def patch(self, request, model_id: int):
        payload = ModelUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        confirmed = data.pop("confirm")
        if data.get("is_production") and not self.model.is_production:
            refused = confirmation_needed(
                self.model, confirmed=confirmed, use="the production model"
            )
            if refused:
                raise ValidationError({"is_production": refused})
        fields = data.keys()
        role_require(
            self.role, model_update_action(is_production=self.model.is_production, fields=fields)
        )
        model = registry.model_update(model=self.model, **data)
        return Response(ModelSerializer(model).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="not deletable now")})
    def delete(self, request, model_id: int):
        try:
            registry.model_delete(model=self.model, user=request.user)
        except registry.ModelNotDeletable as exc:
            raise Conflict(str(exc)) from None
        return Response(status=204)


class ModelDownloadView(ModelScopedView):
    """Download one artifact of a model version, as an attachment (streamed)."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(
        parameters=[OpenApiParameter("artifact", enum=sorted(registry.ARTIFACTS), default="onnx")],
        responses={200: OpenApiResponse(description="the file, as an attachment")},
    )
    def get(self, request, model_id: int):
        artifact = request.query_params.get("artifact", "onnx")
        if artifact not in registry.ARTIFACTS:
            choices = ", ".join(sorted(registry.ARTIFACTS))
            raise ValidationError({"artifact": f"Unknown artifact {artifact!r}: one of {choices}."})
        filename, content_type = registry.ARTIFACTS[artifact]
        model = self.model
        if artifact == "checkpoint":
            body = media.open_stream(model.checkpoint_file)
        elif artifact == "onnx":
            body = io.BytesIO(registry.onnx_bytes(model))
        elif artifact == "sidecar":
            body = io.BytesIO(json.dumps(registry.sidecar(model), indent=2).encode())
        elif artifact == "labels":
            body = io.BytesIO(registry.labels_text(model).encode())
        elif artifact == "blueonyx":
            try:
                body = io.BytesIO(registry.blueonyx_zip(model))
            except ValueError as exc:
                raise Conflict(f"No Blue Onyx variant of this model: {exc}.") from None
        else:
            body = io.BytesIO(registry.model_card(model).encode())
        stem = f"{model.project.name}-v{model.version}".replace(" ", "_")
        response = FileResponse(
            body, as_attachment=True, filename=f"{stem}-{filename}", content_type=content_type
        )
        if "Content-Length" not in response and (size := media.stream_size(body)):
            response["Content-Length"] = size
        response["X-Content-Type-Options"] = "nosniff"
        return response
