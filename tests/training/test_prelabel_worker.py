"""Pre-labeling through a real Celery worker process, then one suggestion accepted and one
rejected through the annotation API."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from labeling.models import Annotation, AnnotationChange, ImageStatus, Suggestion, SuggestionStatus
from tests.labeling.annotation_helpers import put
from tests.training.conftest import WORKER_ENV
from tests.training.prelabel_helpers import add_categories, add_images
from training.models import PrelabelJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_job(job_id: int, timeout: float) -> PrelabelJob:
    deadline = time.monotonic() + timeout
    seen = set()
    while True:
        job = PrelabelJob.objects.get(pk=job_id)
        seen.add(job.status)
        if job.is_finished or time.monotonic() > deadline:
            job.seen = seen
            return job
        time.sleep(0.1)


def test_prelabel_in_a_worker_then_accept_and_reject(
    model_version, tiny_trained, project_team, api_client_for, worker_factory
):
    project = project_team["project"]
    add_categories(project)
    images = add_images(project, tiny_trained, indices=(1, 2, 3))
    worker = worker_factory(**WORKER_ENV)
    client = api_client_for(project_team["users"]["annotator"])
    response = client.post(
        reverse("api-prelabel-jobs", args=[project.pk]),
        {"model": model_version.pk, "threshold": 0.06, "confirm": True},  # not usable yet
        format="json",
    )
    assert response.status_code == 202, response.content
    job = wait_job(response.json()["id"], timeout=120)
    assert job.status == "succeeded", (job.error, worker.log_path.read_text()[-3000:])
    assert (job.total, job.processed) == (3, 3)
    progress = client.get(response.json()["url"]).json()
    assert progress["suggestion_count"] == job.suggestion_count > 0
    # Suggestions only: no label yet.
    assert Annotation.objects.count() == 0
    image = images[0]
    image.refresh_from_db()
    assert image.status == ImageStatus.UNLABELED

    url = reverse("api-image-suggestions", args=[project.pk, image.pk])
    accept, reject, *rest = client.get(url).json()["suggestions"]
    response = put(
        client,
        image,
        {
            "base_version": 0,
            "boxes": [
                {
                    "category_id": accept["category_id"],
                    "bbox": accept["bbox"],
                    "suggestion_id": accept["id"],
                }
            ],
            "rejected_suggestions": [reject["id"]],
        },
    )
    assert response.status_code == 200, response.content
    [box] = Annotation.objects.all()
    assert box.image_id == image.pk and box.category_id == accept["category_id"]
    assert [box.x, box.y, box.w, box.h] == pytest.approx(accept["bbox"])
    [change] = AnnotationChange.objects.filter(image=image)
    assert change.after == [
        {
            "id": box.pk,
            "category_id": box.category_id,
            "bbox": [box.x, box.y, box.w, box.h],
            "area": box.area,
            "origin": {
                "suggestion_id": accept["id"],
                "model_id": model_version.pk,
                "model_version": model_version.version,
                "job": job.pk,
                "score": accept["score"],
            },
        }
    ]
    accepted = Suggestion.objects.get(pk=accept["id"])
    assert (accepted.status, accepted.annotation_id) == (SuggestionStatus.ACCEPTED, box.pk)
    assert Suggestion.objects.get(pk=reject["id"]).status == SuggestionStatus.REJECTED
    assert {s.status for s in Suggestion.objects.filter(pk__in=[s["id"] for s in rest])} <= {
        SuggestionStatus.PENDING
    }
