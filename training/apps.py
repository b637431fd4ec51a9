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
        # Deleting images keeps the files that frozen dataset versions name, and every
        # file while a run may be freezing the data (its snapshot may hold them).
        from labeling.services import file_holder_add

        file_holder_add(_frozen_file_names)


def _editor_review(**kwargs):
    from training.views_models import editor_review

    return editor_review(**kwargs)


def _frozen_file_names(*, project_id: int, since, names: set[str]) -> set[str]:
    from training.datasets import freeze_in_flight, frozen_file_names

    if freeze_in_flight(project_id=project_id):
        return set(names)
    return names & frozen_file_names(project_id=project_id, since=since)
