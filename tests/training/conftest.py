from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labeling.dataset_import import dataset_import
from labeling.models import Membership, Project, Role
from tests.conftest import DATASETS

BCCD = DATASETS / "bccd-voc" / "BCCD"

# A tiny run: small images, few epochs; the worker's checks are relaxed to match.
TINY_CONFIG = {"preset": "fast", "image_size": 128, "epochs": 2, "time_budget_minutes": 10}
WORKER_ENV = {
    "STUDIO_MIN_BOXES_PER_CLASS": "1",
    "STUDIO_HEARTBEAT_SECONDS": "1",
    "STUDIO_HEARTBEAT_TIMEOUT_SECONDS": "6",
    "STUDIO_RECONCILE_SECONDS": "2",
    "STUDIO_REQUEUE_AFTER_SECONDS": "5",
}


def bccd_subset(folder: Path, counts: dict[str, int]) -> Path:
    """A VOC folder with the first images of each standard BCCD split."""
    root = folder / "BCCD"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for split, count in counts.items():
        source = "val" if split == "val" else split
        ids = (BCCD / "ImageSets" / "Main" / f"{source}.txt").read_text().split()[:count]
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for image_id in ids:
            shutil.copy(BCCD / "Annotations" / f"{image_id}.xml", root / "Annotations")
            shutil.copy(BCCD / "JPEGImages" / f"{image_id}.jpg", root / "JPEGImages")
    return root


@pytest.fixture
def make_bccd_project(make_user, tmp_path, settings):
    settings.STUDIO_MIN_BOXES_PER_CLASS = 1

    def make(counts: dict[str, int] | None = None, owner=None) -> Project:
        owner = owner or make_user(f"owner{Project.objects.count()}")
        project = Project.objects.create(name=f"BCCD {Project.objects.count()}", created_by=owner)
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        folder = bccd_subset(
            tmp_path / f"voc{project.pk}", counts or {"train": 8, "val": 3, "test": 3}
        )
        dataset_import(project=project, path=folder, format="voc", user=owner)
        return project

    return make


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory):
    """A detector trained for one epoch on synthetic images (seconds; no database)."""
    from tests.ml.conftest import tiny_config
    from tests.ml.synthetic import make_dataset
    from training.ml.engine import train

    coco, images = make_dataset(tmp_path_factory.mktemp("synthetic"), count=12)
    result = train(
        tiny_config(epochs=1), coco=coco, images_dir=images, out_dir=tmp_path_factory.mktemp("t")
    )
    return coco, images, result


@pytest.fixture
def model_version(tiny_trained, project_team, tmp_path):
    """A real model version of the team's project, made by the run pipeline's own
    evaluate-and-export step (ONNX in the media storage, parity-checked)."""
    import json

    from training.models import DatasetVersion, RunStatus, TrainingRun
    from training.pipeline import _evaluate_and_export

    coco_path, images, result = tiny_trained
    coco = json.loads(Path(coco_path).read_text())
    for image in coco["images"]:
        image["split"] = "test"
    project = project_team["project"]
    version = DatasetVersion.objects.create(
        project=project, content_hash="2" * 64, coco_file="x.json", image_count=12, box_count=1
    )
    run = TrainingRun.objects.create(
        project=project,
        dataset_version=version,
        status=RunStatus.SUCCEEDED,
        config={"preset": "fast"},
        result={"epochs_completed": 1, "stop_reason": "completed"},
    )
    return _evaluate_and_export(run, coco, Path(images), tmp_path, result)


from tests.training.model_fixtures import (  # noqa: E402, F401
    reviewed_model,
    stored_model,
    trained_for_review,
)
