from __future__ import annotations

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow warns above this many pixels and refuses twice as many; ingest refuses
        # anything above it (labeling/ingest.py).
        Image.MAX_IMAGE_PIXELS = settings.STUDIO_MAX_IMAGE_PIXELS
