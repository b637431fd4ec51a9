"""Pre-labeling (the job's logic, run in-process) and the editor's suggestion contract.

The same job through a real Celery worker is in test_prelabel_worker.py.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import (
    Annotation,
    AnnotationChange,
    Image,
    ImageStatus,
    Suggestion,
    SuggestionStatus,
)
from tests.labeling.annotation_helpers import put
from tests.training.prelabel_helpers import add_categories, add_images
from training import inference
from training.datasets import trainable_images
from training.models import ModelVersion, PrelabelJob, PrelabelResult, PrelabelStatus
from training.prelabel import prelabel_cancel, prelabel_execute, prelabel_start

pytestmark = pytest.mark.django_db

THRESHOLD = 0.06  # this barely trained model scores about 0.07-0.08 at best


@pytest.fixture
def setup(model_version, tiny_trained, project_team):
    inference.session_cache().clear()
    project = project_team["project"]
    categories = add_categories(project)
    images = add_images(project, tiny_trained)
    return {"project": project, "model": model_version, "images": images, "cats": categories}


def run_job(setup, user=None, **options) -> PrelabelJob:
    options.setdefault("threshold", THRESHOLD)
    job = prelabel_start(project=setup["project"], model=setup["model"], user=user, **options)
    assert prelabel_execute(job.pk) == PrelabelStatus.SUCCEEDED
    job.refresh_from_db()
    return job


def suggestions_url(image: Image) -> str:
    return reverse("api-image-suggestions", args=[image.project_id, image.pk])


def test_a_job_stores_suggestions_that_are_not_labels(setup):
    job = run_job(setup)
    images = setup["images"]
    assert (job.status, job.total, job.processed, job.failed_images) == ("succeeded", 4, 4, 0)
    assert job.suggestion_count == Suggestion.objects.filter(job_id=job.pk).count() > 0
    assert set(Suggestion.objects.values_list("status", flat=True)) == {"pending"}
    assert all(s.score >= THRESHOLD for s in Suggestion.objects.all())
    assert {s.category_id for s in Suggestion.objects.all()} <= {
        c.pk for c in setup["cats"].values()
    }
    for s in Suggestion.objects.select_related("image"):  # inside their images
        assert s.x >= 0 and s.y >= 0 and s.w > 0 and s.h > 0
        assert s.x + s.w <= s.image.width + 1e-3 and s.y + s.h <= s.image.height + 1e-3
    assert PrelabelResult.objects.filter(job=job).count() == 4
    # Never labels: no boxes, statuses unchanged, nothing to train on.
    assert Annotation.objects.count() == 0
    assert {i.status for i in Image.objects.filter(pk__in=[i.pk for i in images])} == {
        ImageStatus.UNLABELED
    }
    assert trainable_images(project=setup["project"]).count() == 0


def test_model_thresholds_by_default_and_no_suggestion_above_them(setup):
    ModelVersion.objects.filter(pk=setup["model"].pk).update(threshold=0.99)
    job = run_job(setup, threshold=None)
    assert job.suggestion_count == 0
    results = PrelabelResult.objects.filter(job=job)
    assert results.count() == 4  # the uncertainty is recorded all the same
    assert all(0 <= r.uncertainty <= 1 for r in results)


def test_editor_contract_accept_one_reject_another(setup, project_team, api_client_for):
    run_job(setup)
    image = setup["images"][0]
    client = api_client_for(project_team["users"]["annotator"])
    listed = client.get(suggestions_url(image)).json()
    assert listed["image"] == image.pk
    found = listed["suggestions"]
    assert len(found) >= 2
    first, second = found[0], found[1]
    assert set(first) == {"id", "category_id", "bbox", "score", "model_version", "job",
                          "created_at"}  # fmt: skip
    assert first["model_version"] == {"id": setup["model"].pk, "version": 1}
    assert first["score"] >= second["score"]
    response = put(
        client,
        image,
        {
            "base_version": 0,
            "request_id": "accept-1",
            "boxes": [
                {
                    "category_id": first["category_id"],
                    "bbox": first["bbox"],
                    "suggestion_id": first["id"],
                },
            ],  # fmt: skip
            "rejected_suggestions": [second["id"]],
        },
    )
    assert response.status_code == 200, response.content
    saved = response.json()
    [box] = saved["boxes"]
    assert box["origin"] == {
        "suggestion_id": first["id"],
        "model_id": setup["model"].pk,
        "model_version": 1,
        "job": first["job"],
        "score": pytest.approx(first["score"]),
    }
    # The database: exactly the accepted box, its origin in the history.
    [annotation] = Annotation.objects.filter(image=image)
    assert annotation.category_id == first["category_id"]
    assert [annotation.x, annotation.y, annotation.w, annotation.h] == pytest.approx(first["bbox"])
    change = AnnotationChange.objects.get(image=image)
    assert change.after[0]["origin"]["suggestion_id"] == first["id"]
    accepted = Suggestion.objects.get(pk=first["id"])
    assert accepted.status == SuggestionStatus.ACCEPTED
    assert accepted.annotation_id == annotation.pk
    assert accepted.decided_by == project_team["users"]["annotator"]
    rejected = Suggestion.objects.get(pk=second["id"])
    assert rejected.status == SuggestionStatus.REJECTED and rejected.annotation_id is None
    pending = client.get(suggestions_url(image)).json()["suggestions"]
    assert {s["id"] for s in pending} == {s["id"] for s in found} - {first["id"], second["id"]}
    image.refresh_from_db()
    assert image.status == ImageStatus.LABELED
    history_url = reverse("api-image-annotations-history", args=[image.project_id, image.pk])
    history = client.get(history_url).json()
    assert history["results"][0]["after"][0]["origin"]["model_version"] == 1
    # A repeat of the same request is applied once.
    again = put(client, image, {"base_version": 0, "request_id": "accept-1", "boxes": []})
    assert again.json()["replayed"] is True
    assert Annotation.objects.filter(image=image).count() == 1


def test_refused_decisions_change_nothing(setup, project_team, api_client_for):
    run_job(setup)
    one, two = setup["images"][:2]
    client = api_client_for(project_team["users"]["annotator"])
    mine = client.get(suggestions_url(one)).json()["suggestions"]
    theirs = client.get(suggestions_url(two)).json()["suggestions"]

    def save(boxes, rejected=()):
        return put(client, one, {"base_version": 0, "boxes": boxes,
                                 "rejected_suggestions": list(rejected)})  # fmt: skip

    box = {"category_id": mine[0]["category_id"], "bbox": mine[0]["bbox"]}
    cases = [
        save([{**box, "suggestion_id": theirs[0]["id"]}]),  # another image's suggestion
        save([{**box, "suggestion_id": mine[0]["id"]}], [mine[0]["id"]]),  # both ways
        save([{**box, "suggestion_id": mine[0]["id"]}, {**box, "suggestion_id": mine[0]["id"]}]),
        save([], [999_999]),  # no such suggestion
        save([{**box, "suggestion_id": "12"}]),  # not an id
    ]
    for response in cases:
        assert response.status_code == 400, response.content
    assert "suggestion" in cases[0].json()["detail"].lower()
    assert Annotation.objects.count() == 0
    assert set(Suggestion.objects.values_list("status", flat=True)) == {"pending"}
    # An accepted suggestion cannot be accepted again.
    assert save([{**box, "suggestion_id": mine[0]["id"]}]).status_code == 200
    again = put(client, one, {"base_version": 1, "boxes": [
        {**box, "suggestion_id": mine[0]["id"]}]})  # fmt: skip
    assert again.status_code == 400
    assert "already accepted" in again.json()["detail"]
    # A viewer decides nothing.
    viewer = api_client_for(project_team["users"]["viewer"])
    assert put(viewer, one, {"base_version": 1, "boxes": [], "rejected_suggestions": [
        mine[1]["id"]]}).status_code == 403  # fmt: skip


def test_rejecting_without_changing_the_boxes(setup, project_team, api_client_for):
    run_job(setup)
    image = setup["images"][0]
    client = api_client_for(project_team["users"]["annotator"])
    [first, *_] = client.get(suggestions_url(image)).json()["suggestions"]
    assert put(client, image, {"base_version": 0, "boxes": []}).status_code == 200  # v1
    response = put(client, image, {"base_version": 1, "boxes": [],
                                   "rejected_suggestions": [first["id"]]})  # fmt: skip
    assert response.status_code == 200
    assert response.json()["version"] == 1  # the boxes did not change: no new version
    assert Suggestion.objects.get(pk=first["id"]).status == SuggestionStatus.REJECTED


def test_a_later_job_supersedes_pending_suggestions(setup, project_team, api_client_for):
    first_job = run_job(setup)
    image = setup["images"][0]
    client = api_client_for(project_team["users"]["annotator"])
    [accepted, *_] = client.get(suggestions_url(image)).json()["suggestions"]
    put(client, image, {"base_version": 0, "boxes": [
        {"category_id": accepted["category_id"], "bbox": accepted["bbox"],
         "suggestion_id": accepted["id"]}]})  # fmt: skip
    second_job = run_job(setup, filters={})  # every image, labeled or not
    old = Suggestion.objects.filter(job_id=first_job.pk)
    assert old.get(pk=accepted["id"]).status == SuggestionStatus.ACCEPTED
    assert set(old.exclude(pk=accepted["id"]).values_list("status", flat=True)) == {"superseded"}
    now = client.get(suggestions_url(image)).json()["suggestions"]
    assert now and {s["job"] for s in now} == {second_job.pk}


def test_filters_pick_the_images(setup, project_team, api_client_for):
    client = api_client_for(project_team["users"]["annotator"])
    labeled = setup["images"][0]
    put(client, labeled, {"base_version": 0, "boxes": [], "no_objects": True})
    job = run_job(setup)  # default: unlabeled images only
    assert labeled.pk not in job.image_ids and job.total == 3
    only = run_job(setup, filters={}, image_ids=[labeled.pk])
    assert only.image_ids == [labeled.pk]


def test_one_active_job_per_project_and_cancel(setup, project_team, api_client_for):
    client = api_client_for(project_team["users"]["annotator"])
    url = reverse("api-prelabel-jobs", args=[setup["project"].pk])
    body = {"model": setup["model"].pk, "threshold": 0.5, "confirm": True}  # a tiny model
    created = client.post(url, body, format="json")
    assert created.status_code == 202, created.content
    job = created.json()
    assert (job["status"], job["model_version"]) == ("queued", 1)
    busy = client.post(url, body, format="json")
    assert busy.status_code == 409
    assert busy.json()["job"]["id"] == job["id"]
    cancelled = client.post(f"{job['url']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert prelabel_execute(job["id"]) == "skipped"
    assert client.post(f"{job['url']}/cancel").status_code == 400  # already finished
    assert client.post(url, body, format="json").status_code == 202
    listed = client.get(url).json()
    assert [j["status"] for j in listed["results"]] == ["queued", "cancelled"]
    viewer = api_client_for(project_team["users"]["viewer"])
    assert viewer.post(url, body, format="json").status_code == 403
    other_model = client.post(url, {"model": 999_999}, format="json")
    assert other_model.status_code == 404


def test_a_running_job_stops_at_its_next_batch(setup, monkeypatch):
    job = prelabel_start(project=setup["project"], model=setup["model"], user=None)
    from training import prelabel

    monkeypatch.setattr(prelabel, "BATCH", 1)
    original = prelabel._store

    def store_then_cancel(*args, **kwargs):
        original(*args, **kwargs)
        prelabel_cancel(job=job)

    monkeypatch.setattr(prelabel, "_store", store_then_cancel)
    assert prelabel_execute(job.pk) == PrelabelStatus.CANCELLED
    job.refresh_from_db()
    assert (job.status, job.processed, job.total) == ("cancelled", 1, 4)


def test_a_job_on_a_model_that_is_not_ready_fails_in_words(setup):
    ModelVersion.objects.filter(pk=setup["model"].pk).update(onnx_file="gone.onnx")
    job = prelabel_start(project=setup["project"], model=setup["model"], user=None)
    assert prelabel_execute(job.pk) == PrelabelStatus.FAILED
    job.refresh_from_db()
    assert "not ready" in job.error


def test_label_next_most_useful(setup, project_team, api_client_for):
    client = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-images-most-useful", args=[setup["project"].pk])
    assert client.get(url).json() == {"job": None, "count": 0, "results": []}
    job = run_job(setup)
    body = client.get(url).json()
    assert body["job"]["id"] == job.pk
    assert body["count"] == 4
    values = [(r["uncertainty"], r["borderline"]) for r in body["results"]]
    assert values == sorted(values, reverse=True)
    top = body["results"][0]
    assert set(top["image"]) >= {"id", "thumbnail_url", "file_url", "original_name"}
    assert top["uncertainty"] > 0
    # A labeled image leaves the list.
    annotator = api_client_for(project_team["users"]["annotator"])
    labeled = Image.objects.get(pk=top["image"]["id"])
    put(annotator, labeled, {"base_version": 0, "boxes": [], "no_objects": True})
    body = client.get(url).json()
    assert body["count"] == 3
    assert labeled.pk not in [r["image"]["id"] for r in body["results"]]
    assert client.get(f"{url}?model=abc").status_code == 400
    assert client.get(f"{url}?model={setup['model'].pk}&limit=1").json()["count"] == 3
    outsider = api_client_for(project_team["users"]["outsider"])
    assert outsider.get(url).status_code == 404


def test_the_useful_order_is_stored_when_the_job_ends(setup, project_team, api_client_for):
    client = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-images-most-useful", args=[setup["project"].pk])
    job = run_job(setup)
    results = PrelabelResult.objects.filter(job=job).order_by("rank")
    assert sorted(r.rank for r in results) == list(range(1, results.count() + 1))
    ranked = [r.image_id for r in results]
    # A request reads the stored order; it never sorts the results again.
    PrelabelResult.objects.filter(job=job).update(uncertainty=0.5, borderline=0)
    assert [r["image"]["id"] for r in client.get(url).json()["results"]] == ranked


@pytest.mark.parametrize("images", [3, 30])
def test_label_next_most_useful_takes_the_same_queries_at_any_size(
    setup, project_team, api_client_for, images
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from tests.labeling.annotation_helpers import make_image
    from training.prelabel import results_rank

    project = setup["project"]
    job = PrelabelJob.objects.create(
        project=project, model=setup["model"], status=PrelabelStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )  # fmt: skip
    PrelabelResult.objects.bulk_create(
        PrelabelResult(job=job, image=make_image(project), uncertainty=i / images)
        for i in range(images)
    )
    results_rank(job=job)
    client = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-images-most-useful", args=[project.pk])
    client.get(url)  # the session and the membership are read once either way
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).json()
    assert body["count"] == images
    # The membership, the job, the count and the page: four whatever the size.
    assert len(queries) == 4, [q["sql"][:80] for q in queries]
