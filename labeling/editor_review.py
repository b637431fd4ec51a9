"""What the box editor overlays when it is opened from a model's error gallery
(``?review=<model id>``): the model's detections of the test images, to walk its errors.

Models are training's, and labeling never imports training: training provides the data
when it starts (``review_provider_set`` in training/apps.py). Without a provider the
editor opens as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labeling.models import Project

ReviewProvider = Callable[..., "dict[str, Any] | None"]
_provider: ReviewProvider | None = None


def review_provider_set(provider: ReviewProvider) -> None:
    """``provider(project=, model_id=)`` returns the review data, or None (no such model)."""
    global _provider
    _provider = provider


def review_data(*, project: Project, model_id: str | None) -> dict[str, Any] | None:
    if _provider is None or not model_id:
        return None
    return _provider(project=project, model_id=model_id)
