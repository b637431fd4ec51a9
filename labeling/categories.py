"""Writes to a project's classes (categories): create, edit, delete and merge.

A box refers to its category by id, so a rename keeps every box; deleting a class that
has boxes needs the caller to confirm how many boxes go; merging moves the boxes of one
class to another and removes the first, in one transaction.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from labeling.models import Annotation, Category, Image, Project

# Distinct colours for the first classes (Sasha Trubetskoy's list); then they repeat.
PALETTE = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080", "#ffe119",
]  # fmt: skip
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DEFAULT_SHORTCUTS = "123456789"
MAX_NAME = 100


class BoxDeletionNotConfirmed(ValidationError):
    """Deleting a class with boxes needs the number of boxes that go, as confirmation."""

    def __init__(self, category: Category, box_count: int) -> None:
        self.box_count = box_count
        super().__init__(
            f"The class {category.name!r} has {box_count} box(es): deleting it deletes them. "
            f"Confirm with confirm_box_count={box_count}."
        )


def category_create(
    *,
    project: Project,
    name: str,
    color: str | None = None,
    shortcut: str | None = None,
    order: int | None = None,
) -> Category:
    """Create a class; colour, shortcut (next free of 1-9) and order are chosen if not given."""
    with transaction.atomic():
        existing = list(Category.objects.select_for_update().filter(project=project))
        name = _clean_name(name, existing)
        if color is None:
            color = PALETTE[len(existing) % len(PALETTE)]
        if shortcut is None:
            taken = {c.shortcut for c in existing}
            shortcut = next((key for key in _DEFAULT_SHORTCUTS if key not in taken), "")
        if order is None:
            order = max((c.order for c in existing), default=-1) + 1
        category = Category(project=project, name=name, order=order)
        _apply(category, existing, color=color, shortcut=shortcut)
        category.save()
    return category


def categories_ensure(*, project: Project, names: list[str]) -> tuple[dict[str, Category], int]:
    """The project's classes by name, creating those of ``names`` it lacks (in order).

    Returns the mapping of every class of the project and how many were created.
    """
    by_name = {c.name: c for c in Category.objects.filter(project=project)}
    created = 0
    for name in names:
        if name not in by_name:
            by_name[name] = category_create(project=project, name=name)
            created += 1
    return by_name, created


def category_update(
    *,
    category: Category,
    name: str | None = None,
    color: str | None = None,
    shortcut: str | None = None,
    order: int | None = None,
) -> Category:
    with transaction.atomic():
        others = list(
            Category.objects.select_for_update()
            .filter(project_id=category.project_id)
            .exclude(pk=category.pk)
        )
        if name is not None:
            category.name = _clean_name(name, others)
        if order is not None:
            category.order = order
        _apply(category, others, color=color, shortcut=shortcut)
        category.save()
    return category


def category_delete(*, category: Category, confirm_box_count: int | None = None) -> int:
    """Delete a class and its boxes; returns how many boxes went.

    When the class has boxes, ``confirm_box_count`` must equal their number (what the
    user was shown), else BoxDeletionNotConfirmed and nothing changes.
    """
    with transaction.atomic():
        box_count = Annotation.objects.filter(category=category).count()
        if box_count and confirm_box_count != box_count:
            raise BoxDeletionNotConfirmed(category, box_count)
        _touch_images(Annotation.objects.filter(category=category))
        category.delete()
    return box_count


def category_merge(*, source: Category, target: Category) -> int:
    """Move every box of ``source`` to ``target`` and delete ``source``; returns the count."""
    if source.project_id != target.project_id:
        raise ValidationError({"into": "Both classes must belong to the same project."})
    if source.pk == target.pk:
        raise ValidationError({"into": "A class cannot be merged into itself."})
    with transaction.atomic():
        boxes = Annotation.objects.filter(category=source)
        _touch_images(boxes)
        moved = boxes.update(category=target)
        source.delete()
    return moved


def _touch_images(boxes) -> None:
    """Bump the annotation version of the images whose boxes change (editors see it)."""
    Image.objects.filter(pk__in=boxes.values("image_id")).update(
        annotation_version=F("annotation_version") + 1
    )


def _clean_name(name: str, others: list[Category]) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A class needs a name."})
    if len(name) > MAX_NAME:
        raise ValidationError({"name": f"A class name has at most {MAX_NAME} characters."})
    if any(c.name == name for c in others):
        raise ValidationError({"name": f"There is already a class named {name!r}."})
    return name


def _apply(
    category: Category, others: list[Category], *, color: str | None, shortcut: str | None
) -> None:
    if color is not None:
        if not _COLOR.match(color):
            raise ValidationError({"color": "A colour is written #rrggbb, e.g. #e6194b."})
        category.color = color.lower()
    if shortcut is not None:
        shortcut = shortcut.strip()
        if len(shortcut) > 1 or (shortcut and not shortcut.isprintable()):
            raise ValidationError({"shortcut": "A shortcut is one key (a letter or a digit)."})
        clash = next((c for c in others if shortcut and c.shortcut == shortcut), None)
        if clash is not None:
            raise ValidationError(
                {"shortcut": f"The key {shortcut!r} is already the shortcut of {clash.name!r}."}
            )
        category.shortcut = shortcut
