"""REST API of one image's boxes (the editor's): read, save, history, revert, review.

/projects/<pid>/images/<iid>/annotations          GET state, PUT save (409 on an old version)
/projects/<pid>/images/<iid>/annotations/history  GET changes, newest first (paginated)
/projects/<pid>/images/<iid>/annotations/revert   POST restore a past change's state
/projects/<pid>/images/<iid>/review               POST accept or reject (owners)

The rules (versions, repeats, validation, status) are in labeling/annotations.py and
labeling/review.py; accepting and rejecting model suggestions in a save (``suggestion_id``
on a box, ``rejected_suggestions``) in labeling/suggestions.py.
"""

from __future__ import annotations

import io

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from labeling import annotations, review, selectors
from labeling.api import ProjectScopedView
from labeling.models import AnnotationChange, ImageStatus
from labeling.permissions import Action
from studio.api_input import StrictSerializer
from studio.pagination import LimitOffsetPagination
from studio.parsers import JSONParser
from studio.request_limits import body_limit


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


class LimitedJSONParser(JSONParser):
    """JSON, refused (413) beyond STUDIO_MAX_ANNOTATION_BODY_BYTES, read no further."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.STUDIO_MAX_ANNOTATION_BODY_BYTES
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        return super().parse(io.BytesIO(data), media_type, parser_context)


# --- Serializers (the bodies are plain dicts built by labeling/annotations.py) -------------


class OriginSerializer(serializers.Serializer):
    suggestion_id = serializers.IntegerField()
    model_id = serializers.IntegerField()
    model_version = serializers.IntegerField()
    job = serializers.IntegerField(
        allow_null=True, help_text="The pre-label job; null: from the model's label audit."
    )
    score = serializers.FloatField()


class BoxSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        required=False, allow_null=True, help_text="Omit (or null) for a new box."
    )
    category_id = serializers.IntegerField()
    bbox = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        help_text="[x, y, w, h] in original-image pixels (COCO).",
    )
    area = serializers.FloatField(read_only=True)
    suggestion_id = serializers.IntegerField(
        required=False,
        write_only=True,
        help_text="A new box made from this pending model suggestion (it becomes accepted).",
    )
    origin = OriginSerializer(
        read_only=True,
        required=False,
        help_text="Where the box came from, when it was made from a model suggestion.",
    )


@extend_schema_field(BoxSerializer(many=True))
class BoxListField(serializers.JSONField):
    """The boxes, checked by labeling/annotations.boxes_clean (clear per-box messages)."""

    def to_internal_value(self, data):
        # As parsed: boxes_clean says which box is wrong and why; here only the fields (a
        # box as read, with its read-only area and origin, may be sent back as it is).
        accepted = set(BoxSerializer().fields)
        for index, box in enumerate(data if isinstance(data, list) else []):
            unknown = sorted(set(box) - accepted) if isinstance(box, dict) else []
            if unknown:
                raise serializers.ValidationError(
                    f"Box {index}: unknown field {unknown[0]!r} (a box has "
                    f"{', '.join(sorted(accepted))})."
                )
        return data


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class AnnotationStateSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImageStatus.choices)
    no_objects = serializers.BooleanField()
    boxes = BoxSerializer(many=True)
    image = ImageSizeSerializer()
    labeled_by = serializers.CharField(allow_null=True)
    labeled_at = serializers.DateTimeField(allow_null=True)
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_comment = serializers.CharField(allow_blank=True)


class SaveResultSerializer(AnnotationStateSerializer):
    change_id = serializers.IntegerField(
        allow_null=True, help_text="The history row of this save; null when nothing changed."
    )
    replayed = serializers.BooleanField(
        help_text="True when this request_id had already been applied: its result again."
    )


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current = AnnotationStateSerializer()


_REQUEST_ID = serializers.RegexField(
    r"^[A-Za-z0-9._:-]*$",
    max_length=64,
    required=False,
    allow_blank=True,
    default="",
    help_text="The client's id of this save (a UUID): a repeat of it is applied once.",
)


class AnnotationSaveSerializer(StrictSerializer):
    base_version = serializers.IntegerField(min_value=0)
    request_id = _REQUEST_ID
    boxes = BoxListField()
    no_objects = serializers.BooleanField(default=False)
    rejected_suggestions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=10_000,
        help_text="Pending model suggestions of this image to mark rejected in this save.",
    )
    reopened_suggestions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=10_000,
        help_text="Accepted or rejected suggestions of this image to set back to pending "
        "(an undo); an accepted one's box must not be in this save.",
    )


class RevertSerializer(StrictSerializer):
    change_id = serializers.IntegerField(min_value=1)
    base_version = serializers.IntegerField(min_value=0)
    to = serializers.ChoiceField(
        choices=["after", "before"],
        default="after",
        help_text="Restore the state after the change (default) or before it.",
    )
    request_id = _REQUEST_ID


class ChangeSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()
    before = BoxListField(read_only=True)
    after = BoxListField(read_only=True)

    class Meta:
        model = AnnotationChange
        fields = [
            "id", "version", "kind", "user", "created_at", "request_id", "reverted_to",
            "no_objects_before", "no_objects", "before", "after",
        ]  # fmt: skip

    def get_user(self, change: AnnotationChange) -> str | None:
        return change.user.get_username() if change.user_id else None


class ReviewSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=[d.value for d in review.Decision])
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=review.MAX_COMMENT
    )
    base_version = serializers.IntegerField(
        min_value=0, help_text="The annotation version the reviewer looked at."
    )


class HistoryPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 50


def _conflict(conflict: annotations.AnnotationConflict) -> Response:
    return Response(
        {"detail": str(conflict), "current": conflict.state}, status=status.HTTP_409_CONFLICT
    )


# --- Views --------------------------------------------------------------------------------


@body_limit(lambda: settings.STUDIO_MAX_ANNOTATION_BODY_BYTES)
class _ImageBoxesView(ProjectScopedView):
    parser_classes = [LimitedJSONParser]

    def _image(self, image_id: int):
        return selectors.image_get(project=self.project, image_id=image_id)


class ImageAnnotationsView(_ImageBoxesView):
    project_actions = {"GET": Action.VIEW, "PUT": Action.ANNOTATE}

    @extend_schema(responses=AnnotationStateSerializer)
    def get(self, request, project_id: int, image_id: int):
        return Response(annotations.annotation_state(image=self._image(image_id)))

    @extend_schema(
        request=AnnotationSaveSerializer,
        responses={200: SaveResultSerializer, 409: ConflictSerializer, 413: dict},
        description="Replace the image's boxes with these (response boxes are in the "
        "request's order, with their ids). 409 when base_version is not the current "
        "version, with the current state in `current`; nothing changes.",
    )
    def put(self, request, project_id: int, image_id: int):
        payload = AnnotationSaveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = annotations.annotations_save(
                image=self._image(image_id), user=request.user, **payload.validated_data
            )
        except annotations.AnnotationConflict as conflict:
            return _conflict(conflict)
        return Response(result)


class ImageAnnotationHistoryView(_ImageBoxesView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=ChangeSerializer(many=True))
    def get(self, request, project_id: int, image_id: int):
        changes = annotations.annotation_history(image=self._image(image_id))
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(changes, request, view=self)
        return paginator.get_paginated_response(ChangeSerializer(page, many=True).data)


class ImageAnnotationRevertView(_ImageBoxesView):
    project_actions = {"POST": Action.ANNOTATE}

    @extend_schema(
        request=RevertSerializer,
        responses={200: SaveResultSerializer, 409: ConflictSerializer},
        description="Restore the boxes as they were after (or before) a change of the "
        "history; the restore is itself a new change.",
    )
    def post(self, request, project_id: int, image_id: int):
        payload = RevertSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = annotations.annotations_revert(
                image=self._image(image_id), user=request.user, **payload.validated_data
            )
        except annotations.AnnotationConflict as conflict:
            return _conflict(conflict)
        return Response(result)


class ImageReviewView(_ImageBoxesView):
    project_actions = {"POST": Action.REVIEW}

    @extend_schema(
        request=ReviewSerializer,
        responses={200: AnnotationStateSerializer, 409: ConflictSerializer},
        description="Accept (status reviewed) or reject (status rejected, comment needed) "
        "the boxes of the version the reviewer looked at.",
    )
    def post(self, request, project_id: int, image_id: int):
        payload = ReviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = review.image_review(
                image=self._image(image_id), user=request.user, **payload.validated_data
            )
        except annotations.AnnotationConflict as conflict:
            return _conflict(conflict)
        return Response(result)
