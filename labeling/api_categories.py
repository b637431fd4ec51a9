"""REST API of a project's classes: /api/v1/projects/<id>/categories[/<id>[/merge]]."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from labeling import categories, selectors
from labeling.api import ProjectScopedView
from labeling.models import Category
from labeling.permissions import Action
from studio.api_input import StrictSerializer


class CategorySerializer(serializers.ModelSerializer):
    box_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Category
        fields = ["id", "name", "color", "shortcut", "order", "box_count"]


class CategoryWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=categories.MAX_NAME)
    color = serializers.CharField(max_length=7, required=False)
    shortcut = serializers.CharField(max_length=1, required=False, allow_blank=True)
    order = serializers.IntegerField(min_value=0, max_value=100_000, required=False)


class ShortcutSerializer(StrictSerializer):
    category_id = serializers.IntegerField()
    shortcut = serializers.CharField(
        max_length=1, allow_blank=True, trim_whitespace=False, help_text='one key; "" for none'
    )


class ShortcutsSerializer(StrictSerializer):
    shortcuts = ShortcutSerializer(
        many=True, allow_empty=False, help_text="Classes not named keep their keys."
    )

    def validate_shortcuts(self, value: list[dict]) -> dict[int, str]:
        ids = [item["category_id"] for item in value]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError("Name each class once.")
        return {item["category_id"]: item["shortcut"] for item in value}


class CategoryDeleteSerializer(serializers.Serializer):
    confirm_box_count = serializers.IntegerField(min_value=0, required=False)


class CategoryMergeSerializer(StrictSerializer):
    into = serializers.IntegerField(help_text="id of the class that receives the boxes")


def _with_counts(project) -> list[Category]:
    return selectors.category_list(project=project)


def _one_with_count(project, category_id: int) -> Category:
    return next(c for c in _with_counts(project) if c.pk == category_id)


class CategoryListView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW, "POST": Action.EDIT_PROJECT}

    @extend_schema(responses=CategorySerializer(many=True))
    def get(self, request, project_id: int):
        return Response(CategorySerializer(_with_counts(self.project), many=True).data)

    @extend_schema(request=CategoryWriteSerializer, responses={201: CategorySerializer})
    def post(self, request, project_id: int):
        payload = CategoryWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        category = categories.category_create(project=self.project, **payload.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailView(ProjectScopedView):
    project_actions = {"PATCH": Action.EDIT_PROJECT, "DELETE": Action.EDIT_PROJECT}

    def _category(self, category_id: int) -> Category:
        return get_object_or_404(Category, project=self.project, pk=category_id)

    @extend_schema(request=CategoryWriteSerializer(partial=True), responses=CategorySerializer)
    def patch(self, request, project_id: int, category_id: int):
        category = self._category(category_id)
        payload = CategoryWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        categories.category_update(category=category, **payload.validated_data)
        return Response(CategorySerializer(_one_with_count(self.project, category.pk)).data)

    @extend_schema(
        parameters=[CategoryDeleteSerializer],
        responses={204: None, 409: dict},
        description="A class with boxes is deleted only with ?confirm_box_count=N, N being "
        "its number of boxes; otherwise 409 with that number in box_count.",
    )
    def delete(self, request, project_id: int, category_id: int):
        category = self._category(category_id)
        payload = CategoryDeleteSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        try:
            categories.category_delete(category=category, **payload.validated_data)
        except categories.BoxDeletionNotConfirmed as refusal:
            return Response(
                {"detail": refusal.messages[0], "box_count": refusal.box_count},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CategoryMergeView(ProjectScopedView):
    project_actions = {"POST": Action.EDIT_PROJECT}

    @extend_schema(request=CategoryMergeSerializer, responses=CategorySerializer)
    def post(self, request, project_id: int, category_id: int):
        source = get_object_or_404(Category, project=self.project, pk=category_id)
        payload = CategoryMergeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        target = get_object_or_404(
            Category, project=self.project, pk=payload.validated_data["into"]
        )
        categories.category_merge(source=source, target=target)
        return Response(CategorySerializer(_one_with_count(self.project, target.pk)).data)


class CategoryShortcutsView(ProjectScopedView):
    """The classes' keyboard shortcuts in the box editor, set together (so two classes can
    swap keys); annotators may change them. 400 on a clash, naming it; nothing changes."""

    project_actions = {"PUT": Action.ANNOTATE}

    @extend_schema(request=ShortcutsSerializer, responses=CategorySerializer(many=True))
    def put(self, request, project_id: int):
        payload = ShortcutsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        categories.category_shortcuts_set(
            project=self.project, shortcuts=payload.validated_data["shortcuts"]
        )
        return Response(CategorySerializer(_with_counts(self.project), many=True).data)
