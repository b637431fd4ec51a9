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
# Keys the box editor keeps for itself (static/js/lib/editor/keys.js): never a class's.
EDITOR_KEYS = frozenset("adfhnop?+=- ")


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
        shortcut = _clean_shortcut(shortcut)
        clash = next((c for c in others if shortcut and c.shortcut == shortcut), None)
        if clash is not None:
            raise ValidationError(
                {"shortcut": f"The key {shortcut!r} is already the shortcut of {clash.name!r}."}
            )
        category.shortcut = shortcut


def category_shortcuts_set(*, project: Project, shortcuts: dict[int, str]) -> list[Category]:
    """Give classes their keys in one go (so two classes can swap keys); ``""`` for none.

    Classes not named keep theirs. Refused, with every reason and nothing changed, when
    a class is not the project's, a key is not one key or is one the editor keeps, or two
    classes would share a key.
    """
    with transaction.atomic():
        existing = {c.pk: c for c in Category.objects.select_for_update().filter(project=project)}
        errors = [f"This project has no class {pk}." for pk in shortcuts if pk not in existing]
        final = {pk: c.shortcut for pk, c in existing.items()}
        for pk, key in shortcuts.items():
            if pk in existing:
                try:
                    final[pk] = _clean_shortcut(key)
                except ValidationError as refusal:
                    errors.append(f"{existing[pk].name}: {refusal.messages[0]}")
        owner: dict[str, int] = {}
        for pk, key in final.items():
            if key and key in owner:
                first, second = existing[owner[key]].name, existing[pk].name
                errors.append(f"The key {key!r} would be the shortcut of {first!r} and {second!r}.")
            owner.setdefault(key, pk)
        if errors:
            raise ValidationError({"shortcuts": errors})
        changed = [c for pk, c in existing.items() if c.shortcut != final[pk]]
        # Free the keys first: the one-key-per-project constraint holds after every row.
        Category.objects.filter(pk__in=[c.pk for c in changed]).update(shortcut="")
        for category in changed:
            category.shortcut = final[category.pk]
            category.save(update_fields=["shortcut"])
    return list(Category.objects.filter(project=project))


def _clean_shortcut(shortcut: str) -> str:
    """One printable key, lower case; not one of the editor's own keys."""
    if len(shortcut) == 1 and shortcut == " ":
        raise ValidationError({"shortcut": "The space bar is the editor's (pan)."})
    shortcut = shortcut.strip().lower()
    if len(shortcut) > 1 or (shortcut and not shortcut.isprintable()):
        raise ValidationError({"shortcut": "A shortcut is one key (a letter or a digit)."})
    if shortcut in EDITOR_KEYS:
        raise ValidationError(
            {"shortcut": f"The key {shortcut!r} is one of the box editor's own keys."}
        )
    return shortcut
