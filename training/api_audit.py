"""REST API of a model version's label audit (training/label_audit.py).

/models/<mid>/audit                               GET the audit and its candidates
/models/<mid>/audit/<index>/suggestion            POST propose candidate <index> as a
                                                  suggestion of its image (the editor's)
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from labeling.permissions import Action
from studio.api_input import refuse_unknown_fields
from training import label_audit
from training.api_models import ModelScopedView


class ModelAuditView(ModelScopedView):
    """The model's possible missing labels: confident detections far from every labelled
    box of its test images (``status`` "done", "unavailable" with a ``reason``, or
    "not_run" for a model trained before the studio audited labels)."""

    project_actions = {"GET": Action.VIEW}

    @extend_schema(responses={200: OpenApiResponse(description="the audit")})
    def get(self, request, model_id: int):
        return Response(label_audit.model_audit(model=self.model))


class AuditCandidateSuggestionView(ModelScopedView):
    """Make a candidate a model suggestion of its image, to accept or reject in the box
    editor (``editor`` opens it there); proposed once: the same suggestion after that."""

    project_actions = {"POST": Action.ANNOTATE}

    @extend_schema(request=None, responses={200: OpenApiResponse(description="the suggestion")})
    def post(self, request, model_id: int, index: int):
        refuse_unknown_fields(request.data, ())
        suggestion = label_audit.audit_candidate_propose(model=self.model, index=index)
        editor = reverse("annotate", args=[self.model.project_id, suggestion.image_id])
        return Response(
            {
                "suggestion": {"id": suggestion.pk, "status": suggestion.status},
                "image": suggestion.image_id,
                "editor": f"{editor}?suggestion={suggestion.pk}",
            }
        )
