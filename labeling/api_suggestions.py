"""REST API of an image's model suggestions, as the editor reads them.

/projects/<pid>/images/<iid>/suggestions        GET an image's pending suggestions

The editor's contract is in labeling/suggestions.py; decisions go in the annotation save
(labeling/api_annotations.py). Pre-label jobs, which make suggestions, are training's.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from labeling import selectors, suggestions
from labeling.api import ProjectScopedView
from labeling.permissions import Action


class SuggestionModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()


class SuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    category_id = serializers.IntegerField()
    bbox = serializers.ListField(
        child=serializers.FloatField(), help_text="[x, y, w, h] in the image's pixels."
    )
    score = serializers.FloatField()
    model_version = SuggestionModelSerializer()
    job = serializers.IntegerField(
        allow_null=True, help_text="The pre-label job; null: from the model's label audit."
    )
    created_at = serializers.DateTimeField()


class ImageSuggestionsSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    suggestions = SuggestionSerializer(many=True)


class ImageSuggestionsView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses=ImageSuggestionsSerializer)
    def get(self, request, project_id: int, image_id: int):
        image = selectors.image_get(project=self.project, image_id=image_id)
        found = [suggestions.suggestion_dict(s) for s in suggestions.suggestion_list(image=image)]
        return Response({"image": image.pk, "suggestions": found})
