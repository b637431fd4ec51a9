"""An image's boxes as one versioned whole: read, save (replace), history and revert.

The editor reads the state (``annotation_state``), edits it, and saves the whole box list
with the version it started from (``annotations_save``). Rules:

- Versions: a save based on another version than the image's current one is refused
  with ``AnnotationConflict`` (HTTP 409), carrying the current state; nothing changes.
- Repeats: a save whose ``request_id`` was already applied to this image returns the
  result of that save again (``replayed``), whatever the version now; nothing changes.
- Boxes are validated: numbers finite, ``w`` and ``h`` positive, inside the image (a box
  at most ``CLIP_TOLERANCE`` pixels outside is clipped to it, further is refused), a class
  of the image's project, at most ``STUDIO_MAX_BOXES_PER_IMAGE``; a box list on an image
  marked ``no_objects`` is refused. One refused box refuses the save; nothing changes.
- Status after a save: ``labeled`` when the image has boxes or is marked ``no_objects``,
  else ``in_progress``; a reviewed or rejected image goes back to one of these (its
  review fields stay, describing the last review). ``labeled_by``/``labeled_at`` name the
  last saver. A save that changes nothing (same boxes, by id, and same mark) is a no-op:
  no new version, no history row, the status stays (so an autosave cannot undo a
  review) -- except on an unlabeled image, where even an empty save means "in progress".
- Every applied save or revert appends one ``AnnotationChange`` (who, when, request id,
  boxes before and after); a revert restores the state after (or before) a past change
  as a new change, under the same version check.
- Model suggestions (labeling/suggestions.py, where the editor's contract is): a new box
  may carry ``suggestion_id`` (it was made from that pending suggestion of the image) and
  a save may list ``rejected_suggestions`` (and ``reopened_suggestions``, the editor's
  undo of a saved decision); all are decided in the save's transaction, and an accepted
  box's record in the change's ``after`` keeps its ``origin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labeling import suggestions
from labeling.models import Annotation, AnnotationChange, Category, Image, ImageStatus

CLIP_TOLERANCE = 1.0  # pixels a box may stick out of the image and still be clipped


class AnnotationConflict(Exception):
    """The save was based on an old version; ``state`` is the image's current state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        super().__init__(
            f"The boxes of this image changed since you loaded them (now version "
            f"{state['version']}). Reload them, or save yours again on that version."
        )


@dataclass(frozen=True)
class Box:
    id: int | None
    category_id: int
    x: float
    y: float
    w: float
    h: float
    suggestion_id: int | None = None  # the pending suggestion this new box was made from

    def to_dict(self, box_id: int | None = None) -> dict[str, Any]:
        return {
            "id": box_id if box_id is not None else self.id,
            "category_id": self.category_id,
            "bbox": [self.x, self.y, self.w, self.h],
            "area": self.w * self.h,
        }


# --- Reads --------------------------------------------------------------------------------


def annotation_boxes(*, image: Image) -> list[dict[str, Any]]:
    return [_row_dict(pk, row) for pk, row in _rows(image).items()]


def annotation_state(*, image: Image, boxes: list[dict[str, Any]] | None = None) -> dict:
    """What the editor loads: version, status, mark, boxes and the image's size."""
    return {
        "version": image.annotation_version,
        "status": image.status,
        "no_objects": image.no_objects,
        "boxes": annotation_boxes(image=image) if boxes is None else boxes,
        "image": {"width": image.width, "height": image.height},
        "labeled_by": _username(image, "labeled_by"),
        "labeled_at": image.labeled_at,
        "reviewed_by": _username(image, "reviewed_by"),
        "reviewed_at": image.reviewed_at,
        "review_comment": image.review_comment,
    }


def annotation_history(*, image: Image):
    """The image's changes, newest first."""
    return AnnotationChange.objects.filter(image=image).select_related("user").order_by("-id")


# --- Writes -------------------------------------------------------------------------------


def annotations_save(
    *,
    image: Image,
    user: AbstractBaseUser,
    base_version: int,
    boxes: list[dict[str, Any]],
    no_objects: bool = False,
    request_id: str = "",
    rejected_suggestions: list[int] | None = None,
    reopened_suggestions: list[int] | None = None,
) -> dict[str, Any]:
    """Replace the image's boxes; returns the state plus ``change_id`` and ``replayed``."""
    rejected = list(rejected_suggestions or [])
    reopened = list(reopened_suggestions or [])
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        replay = _replay(locked, request_id)
        if replay is not None:
            return replay
        _check_version(locked, base_version)
        clean = boxes_clean(image=locked, boxes=boxes, no_objects=no_objects)
        kept = {box.id for box in clean if box.id is not None}
        suggestions.suggestions_reopen(image=locked, ids=reopened, kept_box_ids=kept)
        accepted = [box.suggestion_id for box in clean if box.suggestion_id is not None]
        origins = (
            suggestions.suggestions_check(image=locked, accepted=accepted, rejected=rejected)
            if accepted or rejected
            else {}
        )
        result = _apply(
            locked,
            user=user,
            boxes=clean,
            no_objects=no_objects,
            request_id=request_id,
            origins=origins,
        )
        suggestions.suggestions_reject(ids=rejected, user=user)
        return result


