"""REST API of a project's images: list and filter, upload, files, splits."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from labeling import health, ingest, selectors, services, splits
from labeling.api import ProjectScopedView
from labeling.health_alerts import health_alerts
from labeling.models import Image, ImageStatus, Split
from labeling.permissions import Action
from studio import media
from studio.api_input import StrictSerializer, refuse_unknown_fields
from studio.pagination import LimitOffsetPagination
from studio.parsers import FormParser, JSONParser, MultiPartParser
from studio.request_limits import body_limit

logger = logging.getLogger(__name__)


class ImageSerializer(serializers.ModelSerializer):
    box_count = serializers.IntegerField(read_only=True, default=None)
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id", "original_name", "width", "height", "format", "bytes", "sha256", "split",
            "status", "no_objects", "annotation_version", "box_count", "file_url",
            "thumbnail_url", "created_at",
        ]  # fmt: skip

    def get_file_url(self, image: Image) -> str:
        return image_url(image, "file")

    def get_thumbnail_url(self, image: Image) -> str:
        return image_url(image, "thumbnail")


def image_url(image: Image, variant: str) -> str:
    name = "api-image-file" if variant == "file" else "api-image-thumbnail"
    return reverse(name, args=[image.project_id, image.pk])


def neighbours_data(*, project, image: Image, filters: dict) -> dict:
    """The editor's previous and next images (as the image list serializes them)."""
    found = selectors.image_neighbours(project=project, image_id=image.pk, **filters)
    present = [found[key] for key in ("previous", "next") if found[key] is not None]
    selectors.with_box_counts(present)
    return {
        "previous": ImageSerializer(found["previous"]).data if found["previous"] else None,
        "next": ImageSerializer(found["next"]).data if found["next"] else None,
        "position": found["position"],
        "count": found["count"],
    }


class ImageFilterSerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    category = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=ImageStatus.choices, required=False)
    no_objects = serializers.BooleanField(required=False, allow_null=True, default=None)
    q = serializers.CharField(required=False, max_length=255, help_text="in the file name")
    tagged = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="has a box or no objects"
    )
    boxes = serializers.ChoiceField(
        choices=["tiny", "huge"], required=False, help_text="with a tiny or a huge box"
    )
    assignee = serializers.IntegerField(
        min_value=1, required=False, help_text="the id of the user the images are assigned to"
    )
    sort = serializers.ChoiceField(choices=list(selectors.IMAGE_SORTS), required=False)


class SetSplitSerializer(StrictSerializer):
    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )
    split = serializers.ChoiceField(choices=Split.choices)


class ImageIdsSerializer(StrictSerializer):
    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )


class AssignSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    count = serializers.IntegerField(min_value=1, max_value=100_000)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    status = serializers.ChoiceField(choices=ImageStatus.choices, required=False)
    tagged = serializers.BooleanField(required=False, allow_null=True, default=None)
    category = serializers.IntegerField(min_value=1, required=False)


class ResplitSerializer(StrictSerializer):
    train = serializers.IntegerField(min_value=0, max_value=100, default=70)
    val = serializers.IntegerField(min_value=0, max_value=100, default=20)
    test = serializers.IntegerField(min_value=0, max_value=100, default=10)
    seed = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ImagePagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


@body_limit(lambda: settings.STUDIO_MAX_UPLOAD_BYTES)
class ImageListView(ProjectScopedView):
    """GET: the images, filtered and paginated. POST (multipart, field ``files``, many
    files and zip archives): add them; one result per file, refused ones with a reason."""

    project_actions = {"GET": Action.VIEW, "POST": Action.ANNOTATE}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(parameters=[ImageFilterSerializer], responses=ImageSerializer(many=True))
    def get(self, request, project_id: int):
        filters = ImageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        images = selectors.image_list(project=self.project, **filters.validated_data)
        paginator = ImagePagination()
        page = selectors.with_box_counts(paginator.paginate_queryset(images, request, view=self))
        return paginator.get_paginated_response(ImageSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"files": {
            "type": "array", "items": {"type": "string", "format": "binary"}}}}},
        responses={200: dict},
    )  # fmt: skip
    def post(self, request, project_id: int):
        refuse_unknown_fields(request.data, {"files"})
        files = request.FILES.getlist("files")
        if not files:
            raise serializers.ValidationError(
                {"files": ["Send the images (and zip archives) as multipart field 'files'."]}
            )
        sources = [ingest.Source(file.name or "upload", file) for file in files]
        results = ingest.images_ingest(project=self.project, sources=sources, user=request.user)
        counts = {s: sum(1 for r in results if r.status == s) for s in ("added", "duplicate")}
        counts["refused"] = len(results) - counts["added"] - counts["duplicate"]
        return Response({**counts, "results": [r.to_dict() for r in results]})


