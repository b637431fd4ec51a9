"""Suggestions: boxes a model proposed for an image, waiting for a person to decide.

A pre-label job (training/prelabel.py) stores them through ``suggestions_replace``; labeling
knows nothing of the job but the numbers it is given. They are never labels: training,
exports, box counts and image statuses only ever see Annotations. A suggestion is
``pending`` until a person accepts it (it becomes a normal box), rejects it, or a later
pre-label job of the same image replaces it (``superseded``).

Contract for the box editor
---------------------------

1. Read the pending suggestions of an image::

       GET /api/v1/projects/<p>/images/<i>/suggestions
       200 {"image": <i>, "suggestions": [
             {"id": 12, "category_id": 3, "bbox": [x, y, w, h], "score": 0.83,
              "model_version": {"id": 7, "version": 2}, "job": 4,
              "created_at": "..."}, ...]}

   ``job`` is null for a box proposed from the model's label audit (``suggestion_propose``:
   a confident detection far from every labelled box); it is decided the same way.

   ``bbox`` is in the image's pixels (COCO ``[x, y, w, h]``, like the boxes), highest
   score first. Show them apart from the human boxes (e.g. dashed), never as boxes.

2. Accept and reject in the ordinary save of the image's boxes
   (``PUT /api/v1/projects/<p>/images/<i>/annotations``, labeling/annotations.py)::

       {"base_version": 5, "request_id": "...",
        "boxes": [{"id": 40, "category_id": 3, "bbox": [...]},            # a kept box
                  {"category_id": 3, "bbox": [...], "suggestion_id": 12}], # accepted
        "rejected_suggestions": [13, 14]}

   - A box with ``suggestion_id`` is a new box (no ``id``) made from that suggestion;
     its class and bbox are the ones sent (the user may have adjusted them). In the same
     transaction the suggestion becomes ``accepted`` and points to the new box, and the
     save's AnnotationChange records the box with
     ``"origin": {"suggestion_id", "model_id", "model_version", "job", "score"}`` in
     ``after`` (the history keeps where the box came from; the response's box has it too).
   - ``rejected_suggestions`` become ``rejected`` in the same transaction (also when the
     boxes did not change: then no new version is made).
   - Every id must be a *pending* suggestion of this image, used once; otherwise the
     whole save is refused (400, ``errors.suggestions``) and nothing changes. A 409
     conflict or a replayed ``request_id`` behave as for any save.
   - Suggestions neither accepted nor rejected stay pending.

3. Undo in the editor, after the decision was saved: the save lists the ids in
   ``"reopened_suggestions": [12]``; they become ``pending`` again before the save's own
   decisions (so one save may reopen and decide an id again). Each must be an accepted or
   rejected suggestion of this image, used once; an accepted one's box must not be kept
   by the save (an undone accept deletes its box in the same save). Otherwise 400, as above.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from labeling.models import Image, Suggestion, SuggestionStatus


@dataclass(frozen=True)
class SuggestionSource:
    """Where proposed boxes come from: a pre-label job and its model version."""

    job_id: int
    model_id: int
    model_version: int


@dataclass(frozen=True)
class ProposedBox:
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]  # COCO [x, y, w, h] in the image's pixels
    score: float


def suggestions_replace(
    *, source: SuggestionSource, image_ids: list[int], boxes: list[ProposedBox]
) -> int:
    """Store what the source proposed for these images; the pending suggestions other
    sources made for them become ``superseded``. Returns how many were stored. Run it in
    the caller's transaction (a pre-label batch), so a batch is stored whole or not at all.
    """
    now = timezone.now()
    Suggestion.objects.filter(image_id__in=image_ids, status=SuggestionStatus.PENDING).exclude(
        job_id=source.job_id
    ).update(status=SuggestionStatus.SUPERSEDED, decided_at=now)
    rows = [
        Suggestion(
            image_id=box.image_id,
            category_id=box.category_id,
            job_id=source.job_id,
            model_id=source.model_id,
            model_version=source.model_version,
            x=box.bbox[0],
            y=box.bbox[1],
            w=box.bbox[2],
            h=box.bbox[3],
            score=box.score,
        )
        for box in boxes
    ]
    Suggestion.objects.bulk_create(rows)
    return len(rows)


def _proposed_key(image_id: int, category_id: int, bbox) -> tuple:
    return (image_id, category_id, *(float(v) for v in bbox))


def suggestions_proposed(*, model_id: int, image_ids: list[int]) -> dict[tuple, Suggestion]:
    """The model's latest suggestion of each box it proposed outside pre-label jobs (its
    label audit's, ``job_id`` None) on these images, by ``(image_id, category_id, x, y, w,
    h)``; superseded ones are left out (as if never proposed)."""
    rows = (
        Suggestion.objects.filter(model_id=model_id, job_id=None, image_id__in=image_ids)
        .exclude(status=SuggestionStatus.SUPERSEDED)
        .order_by("id")
    )
    return {_proposed_key(s.image_id, s.category_id, s.bbox): s for s in rows}


def suggestion_propose(
    *,
    image: Image,
    category_id: int,
    bbox: list[float],
    score: float,
    model_id: int,
    model_version: int,
) -> Suggestion:
    """One box a model proposes for an image outside a pre-label job (a candidate of its
    label audit; ``job_id`` None). Proposed once: when the model already proposed exactly
    this box, that suggestion (pending, or accepted or rejected since), unless a pre-label
    job superseded it; else a new pending one. Other suggestions are left as they are."""
    found = suggestions_proposed(model_id=model_id, image_ids=[image.pk])
    existing = found.get(_proposed_key(image.pk, category_id, bbox))
    if existing is not None:
        return existing
    x, y, w, h = (float(v) for v in bbox)
    return Suggestion.objects.create(
        image=image,
        category_id=category_id,
        job_id=None,
        model_id=model_id,
        model_version=model_version,
        x=x,
        y=y,
        w=w,
        h=h,
        score=score,
    )


def suggestion_count(*, job_id: int) -> int:
    """How many suggestions the job stored (whatever has been decided of them since)."""
    return Suggestion.objects.filter(job_id=job_id).count()


def suggestion_list(*, image: Image) -> QuerySet[Suggestion]:
    """The image's pending suggestions, highest score first."""
    return Suggestion.objects.filter(image=image, status=SuggestionStatus.PENDING).order_by(
        "-score", "id"
    )


