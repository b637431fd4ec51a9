from __future__ import annotations

from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # The editor overlays a model's errors (labeling/editor_review.py); labeling never
        # imports training, so training hands it the data.
        from labeling.editor_review import review_provider_set

        review_provider_set(_editor_review)
        # Deleting images keeps the files that frozen dataset versions name.
        from labeling.services import file_holder_add

        file_holder_add(_frozen_file_names)


def _editor_review(**kwargs):
    from training.views_models import editor_review

    return editor_review(**kwargs)


def _frozen_file_names(**kwargs) -> set[str]:
    from training.datasets import frozen_file_names

    return frozen_file_names(**kwargs)
