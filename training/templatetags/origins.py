"""``{% load origins %}``: ``{{ run|origin }}``, what a run started from, in words."""

from __future__ import annotations

from django import template

from training.start_from import origin_text

register = template.Library()


@register.filter
def origin(run) -> str:
    """``ImageNet backbone`` or ``<project> v<N> (classes matched: ...; new: ...)``."""
    return origin_text(run.started_from)