def annotations_revert(
    *,
    image: Image,
    user: AbstractBaseUser,
    change_id: int,
    base_version: int,
    to: str = "after",
    request_id: str = "",
) -> dict[str, Any]:
    """Restore the boxes as they were after (or before) one of the image's changes."""
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        replay = _replay(locked, request_id)
        if replay is not None:
            return replay
        change = AnnotationChange.objects.filter(image=locked, pk=change_id).first()
        if change is None:
            raise ValidationError({"change_id": "This image has no such change."})
        _check_version(locked, base_version)
        boxes, no_objects = (
            (change.after, change.no_objects)
            if to == "after"
            else (change.before, change.no_objects_before)
        )
        clean = boxes_clean(image=locked, boxes=boxes, no_objects=no_objects)
        return _apply(
            locked,
            user=user,
            boxes=clean,
            no_objects=no_objects,
            request_id=request_id,
            kind=AnnotationChange.Kind.REVERT,
            reverted_to=change,
        )


def boxes_clean(*, image: Image, boxes: list[Any], no_objects: bool) -> list[Box]:
    """The boxes, validated and clipped to the image; ValidationError lists every refusal."""
    limit = settings.STUDIO_MAX_BOXES_PER_IMAGE
    if not isinstance(boxes, list):
        raise ValidationError({"boxes": ["Send the boxes as a list."]})
    if len(boxes) > limit:
        raise ValidationError(
            {"boxes": [f"An image has at most {limit} boxes; this save has {len(boxes)}."]}
        )
    if no_objects and boxes:
        raise ValidationError(
            {"no_objects": ["An image marked as having no objects cannot have boxes."]}
        )
    category_ids = set(
        Category.objects.filter(project_id=image.project_id).values_list("id", flat=True)
    )
    clean, errors = [], []
    for index, raw in enumerate(boxes):
        try:
            clean.append(_box_clean(raw, image, category_ids))
        except ValueError as refusal:
            errors.append(f"Box {index}: {refusal}")
            if len(errors) >= 20:
                errors.append("(further boxes not checked)")
                break
    if errors:
        raise ValidationError({"boxes": errors})
    return clean


def _box_clean(raw: Any, image: Image, category_ids: set[int]) -> Box:
    if not isinstance(raw, dict):
        raise ValueError("a box is an object {category_id, bbox: [x, y, w, h]}.")
    category_id = raw.get("category_id")
    if not _is_int(category_id) or category_id not in category_ids:
        raise ValueError(f"category_id {category_id!r} is not a class of this project.")
    box_id = raw.get("id")
    if box_id is not None and not _is_int(box_id):
        raise ValueError(f"id {box_id!r} is not a box id.")
    suggestion_id = raw.get("suggestion_id")
    if suggestion_id is not None and not _is_int(suggestion_id):
        raise ValueError(f"suggestion_id {suggestion_id!r} is not a suggestion id.")
    if suggestion_id is not None and box_id is not None:
        raise ValueError("a box made from a suggestion is a new box: send it without an id.")
    bbox = raw.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError("bbox must be a list of four numbers [x, y, w, h].")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
        raise ValueError(f"bbox {bbox!r} must hold numbers only.")
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError("bbox numbers must be finite (no NaN or Infinity).")
    if w <= 0 or h <= 0:
        raise ValueError(f"width and height must be positive (got {w:g} x {h:g}).")
    x2, y2 = x + w, y + h
    tol = CLIP_TOLERANCE
    if x < -tol or y < -tol or x2 > image.width + tol or y2 > image.height + tol:
        raise ValueError(
            f"[{x:g}, {y:g}, {w:g}, {h:g}] is outside the image ({image.width} x {image.height})."
        )
    x, y = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x2, float(image.width)), min(y2, float(image.height))
    if x2 <= x or y2 <= y:
        raise ValueError("the box lies outside the image.")
    return Box(
        id=box_id,
        category_id=category_id,
        x=x,
        y=y,
        w=x2 - x,
        h=y2 - y,
        suggestion_id=suggestion_id,
    )


