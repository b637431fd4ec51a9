"""Train/val/test splits: deterministic defaults from the image hash, re-splitting.

A new image's split comes from its sha256 (70/20/10 by default), so it never changes
unless a user changes it; imported splits are kept as they are.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.models import Image, Project, Split

DEFAULT_RATIOS = (70, 20, 10)


def default_split(sha256: str, ratios: tuple[int, int, int] = DEFAULT_RATIOS) -> str:
    """The split of an image from its hash: stable, and ~ratios over many images."""
    bucket = int(sha256[:8], 16) % sum(ratios)
    if bucket < ratios[0]:
        return Split.TRAIN
    if bucket < ratios[0] + ratios[1]:
        return Split.VAL
    return Split.TEST


def project_resplit(
    *, project: Project, train: int, val: int, test: int, seed: str = ""
) -> dict[str, int]:
    """Give every image of the project a new split, exactly in these proportions.

    Images are ordered by a hash of their sha256 and ``seed`` (so the same seed gives the
    same split) and cut into consecutive parts. Returns the count per split.
    """
    ratios = (train, val, test)
    if any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValidationError({"ratios": "Split ratios must be non-negative and not all zero."})
    with transaction.atomic():
        rows = list(
            Image.objects.select_for_update().filter(project=project).values_list("pk", "sha256")
        )
        rows.sort(key=lambda row: hashlib.sha256(f"{seed}:{row[1]}".encode()).digest())
        total = len(rows)
        n_train = round(total * train / sum(ratios))
        n_val = round(total * val / sum(ratios))
        cuts = {
            Split.TRAIN: [pk for pk, _ in rows[:n_train]],
            Split.VAL: [pk for pk, _ in rows[n_train : n_train + n_val]],
            Split.TEST: [pk for pk, _ in rows[n_train + n_val :]],
        }
        for split, pks in cuts.items():
            for start in range(0, len(pks), 5000):
                Image.objects.filter(pk__in=pks[start : start + 5000]).update(split=split)
    return {str(split): len(pks) for split, pks in cuts.items()}


def images_set_split(*, project: Project, image_ids: list[int], split: str) -> int:
    """Set the split of the given images of this project; returns how many changed."""
    if split not in Split.values:
        raise ValidationError({"split": f"Split must be one of {', '.join(Split.values)}."})
    return Image.objects.filter(project=project, pk__in=image_ids).update(split=split)
