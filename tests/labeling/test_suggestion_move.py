"""Suggestions moved from the training app to labeling (training 0005, labeling 0006):
a suggestion stored before the move is still there after it, whole, and the editor's
record of where it came from (job, model version) is right."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("labeling", "0005_annotationchange_kind_import"), ("training", "0004_run_claim_fencing")]
AFTER = [("labeling", "0006_suggestion"), ("training", "0005_suggestion_to_labeling")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_a_suggestion_made_before_the_move_survives_it():
    old = _migrate(BEFORE)
    project = old.get_model("labeling", "Project").objects.create(name="Cells")
    image = old.get_model("labeling", "Image").objects.create(
        project=project, file="a.jpg", thumbnail="a.webp", original_name="a.jpg",
        width=64, height=48, sha256="0" * 64, bytes=10, format="jpeg",
    )  # fmt: skip
    category = old.get_model("labeling", "Category").objects.create(project=project, name="cell")
    dataset = old.get_model("training", "DatasetVersion").objects.create(
        project=project, content_hash="1" * 64, coco_file="d.json", image_count=1, box_count=1
    )
    run = old.get_model("training", "TrainingRun").objects.create(
        project=project, dataset_version=dataset
    )
    model = old.get_model("training", "ModelVersion").objects.create(
        project=project, run=run, version=3, onnx_file="m.onnx", onnx_sha256="2" * 64,
        checkpoint_file="m.pt",
    )  # fmt: skip
    job = old.get_model("training", "PrelabelJob").objects.create(project=project, model=model)
    before = old.get_model("training", "Suggestion").objects.create(
        job=job, image=image, category=category, x=1.5, y=2, w=10, h=20, score=0.75,
        status="rejected",
    )  # fmt: skip

    new = _migrate(AFTER)
    after = new.get_model("labeling", "Suggestion").objects.get(pk=before.pk)
    assert (after.image_id, after.category_id, after.status) == (image.pk, category.pk, "rejected")
    assert (after.x, after.y, after.w, after.h, after.score) == (1.5, 2, 10, 20, 0.75)
    assert (after.job_id, after.model_id, after.model_version) == (job.pk, model.pk, 3)
    assert new.get_model("labeling", "Suggestion")._meta.db_table == "training_suggestion"
    with pytest.raises(LookupError):
        new.get_model("training", "Suggestion")

    # Back to the code's own state: the models of today read the row too.
    _migrate(executor_leaves())
    from labeling.models import Suggestion
    from labeling.suggestions import suggestion_dict

    found = suggestion_dict(Suggestion.objects.get(pk=before.pk))
    assert found["model_version"] == {"id": model.pk, "version": 3}
    assert found["job"] == job.pk


def executor_leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
