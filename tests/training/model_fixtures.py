"""A model version worth reviewing: its test images are images of the project.

The fixtures are imported by tests/training/conftest.py and tests/browser/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

# Synthetic images of two classes; 25 epochs (about 15 s on one core) gives a detector
# with true positives, false positives and misses spread over the thresholds.
REVIEW_EPOCHS = 25


@pytest.fixture(scope="session")
def trained_for_review(tmp_path_factory):
    from tests.ml.conftest import tiny_config
    from tests.ml.synthetic import make_dataset
    from training.ml.engine import train

    coco, images = make_dataset(tmp_path_factory.mktemp("review-data"), count=12)
    result = train(
        tiny_config(epochs=REVIEW_EPOCHS),
        coco=coco,
        images_dir=images,
        out_dir=tmp_path_factory.mktemp("review-run"),
    )
    return Path(coco), Path(images), result


def make_model_version(project, trained, tmp_path, *, version_hash: str = "4" * 64):
    """Ingest the synthetic images into ``project`` and run the pipeline's own
    evaluate-and-export step on them (as the test split of a frozen dataset version)."""
    from labeling import ingest
    from labeling.models import Image
    from training.models import DatasetVersion, RunStatus, TrainingRun
    from training.pipeline import _evaluate_and_export

    coco_path, images_dir, result = trained
    coco = json.loads(coco_path.read_text())
    new_id = {}
    for image in coco["images"]:
        ingest.images_ingest(  # a second model of the project finds them there
            project=project,
            sources=[ingest.Source(image["file_name"], images_dir / image["file_name"])],
        )
        row = Image.objects.get(project=project, original_name=image["file_name"])
        new_id[image["id"]] = row.pk
        image.update(id=row.pk, file_name=row.file.name, split="test")
    for ann in coco["annotations"]:
        ann["image_id"] = new_id[ann["image_id"]]
    version = DatasetVersion.objects.create(
        project=project,
        content_hash=version_hash,
        coco_file="x.json",
        image_count=len(coco["images"]),
        box_count=len(coco["annotations"]),
        class_names=[c["name"] for c in coco["categories"]],
        split_counts={"train": 0, "val": 0, "test": len(coco["images"])},
    )
    run = TrainingRun.objects.create(
        project=project,
        dataset_version=version,
        status=RunStatus.SUCCEEDED,
        config={"preset": "fast", "image_size": 128},
        elapsed_seconds=42.0,
        result={"epochs_completed": REVIEW_EPOCHS, "stop_reason": "completed"},
    )
    media = Path(default_storage.path(""))
    return _evaluate_and_export(run, coco, media, tmp_path, result)


@pytest.fixture
def reviewed_model(trained_for_review, project_team, tmp_path):
    return make_model_version(project_team["project"], trained_for_review, tmp_path)


@pytest.fixture
def stored_model(project_team):
    """Model versions whose files are really in the media storage (no training, no
    evaluation): ``stored_model(version, production=False)``."""
    from django.core.files.base import ContentFile

    from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun

    project = project_team["project"]
    dataset = DatasetVersion.objects.create(
        project=project, content_hash="7" * 64, coco_file="x.json", image_count=1, box_count=1
    )

    def make(version: int, *, production: bool = False) -> ModelVersion:
        run = TrainingRun.objects.create(
            project=project, dataset_version=dataset, status=RunStatus.SUCCEEDED
        )
        prefix = f"projects/{project.pk}/models/run-{run.pk}"
        onnx = default_storage.save(f"{prefix}/model.onnx", ContentFile(b"onnx bytes"))
        checkpoint = default_storage.save(f"{prefix}/checkpoint.pt", ContentFile(b"weights"))
        return ModelVersion.objects.create(
            project=project,
            run=run,
            version=version,
            onnx_file=onnx,
            checkpoint_file=checkpoint,
            is_production=production,
        )

    return make