def _apply(
    image: Image,
    *,
    user: AbstractBaseUser,
    boxes: list[Box],
    no_objects: bool,
    request_id: str,
    kind: str = AnnotationChange.Kind.SAVE,
    reverted_to: AnnotationChange | None = None,
    origins: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    origins = origins or {}
    existing = _rows(image)
    before = [_row_dict(pk, row) for pk, row in existing.items()]
    if kind == AnnotationChange.Kind.SAVE and _unchanged(existing, boxes, no_objects, image):
        return {**annotation_state(image=image, boxes=before), "change_id": None, "replayed": False}
    now = timezone.now()
    created, updated = [], []
    after: list[dict[str, Any] | Annotation] = []  # in the request's order; rows get ids below
    from_suggestion: dict[int, Annotation] = {}  # suggestion id -> its new box
    for box in boxes:
        values = (box.category_id, box.x, box.y, box.w, box.h)
        old = existing.pop(box.id, None) if box.id is not None else None
        if old is not None and old[:5] == values:
            after.append(_row_dict(box.id, old))
            continue
        row = Annotation(image=image, created_by=user) if old is None else Annotation(pk=box.id)
        row.category_id, row.x, row.y, row.w, row.h = values
        row.area, row.updated_at = box.w * box.h, now
        (created if old is None else updated).append(row)
        after.append(row)
        if box.suggestion_id is not None:
            from_suggestion[box.suggestion_id] = row
    if existing:
        Annotation.objects.filter(pk__in=list(existing)).delete()
    Annotation.objects.bulk_create(created)
    if updated:
        fields = ["category", "x", "y", "w", "h", "area", "updated_at"]
        Annotation.objects.bulk_update(updated, fields)
    if from_suggestion:
        links = {sid: row.pk for sid, row in from_suggestion.items()}
        suggestions.suggestions_accept(links=links, user=user)
    origin_of = {row.pk: origins[sid] for sid, row in from_suggestion.items()}
    after = [_annotation_dict(b, origin_of) if isinstance(b, Annotation) else b for b in after]
    no_objects_before = image.no_objects
    image.annotation_version += 1
    image.no_objects = no_objects
    image.status = ImageStatus.LABELED if (after or no_objects) else ImageStatus.IN_PROGRESS
    image.labeled_by, image.labeled_at = user, now
    image.save(
        update_fields=["annotation_version", "no_objects", "status", "labeled_by", "labeled_at"]
    )
    change = AnnotationChange.objects.create(
        image=image,
        version=image.annotation_version,
        kind=kind,
        user=user,
        request_id=request_id,
        before=before,
        after=after,
        no_objects_before=no_objects_before,
        no_objects=no_objects,
        reverted_to=reverted_to,
    )
    return {**annotation_state(image=image, boxes=after), "change_id": change.pk, "replayed": False}


def _replay(image: Image, request_id: str) -> dict[str, Any] | None:
    if not request_id:
        return None
    change = AnnotationChange.objects.filter(image=image, request_id=request_id).first()
    if change is None:
        return None
    state = annotation_state(image=image, boxes=change.after)
    if change.version != image.annotation_version:  # the image moved on since
        labeled = change.after or change.no_objects
        status = ImageStatus.LABELED if labeled else ImageStatus.IN_PROGRESS
        state.update(version=change.version, status=status, no_objects=change.no_objects)
    return {**state, "change_id": change.pk, "replayed": True}


def _check_version(image: Image, base_version: int) -> None:
    if base_version != image.annotation_version:
        raise AnnotationConflict(annotation_state(image=image))


def _unchanged(existing: dict[int, tuple], boxes: list[Box], no_objects, image) -> bool:
    if image.status == ImageStatus.UNLABELED:  # a first save, even empty, starts the work
        return False
    if no_objects != image.no_objects or len(boxes) != len(existing):
        return False
    seen = set()
    for box in boxes:
        row = existing.get(box.id) if box.id is not None else None
        if row is None or box.id in seen:
            return False
        if row[:5] != (box.category_id, box.x, box.y, box.w, box.h):
            return False
        seen.add(box.id)
    return True


def _rows(image: Image) -> dict[int, tuple]:
    """The image's boxes as {id: (category_id, x, y, w, h, area)}, by id (no model objects:
    a save of 500 boxes spends its time here otherwise)."""
    rows = Annotation.objects.filter(image=image).order_by("id")
    fields = ("id", "category_id", "x", "y", "w", "h", "area")
    return {row[0]: row[1:] for row in rows.values_list(*fields)}


def _row_dict(pk: int, row: tuple) -> dict[str, Any]:
    category_id, x, y, w, h, area = row
    return {"id": pk, "category_id": category_id, "bbox": [x, y, w, h], "area": area}


def _annotation_dict(row: Annotation, origins: dict[int, dict] | None = None) -> dict[str, Any]:
    record = {
        "id": row.pk,
        "category_id": row.category_id,
        "bbox": [row.x, row.y, row.w, row.h],
        "area": row.area,
    }
    if origins and row.pk in origins:
        record["origin"] = origins[row.pk]
    return record


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _username(image: Image, field: str) -> str | None:
    if getattr(image, f"{field}_id") is None:
        return None
    return getattr(image, field).get_username()
