"""A model version's name and notes, and deleting a version with its files, through the
API: who may, what the production version answers, what is left in storage."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from labeling import ingest
from labeling.models import Category, Image, Suggestion, SuggestionStatus
from tests.labeling.imagefiles import image_bytes
from training import selectors
from training.models import (
    DeletedModelVersion,
    ModelVersion,
    PrelabelJob,
    TrainingRun,
)

pytestmark = pytest.mark.django_db


def url(model) -> str:
    return reverse("api-model", args=[model.pk])


def test_name_and_notes_editors_and_owners_not_viewers(stored_model, project_team, api_client_for):
    model = stored_model(1, production=True)
    users = project_team["users"]
    body = {"name": "  night shots ", "notes": "Trained on the new camera.\nBetter at dusk."}
    response = api_client_for(users["annotator"]).patch(url(model), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "night shots"
    model.refresh_from_db()
    assert (model.name, model.notes) == ("night shots", body["notes"].strip())
    # The downloads carry them too.
    viewer = api_client_for(users["viewer"])
    download = reverse("api-model-download", args=[model.pk])
    sidecar = json.loads(b"".join(viewer.get(f"{download}?artifact=sidecar").streaming_content))
    assert (sidecar["name"], sidecar["notes"]) == ("night shots", body["notes"].strip())
    card = b"".join(viewer.get(f"{download}?artifact=card").streaming_content).decode()
    assert card.startswith("# Cells — model v1 (night shots)\n")
    assert card.endswith("## Notes\nTrained on the new camera.\nBetter at dusk.\n")
    # An owner too, even of the production version (the name changes nothing it serves).
    response = api_client_for(users["owner"]).patch(url(model), {"name": ""}, format="json")
    assert response.status_code == 200 and response.json()["name"] == ""
    assert response.json()["notes"] == body["notes"].strip()  # left as it was
    # Viewers cannot; outsiders do not see the model at all.
    response = api_client_for(users["viewer"]).patch(url(model), {"name": "x"}, format="json")
    assert response.status_code == 403
    response = api_client_for(users["outsider"]).patch(url(model), {"name": "x"}, format="json")
    assert response.status_code == 404
    too_long = api_client_for(users["owner"]).patch(url(model), {"name": "x" * 101}, format="json")
    assert too_long.status_code == 400 and "name" in too_long.json()["errors"]
    model.refresh_from_db()
    assert model.name == ""


def test_delete_a_version_with_its_files_and_its_number_is_not_reused(
    stored_model, project_team, api_client_for, django_capture_on_commit_callbacks
):
    users = project_team["users"]
    first, second = stored_model(1, production=True), stored_model(2)
    files = [second.onnx_file, second.checkpoint_file]
    # Its suggestions: a pending one goes with it; a decided one stays (the boxes' history).
    project = second.project
    ingest.images_ingest(
        project=project, sources=[ingest.Source("a.png", io.BytesIO(image_bytes()))]
    )
    image = Image.objects.get(project=project)
    category = Category.objects.create(project=project, name="RBC")
    made = {"image": image, "category": category, "x": 1, "y": 1, "w": 5, "h": 5, "score": 0.9}
    mine = {"job_id": 1, "model_id": second.pk, "model_version": 2}
    pending = Suggestion.objects.create(**made, **mine)
    rejected = Suggestion.objects.create(**made, **mine, status=SuggestionStatus.REJECTED)
    others = Suggestion.objects.create(**made, job_id=2, model_id=first.pk, model_version=1)
    assert all(default_storage.exists(name) for name in files)
    assert api_client_for(users["viewer"]).delete(url(second)).status_code == 403
    assert api_client_for(users["outsider"]).delete(url(second)).status_code == 404
    assert ModelVersion.objects.filter(pk=second.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):  # the files go once committed
        response = api_client_for(users["annotator"]).delete(url(second))
    assert response.status_code == 204, response.content
    assert not ModelVersion.objects.filter(pk=second.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert default_storage.exists(first.onnx_file)  # the other version's files stay
    assert TrainingRun.objects.filter(pk=second.run_id).exists()  # its run stays
    assert set(Suggestion.objects.values_list("pk", flat=True)) == {rejected.pk, others.pk}
    assert pending.pk not in set(Suggestion.objects.values_list("pk", flat=True))
    gone = DeletedModelVersion.objects.get(project=second.project)
    assert (gone.version, gone.deleted_by) == (2, users["annotator"])
    # The next model is v3, not a second "v2".
    assert selectors.next_model_version(project_id=second.project_id) == 3
    assert api_client_for(users["owner"]).delete(url(second)).status_code == 404


def test_the_production_version_and_one_in_use_are_not_deleted(
    stored_model, project_team, api_client_for
):
    owner = api_client_for(project_team["users"]["owner"])
    production, other = stored_model(1, production=True), stored_model(2)
    response = owner.delete(url(production))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "v1 is the production model: make another version the production one first."
    )
    assert ModelVersion.objects.filter(pk=production.pk).exists()
    assert default_storage.exists(production.onnx_file)
    PrelabelJob.objects.create(project=production.project, model=other)  # queued
    response = owner.delete(url(other))
    assert response.status_code == 409
    assert "pre-label job is using v2" in response.json()["detail"]
    assert default_storage.exists(other.checkpoint_file)
    assert not DeletedModelVersion.objects.exists()


def test_a_lost_job_does_not_keep_a_version_and_goes_with_it(stored_model, project_team):
    from datetime import timedelta

    from django.utils import timezone

    from training import registry

    model = stored_model(2)
    lost = PrelabelJob.objects.create(project=model.project, model=model)
    PrelabelJob.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(days=1))
    registry.model_delete(model=model, user=project_team["users"]["owner"])
    assert not PrelabelJob.objects.filter(pk=lost.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_pre_labeling_with_a_version_deleted_meanwhile_says_so(stored_model, project_team):
    """A job asked for while the version is being deleted waits for the deletion, then is
    refused in words (not an integrity error from the database)."""
    import threading

    from django.core.exceptions import ValidationError
    from django.db import connection, transaction

    from labeling.models import Project
    from training import registry
    from training.prelabel import prelabel_start

    model = stored_model(2)
    outcome = {}

    def start() -> None:
        try:
            prelabel_start(project=model.project, model=model, user=None)
            outcome["started"] = True
        except ValidationError as exc:
            outcome["refused"] = exc.message_dict
        finally:
            connection.close()

    with transaction.atomic():  # the deletion, holding its locks (project, then version)
        Project.objects.select_for_update().get(pk=model.project_id)
        ModelVersion.objects.select_for_update().get(pk=model.pk)
        other = threading.Thread(target=start)
        other.start()
        other.join(timeout=1.5)
        assert other.is_alive(), "the job should wait for the deletion's lock"
        registry.model_delete(model=model, user=None)
    other.join(timeout=10)
    assert outcome == {"refused": {"model": ["Model v2 was deleted."]}}
    assert not PrelabelJob.objects.exists()
