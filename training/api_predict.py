"""POST /api/v1/models/<id>/predict: run a model version on uploaded images.

Multipart: one or more files in field ``image`` (or ``images``), at most
STUDIO_PREDICT_MAX_IMAGES per call; optional ``threshold`` (0..1, for every class;
default: the model's saved threshold and per-class thresholds), ``iou`` (a stricter NMS
than the model's own; higher values change nothing), ``classes`` (class names, repeated
or comma-separated) and ``max_detections`` (at most the model's own cap, 100). Boxes are
in the pixels of each uploaded image (after its EXIF orientation). Any member of the
model's project may call it (token or session authentication).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import ingest
from labeling.permissions import Action
from studio.api_input import StrictSerializer
from studio.parsers import FormParser, MultiPartParser
from studio.request_limits import FORM_OVERHEAD, body_limit
from training import inference, selectors
from training.api_models import ModelScopedView


class Refusal(APIException):
    """A 4xx answer with a message: {"detail": "..."}."""

    def __init__(self, detail: str, status: int) -> None:
        self.status_code = status
        super().__init__(detail)


class PredictParamsSerializer(StrictSerializer):
    also_accepted = frozenset({"image", "images"})  # the files, read by the view

    threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    iou = serializers.FloatField(required=False, min_value=0.01, max_value=1)
    classes = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False, max_length=1000
    )
    max_detections = serializers.IntegerField(required=False, min_value=1, max_value=10_000)

    def validate_classes(self, value: list[str]) -> tuple[str, ...]:
        names = [name.strip() for item in value for name in item.split(",")]
        return tuple(name for name in names if name)


class DetectionSerializer(serializers.Serializer):
    x_min = serializers.FloatField()
    y_min = serializers.FloatField()
    x_max = serializers.FloatField()
    y_max = serializers.FloatField()
    class_id = serializers.IntegerField(help_text="Index into the model's class names.")
    class_name = serializers.CharField()
    category_id = serializers.IntegerField(
        allow_null=True, help_text="The project's class of that name (null if none)."
    )
    score = serializers.FloatField()


class TimingSerializer(serializers.Serializer):
    decode = serializers.FloatField()
    inference = serializers.FloatField()
    postprocess = serializers.FloatField()


class ImageResultSerializer(serializers.Serializer):
    file = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    detections = DetectionSerializer(many=True)
    timing_ms = TimingSerializer()


class PredictModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    project = serializers.IntegerField()


class PredictTotalSerializer(serializers.Serializer):
    total = serializers.FloatField()


class PredictResultSerializer(serializers.Serializer):
    model = PredictModelSerializer()
    threshold = serializers.FloatField(allow_null=True)
    class_thresholds = serializers.DictField(child=serializers.FloatField())
    iou = serializers.FloatField()
    max_detections = serializers.IntegerField()
    results = ImageResultSerializer(many=True)
    timing_ms = PredictTotalSerializer()


_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "threshold": {"type": "number"},
            "iou": {"type": "number"},
            "classes": {"type": "array", "items": {"type": "string"}},
            "max_detections": {"type": "integer"},
        },
        "required": ["image"],
    }
}


@body_limit(
    lambda: settings.STUDIO_PREDICT_MAX_IMAGES * settings.STUDIO_MAX_IMAGE_BYTES + FORM_OVERHEAD
)
class ModelPredictView(ModelScopedView):
    project_actions = {"POST": Action.VIEW}
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        # As ModelScopedView, with the model and the role in one query.
        self.perform_authentication(request)
        if request.user.is_authenticated:
            self.model, self.role = selectors.model_get_with_role(
                user=request.user, model_id=kwargs["model_id"]
            )
            self.project = self.model.project
        APIView.initial(self, request, *args, **kwargs)

    @extend_schema(
        request=_REQUEST,
        responses={200: PredictResultSerializer, 400: dict, 409: dict, 413: dict},
        description="Detections of each uploaded image (boxes in its pixels).",
    )
    def post(self, request, model_id: int):
        params = PredictParamsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        files = request.FILES.getlist("image") + request.FILES.getlist("images")
        if not files:
            raise Refusal("Send the image as a multipart file field 'image'.", 400)
        limit = settings.STUDIO_PREDICT_MAX_IMAGES
        if len(files) > limit:
            raise Refusal(f"At most {limit} images per call; this one has {len(files)}.", 400)
        images = []
        for upload in files:
            name = ingest.safe_name(upload.name or "image")
            try:
                images.append((name, ingest.read_limited(upload)))
            except ingest.Refused as refusal:
                raise Refusal(f"{name}: the image was refused: {refusal}.", 413) from None
        try:
            result = inference.predict_images(
                model=self.model,
                images=images,
                options=inference.PredictOptions(**params.validated_data),
            )
        except inference.PredictError as error:
            raise Refusal(str(error), error.status) from None
        return Response(result)
