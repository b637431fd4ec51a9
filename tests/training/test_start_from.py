"""Starting a run from a model version: the Train API's checks (whose versions, with a
checkpoint, of the same preset, with classes in common), what the run records, and what
the pages, the APIs and `manage.py train --start-from` show of it. No training here: the
model versions are rows with a checkpoint file (the worker's side: test_worker_start_from)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from labeling.models import Membership, Role
from training.ml.finetune import FINETUNE_WARMUP_STEPS
from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def make_model(project, class_names, *, preset="fast", checkpoint=True, version=1):
    """A model version of ``project`` as far as starting from it goes: its run's config,
    its class names and a checkpoint file in the media storage."""
    run = TrainingRun.objects.create(
        project=project,
        status=RunStatus.SUCCEEDED,
        config={"preset": preset},
        dataset_version=dataset_version(project),
    )
    name = ""
    if checkpoint:
        name = default_storage.save(
            f"projects/{project.pk}/models/run-{run.pk}/checkpoint.pt", ContentFile(b"weights")
        )
    return ModelVersion.objects.create(
        project=project,
        run=run,
        version=version,
        onnx_file="x.onnx",
        onnx_sha256="0" * 64,
        checkpoint_file=name,
        export={"metadata": {"class_names": class_names}},
    )


def dataset_version(project) -> DatasetVersion:
    number = DatasetVersion.objects.count()
    return DatasetVersion.objects.create(
        project=project, content_hash=f"{number:064d}", image_count=1, box_count=1
    )


def start(client, project, **body):
    return client.post(f"/api/v1/projects/{project.pk}/runs", body, format="json")


def project_classes(project) -> list[str]:
    return list(project.categories.order_by("order", "id").values_list("name", flat=True))


def test_start_from_a_version_of_this_project(make_bccd_project, api_client_for):
    project = make_bccd_project()
    classes = project_classes(project)
    model = make_model(project, classes[:2], preset="balanced")
    client = api_client_for(project.created_by)
    response = start(client, project, start_from=model.pk, time_budget_minutes=3)
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.start_model == model
    # The preset is the starting model's (its network), with the fine-tune's warm-up.
    assert run.config["preset"] == "balanced"
    assert run.config["warmup_steps"] == FINETUNE_WARMUP_STEPS
    assert run.started_from == {
        "model_id": model.pk,
        "project_id": project.pk,
        "project": project.name,
        "version": 1,
        "preset": "balanced",
        "classes": {"matched": classes[:2], "new": classes[2:], "dropped": []},
    }
    origin = response.json()["started_from"]
    assert origin["text"] == (
        f"{project.name} v1 (classes matched: {', '.join(classes[:2])}; new: {classes[2]})"
    )
    assert origin["model_id"] == model.pk and origin["model_exists"]
    # From ImageNet: the default, said so.
    plain = start(client, project, preset="fast")
    assert plain.status_code == 201
    assert plain.json()["started_from"]["text"] == "ImageNet backbone"
    assert TrainingRun.objects.get(pk=plain.json()["id"]).started_from == {}
    # The version deleted: the run keeps its snapshot.
    model.delete()
    run.refresh_from_db()
    assert run.start_model is None and run.started_from["version"] == 1
    detail = client.get(f"/api/v1/projects/{project.pk}/runs/{run.pk}").json()
    assert detail["started_from"]["text"].startswith(f"{project.name} v1 (")
    assert detail["started_from"]["model_exists"] is False


def test_start_from_another_project_of_the_user_with_classes_in_common(
    make_bccd_project, api_client_for
):
    project = make_bccd_project()
    other = make_bccd_project(owner=project.created_by)
    classes = project_classes(project)
    model = make_model(other, [classes[0], "Smudge"], version=4)
    response = start(api_client_for(project.created_by), project, start_from=model.pk)
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.started_from["classes"] == {
        "matched": classes[:1],
        "new": classes[1:],
        "dropped": ["Smudge"],
    }
    assert response.json()["started_from"]["text"] == (
        f"{other.name} v4 (classes matched: {classes[0]}; new: {', '.join(classes[1:])}; "
        "dropped: Smudge)"
    )


def test_a_version_of_a_project_the_user_is_not_in_is_refused(
    make_bccd_project, make_user, api_client_for
):
    project = make_bccd_project()
    stranger = make_bccd_project()  # another owner's project, same classes
    model = make_model(stranger, project_classes(project))
    client = api_client_for(project.created_by)
    for model_id in (model.pk, model.pk + 1000):
        response = start(client, project, start_from=model_id)
        assert response.status_code == 404, response.json()
        assert response.json()["detail"] == (
            f"No model version {model_id} in your projects: start from one of your projects' "
            "models (or from the ImageNet backbone)."
        )
    assert not TrainingRun.objects.filter(project=project).exists()
    # A member of both (any role) may start from it.
    Membership.objects.create(project=stranger, user=project.created_by, role=Role.VIEWER)
    assert start(client, project, start_from=model.pk).status_code == 201


def test_a_version_without_a_checkpoint_is_refused(make_bccd_project, api_client_for):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    none = make_model(project, project_classes(project), checkpoint=False)
    response = start(client, project, start_from=none.pk)
    assert response.status_code == 400
    message = f"Cannot start from model v1 of {project.name}: it has no checkpoint to start from."
    assert response.json()["errors"]["start_from"] == [message]
    gone = make_model(project, project_classes(project), version=2)
    default_storage.delete(gone.checkpoint_file)  # recorded, but not in the storage
    response = start(client, project, start_from=gone.pk)
    assert response.status_code == 400
    assert "v2" in response.json()["errors"]["start_from"][0]
    assert "no checkpoint" in response.json()["errors"]["start_from"][0]
    assert not TrainingRun.objects.filter(project=project, model_version__isnull=True).exists()


def test_another_preset_or_no_class_in_common_is_refused(make_bccd_project, api_client_for):
    project = make_bccd_project()
    client = api_client_for(project.created_by)
    model = make_model(project, project_classes(project), preset="balanced")
    response = start(client, project, start_from=model.pk, preset="fast")
    assert response.status_code == 400
    assert response.json()["errors"]["preset"] == [
        f"Cannot start from model v1 of {project.name} with the fast preset: it was trained "
        "with the balanced preset, and a fine-tune keeps the network of the model it starts "
        "from. Choose balanced (or leave the preset out)."
    ]
    assert start(client, project, start_from=model.pk, preset="balanced").status_code == 201
    foreign = make_model(project, ["Cat", "Dog"], version=2)
    response = start(client, project, start_from=foreign.pk)
    assert response.status_code == 400
    assert response.json()["errors"]["start_from"] == [
        f"Cannot start from model v2 of {project.name}: none of its classes (Cat, Dog) is a "
        f"class of this project ({', '.join(project_classes(project))})."
    ]
    # Only the run with the model's own preset was made.
    assert TrainingRun.objects.filter(project=project, model_version__isnull=True).count() == 1


def test_pages_and_model_api_say_what_a_run_started_from(make_bccd_project, client):
    project = make_bccd_project()
    owner = project.created_by
    classes = project_classes(project)
    first = make_model(project, classes[:2])
    stranger = make_bccd_project()
    hidden = make_model(stranger, classes)
    unrelated = make_model(make_bccd_project(owner=owner), ["Cat"])
    client.force_login(owner)

    train_page = client.get(f"/projects/{project.pk}/train/").content.decode()
    assert "ImageNet backbone (a new model)" in train_page
    match = f"classes matched: {', '.join(classes[:2])}; new: {classes[2]}"
    assert f'<option value="{first.pk}" data-preset="fast">{project.name} v1' in train_page
    assert match in train_page
    assert f'value="{hidden.pk}"' not in train_page  # another team's
    assert f'value="{unrelated.pk}"' not in train_page  # no class in common

    api = client.post(
        f"/api/v1/projects/{project.pk}/runs", {"start_from": first.pk}, "application/json"
    )
    assert api.status_code == 201, api.json()
    run = TrainingRun.objects.get(pk=api.json()["id"])
    run_page = client.get(f"/projects/{project.pk}/runs/{run.pk}/").content.decode()
    origin = f"{project.name} v1 ({match})"
    assert "<dt>Started from</dt>" in run_page
    assert origin in run_page
    assert f'href="/projects/{project.pk}/models/{first.pk}/"' in run_page
    # The run's own model version, once it has one, says it on its page and in its API.
    run.dataset_version = dataset_version(project)
    run.save()
    second = ModelVersion.objects.create(
        project=project, run=run, version=2, onnx_file="y.onnx", onnx_sha256="1" * 64
    )
    model_page = client.get(f"/projects/{project.pk}/models/{second.pk}/").content.decode()
    assert '<dt>Started from</dt><dd data-field="started-from">' + origin in model_page
    model_api = client.get(f"/api/v1/models/{second.pk}").json()
    assert model_api["started_from"]["text"] == origin
    assert model_api["started_from"]["classes"]["new"] == classes[2:]
    listed = client.get(f"/api/v1/projects/{project.pk}/models").json()
    assert {m["version"]: m["started_from"]["text"] for m in listed} == {
        2: origin,
        1: "ImageNet backbone",
    }
    first_page = client.get(f"/projects/{project.pk}/models/{first.pk}/").content.decode()
    assert '<dd data-field="started-from">ImageNet backbone</dd>' in first_page
    project_page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f"from {project.name} v1" in project_page


def test_manage_py_train_start_from(make_bccd_project, capsys):
    project = make_bccd_project()
    classes = project_classes(project)
    model = make_model(project, classes, preset="balanced")
    call_command("train", str(project.pk), "--start-from", str(model.pk))
    run = TrainingRun.objects.get(project=project, start_model=model)
    assert run.config["preset"] == "balanced"
    assert run.config["warmup_steps"] == FINETUNE_WARMUP_STEPS
    out = capsys.readouterr().out
    assert f"preset balanced, started from {project.name} v1 (classes matched:" in out
    with pytest.raises(CommandError, match="trained with the balanced preset"):
        call_command("train", str(project.pk), "--start-from", str(model.pk), "--preset", "fast")
    with pytest.raises(CommandError, match="no model version with id"):
        call_command("train", str(project.pk), "--start-from", str(model.pk + 99))