def suggestion_dict(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "id": suggestion.pk,
        "category_id": suggestion.category_id,
        "bbox": suggestion.bbox,
        "score": suggestion.score,
        "model_version": {"id": suggestion.model_id, "version": suggestion.model_version},
        "job": suggestion.job_id,
        "created_at": suggestion.created_at,
    }


def suggestions_check(
    *, image: Image, accepted: list[int], rejected: list[int]
) -> dict[int, dict[str, Any]]:
    """Lock and check the suggestions a save decides (inside the save's transaction).

    Returns the origin record of each accepted one; ValidationError (nothing changed)
    when an id is used twice or is not a pending suggestion of this image.
    """
    errors = []
    ids = accepted + rejected
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        errors.append(f"Suggestion {twice[0]} is decided twice in this save.")
    found = {
        s.pk: s for s in Suggestion.objects.select_for_update().filter(pk__in=set(ids), image=image)
    }
    for pk in dict.fromkeys(ids):
        suggestion = found.get(pk)
        if suggestion is None:
            errors.append(f"Suggestion {pk} is not a suggestion of this image.")
        elif suggestion.status != SuggestionStatus.PENDING:
            errors.append(f"Suggestion {pk} was already {suggestion.status}.")
    if errors:
        raise ValidationError({"suggestions": errors[:20]})
    return {pk: _origin(found[pk]) for pk in accepted}


def suggestions_reopen(*, image: Image, ids: list[int], kept_box_ids: set[int]) -> None:
    """Set decided suggestions back to pending (an undo in the editor), inside the save's
    transaction; ValidationError (nothing changed) when one cannot be reopened."""
    if not ids:
        return
    errors = []
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        errors.append(f"Suggestion {twice[0]} is reopened twice in this save.")
    found = {
        s.pk: s for s in Suggestion.objects.select_for_update().filter(pk__in=set(ids), image=image)
    }
    decided = {SuggestionStatus.ACCEPTED, SuggestionStatus.REJECTED}
    for pk in dict.fromkeys(ids):
        suggestion = found.get(pk)
        if suggestion is None:
            errors.append(f"Suggestion {pk} is not a suggestion of this image.")
        elif suggestion.status not in decided:
            errors.append(f"Suggestion {pk} is {suggestion.status}: only a decision reopens.")
        elif suggestion.annotation_id is not None and suggestion.annotation_id in kept_box_ids:
            errors.append(f"Suggestion {pk} is reopened but its box is kept.")
    if errors:
        raise ValidationError({"suggestions": errors[:20]})
    Suggestion.objects.filter(pk__in=list(found)).update(
        status=SuggestionStatus.PENDING, annotation=None, decided_by=None, decided_at=None
    )


def suggestions_accept(*, links: dict[int, int], user: AbstractBaseUser) -> None:
    """Mark checked suggestions accepted, each pointing to the box made from it."""
    now = timezone.now()
    rows = list(Suggestion.objects.filter(pk__in=list(links)))
    for row in rows:
        row.status, row.annotation_id = SuggestionStatus.ACCEPTED, links[row.pk]
        row.decided_by, row.decided_at = user, now
    Suggestion.objects.bulk_update(rows, ["status", "annotation", "decided_by", "decided_at"])


def suggestions_reject(*, ids: list[int], user: AbstractBaseUser) -> None:
    """Mark checked suggestions rejected."""
    if ids:
        Suggestion.objects.filter(pk__in=ids).update(
            status=SuggestionStatus.REJECTED, decided_by=user, decided_at=timezone.now()
        )


def _origin(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "suggestion_id": suggestion.pk,
        "model_id": suggestion.model_id,
        "model_version": suggestion.model_version,
        "job": suggestion.job_id,
        "score": suggestion.score,
    }