class ImageDetailView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW, "DELETE": Action.EDIT_PROJECT}

    @extend_schema(responses=ImageSerializer)
    def get(self, request, project_id: int, image_id: int):
        image = selectors.image_get(project=self.project, image_id=image_id)
        [image] = selectors.with_box_counts([image])
        return Response(ImageSerializer(image).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, image_id: int):
        services.image_delete(image=selectors.image_get(project=self.project, image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NeighboursSerializer(serializers.Serializer):
    previous = ImageSerializer(allow_null=True)
    next = ImageSerializer(allow_null=True)
    position = serializers.IntegerField(help_text="1-based place of the image in the list")
    count = serializers.IntegerField(help_text="images that pass the filters")


class ImageNeighboursView(ProjectScopedView):
    """The images before and after this one in the image list's order under the same
    filters as the list (the box editor's previous/next)."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(parameters=[ImageFilterSerializer], responses=NeighboursSerializer)
    def get(self, request, project_id: int, image_id: int):
        image = selectors.image_get(project=self.project, image_id=image_id)
        filters = ImageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(
            neighbours_data(project=self.project, image=image, filters=filters.validated_data)
        )


class AnyAccept(BaseContentNegotiation):
    """Files are files whatever the Accept header says (an <img> asks for image/*)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _ImageFileView(ProjectScopedView):
    """The pixels, to members only: never from a public URL, never as HTML."""

    project_actions = {"GET": Action.VIEW}
    content_negotiation_class = AnyAccept
    variant = "file"

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, project_id: int, image_id: int) -> HttpResponse:
        image = selectors.image_get(project=self.project, image_id=image_id)
        etag = f'"{image.sha256}-{self.variant}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            if self.variant == "file":
                name, content_type = image.file.name, image.content_type
                extension = PurePosixPath(name).suffix
            else:
                name, content_type, extension = image.thumbnail.name, "image/jpeg", ".jpg"
            stem = PurePosixPath(image.original_name).stem or "image"
            try:
                handle = media.open_stream(name)
            except FileNotFoundError:
                logger.error("image %s: %s is missing from the storage", image.pk, name)
                raise Http404("The file is missing from the storage.") from None
            response = FileResponse(
                handle, content_type=content_type, filename=f"{stem}{extension}"
            )
            if "Content-Length" not in response and (size := media.stream_size(handle)):
                response["Content-Length"] = size
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=86400"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


class ImageFileView(_ImageFileView):
    variant = "file"


class ImageThumbnailView(_ImageFileView):
    variant = "thumbnail"


class ImageSplitView(ProjectScopedView):
    """Set the split of selected images."""

    project_actions = {"POST": Action.EDIT_PROJECT}

    @extend_schema(request=SetSplitSerializer, responses={200: dict})
    def post(self, request, project_id: int):
        payload = SetSplitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changed = splits.images_set_split(project=self.project, **payload.validated_data)
        return Response({"changed": changed})


class ImageDeleteView(ProjectScopedView):
    """Delete selected images with their boxes and history (frozen dataset versions keep
    theirs: their COCO files and the image files they name stay)."""

    project_actions = {"POST": Action.EDIT_PROJECT}

    @extend_schema(request=ImageIdsSerializer, responses={200: dict})
    def post(self, request, project_id: int):
        payload = ImageIdsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        deleted = services.images_delete(
            project_id=self.project.pk, image_ids=payload.validated_data["image_ids"]
        )
        return Response({"deleted": deleted})


class ImageAssignView(ProjectScopedView):
    """An annotation job: assign up to ``count`` unassigned images that pass the filters
    (the grid's order) to a member who annotates."""

    project_actions = {"POST": Action.MANAGE_MEMBERS}

    @extend_schema(request=AssignSerializer, responses={200: dict})
    def post(self, request, project_id: int):
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        username, count = data.pop("username"), data.pop("count")
        filters = {k: v for k, v in data.items() if v is not None}
        assigned = services.images_assign(
            project=self.project, username=username, count=count, filters=filters
        )
        return Response({"assigned": assigned})


class ProjectResplitView(ProjectScopedView):
    """Re-split every image of the project in the given proportions (default 70/20/10)."""

    project_actions = {"POST": Action.EDIT_PROJECT}

    @extend_schema(request=ResplitSerializer, responses={200: dict})
    def post(self, request, project_id: int):
        payload = ResplitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        counts = splits.project_resplit(project=self.project, **payload.validated_data)
        return Response({"counts": counts})


class ProjectHealthView(ProjectScopedView):
    """Dataset health: counts per split and class, empty images, image and box sizes."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        report = health.project_health(project=self.project)
        report["alerts"] = health_alerts(project=self.project, report=report)
        return Response(report)
