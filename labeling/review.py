"""Review of an image's boxes: a reviewer accepts them (``reviewed``) or rejects them
(``rejected``, with a comment saying what to fix).

Only a labeled image (boxes, or marked as having no objects) can be accepted; any image
can be rejected. The reviewer names the version they looked at: a review of boxes that
changed since is refused with ``AnnotationConflict`` (HTTP 409). A later save of the boxes
puts the image back to ``labeled`` or ``in_progress`` (labeling/annotations.py); the
review fields then still describe the last review.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labeling.annotations import AnnotationConflict, annotation_state
from labeling.models import Image, ImageStatus

MAX_COMMENT = 5000


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


REVIEWABLE = {ImageStatus.LABELED, ImageStatus.REVIEWED, ImageStatus.REJECTED}


def image_review(
    *,
    image: Image,
    user: AbstractBaseUser,
    decision: str,
    base_version: int,
    comment: str = "",
) -> dict:
    """Record the review on the image; returns the image's annotation state."""
    comment = (comment or "").strip()
    if decision == Decision.REJECT and not comment:
        raise ValidationError({"comment": ["Say what to fix: a rejection needs a comment."]})
    if len(comment) > MAX_COMMENT:
        raise ValidationError({"comment": [f"A comment has at most {MAX_COMMENT} characters."]})
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        if base_version != locked.annotation_version:
            raise AnnotationConflict(annotation_state(image=locked))
        if decision == Decision.ACCEPT and locked.status not in REVIEWABLE:
            raise ValidationError(
                {
                    "decision": [
                        f"Only labeled images can be accepted (this one is {locked.status})."
                    ]
                }
            )
        locked.status = (
            ImageStatus.REVIEWED if decision == Decision.ACCEPT else ImageStatus.REJECTED
        )
        locked.reviewed_by, locked.reviewed_at = user, timezone.now()
        locked.review_comment = comment
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_comment"])
    return annotation_state(image=locked)
