"""``{% load verdicts %}``: ``{{ model|verdict }}``, the verdict dict on a model version."""

from __future__ import annotations

from typing import Any

from django import template

from training.verdict import model_verdict

register = template.Library()


@register.filter
def verdict(model) -> dict[str, Any]:
    return model_verdict(model)
