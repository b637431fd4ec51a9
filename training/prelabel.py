"""Pre-labeling: a model version proposes boxes for a set of a project's images.

- ``prelabel_start`` (web): checks the request, creates the job (one active job per
  project) and enqueues it on the ``default`` queue once committed.
- ``prelabel_execute`` (worker, ``training.tasks.prelabel_run``): claims the job, freezes
  its image set, then batch by batch runs the model (the cached ONNX Runtime session of
  training/inference.py), stores the detections at or above the thresholds as
  suggestions through labeling's ``suggestions_replace`` (replacing the pending
  suggestions older jobs made for those images) and
  one PrelabelResult per image (how unsure the model was), and records the progress.
  Each batch is one transaction, so a redelivered job skips the images already done;
  the cancel flag is read before every batch.
- ``images_most_useful`` (selector): the unlabeled images ordered by the uncertainty of
  the project's latest finished job ("label next most useful").

Suggestions are never labels (labeling/suggestions.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from labeling import ingest, selectors, suggestions
from labeling.models import Image, ImageStatus, Project
from labeling.suggestions import ProposedBox, SuggestionSource
from training.models import ModelVersion, PrelabelJob, PrelabelResult, PrelabelStatus

logger = logging.getLogger(__name__)

BATCH = 16
FILTERS = ("split", "category", "status", "no_objects")
ACTIVE = (PrelabelStatus.QUEUED, PrelabelStatus.RUNNING)


class PrelabelBusy(Exception):
    """The project already has an active job (``job``)."""

    def __init__(self, job: PrelabelJob) -> None:
        self.job = job
        super().__init__(
            f"Pre-label job {job.pk} of this project is still {job.status}: wait for it "
            "or cancel it."
        )


def prelabel_start(
    *,
    project: Project,
    model: ModelVersion,
    user: AbstractBaseUser | None,
    threshold: float | None = None,
    filters: dict[str, Any] | None = None,
    image_ids: list[int] | None = None,
) -> PrelabelJob:
    """Create and enqueue a job; ``filters`` as the image list's (default: unlabeled)."""
    if model.project_id != project.pk:
        raise ValidationError({"model": "This model version is not one of this project's."})
    filters = {"status": ImageStatus.UNLABELED} if filters is None else dict(filters)
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValidationError({"filters": f"Unknown filter {sorted(unknown)[0]!r}."})
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        # Locked against its deletion meanwhile (training/registry.py model_delete locks
        # the project, then the version, too).
        if not ModelVersion.objects.select_for_update().filter(pk=model.pk).exists():
            raise ValidationError({"model": f"Model v{model.version} was deleted."})
        for job in PrelabelJob.objects.filter(project=project, status__in=ACTIVE):
            if not prelabel_lost(job):
                raise PrelabelBusy(job)
            PrelabelJob.objects.filter(pk=job.pk).update(
                status=PrelabelStatus.FAILED,
                finished_at=timezone.now(),
                error="Its worker was lost (no progress for too long).",
            )
        job = PrelabelJob.objects.create(
            project=project,
            model=model,
            threshold=threshold,
            filters={**filters, **({"image_ids": list(image_ids)} if image_ids else {})},
            created_by=user,
        )
        transaction.on_commit(lambda: prelabel_enqueue(job_id=job.pk))
    return job


def prelabel_enqueue(*, job_id: int) -> None:
    # By name: this module never imports training.tasks, which calls it.
    task = current_app.signature("training.tasks.prelabel_run", args=[job_id], queue="default")
    task.apply_async()


def prelabel_cancel(*, job: PrelabelJob) -> PrelabelJob:
    """A queued job stops at once, a running one before its next batch. The suggestions
    it already made stay."""
    with transaction.atomic():
        job = PrelabelJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise ValidationError({"status": f"The job has already {job.status}."})
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.status == PrelabelStatus.QUEUED:
            job.status, job.finished_at = PrelabelStatus.CANCELLED, timezone.now()
            fields += ["status", "finished_at"]
        job.save(update_fields=fields)
    return job


def prelabel_lost(job: PrelabelJob) -> bool:
    """A queued job no worker took, or a running one silent, for too long."""
    now = timezone.now()
    if job.status == PrelabelStatus.RUNNING:
        silence = timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
        return (job.heartbeat_at or job.created_at) < now - silence
    wait = timedelta(seconds=settings.STUDIO_REQUEUE_AFTER_SECONDS)
    return job.created_at < now - wait


# --- The worker's part --------------------------------------------------------------------


def prelabel_execute(job_id: int) -> str:
    """Run (or resume) a job to its end; returns its final status (or "skipped")."""
    job = _claim(job_id)
    if job is None:
        return "skipped"
    try:
        return _run(job)
    except Exception as exc:  # noqa: BLE001 - every failure ends the job with words
        logger.exception("pre-label job %s failed", job_id)
        from training.inference import PredictError

        message = str(exc) if isinstance(exc, PredictError) else f"Internal error: {exc}"
        PrelabelJob.objects.filter(pk=job_id).update(
            status=PrelabelStatus.FAILED, error=message, finished_at=timezone.now()
        )
        return PrelabelStatus.FAILED


def _claim(job_id: int) -> PrelabelJob | None:
    with transaction.atomic():
        job = PrelabelJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == PrelabelStatus.RUNNING and not prelabel_lost(job):
            return None  # another worker has it (a duplicate message)
        now = timezone.now()
        if job.cancel_requested:
            job.status, job.finished_at = PrelabelStatus.CANCELLED, now
            job.save(update_fields=["status", "finished_at"])
            return None
        if job.attempts == 0:
            job.image_ids = _image_ids(job)
            job.total = len(job.image_ids)
        job.attempts += 1
        job.status, job.heartbeat_at = PrelabelStatus.RUNNING, now
        job.started_at = job.started_at or now
        # Counters from what is stored (a redelivered job counts again from there).
        job.processed = PrelabelResult.objects.filter(job=job).count()
        job.suggestion_count = suggestions.suggestion_count(job_id=job.pk)
        job.failed_images = 0
        job.save()
    return job


def _image_ids(job: PrelabelJob) -> list[int]:
    filters = {k: v for k, v in job.filters.items() if k in FILTERS}
    images = selectors.image_list(project=job.project, **filters)
    if job.filters.get("image_ids"):
        images = images.filter(pk__in=job.filters["image_ids"])
    return list(images.values_list("pk", flat=True))


def _run(job: PrelabelJob) -> str:
    from training import inference
    from training.ml import runtime

    model = ModelVersion.objects.defer("evaluation", "label_audit").get(pk=job.model_id)
    source = SuggestionSource(job_id=job.pk, model_id=model.pk, model_version=model.version)
    loaded = inference.model_loaded(model)
    thresholds = inference.thresholds_for(model, loaded, job.threshold)
    categories = inference.model_category_ids(model, loaded)
    done = set(PrelabelResult.objects.filter(job=job).values_list("image_id", flat=True))
    todo = [pk for pk in job.image_ids if pk not in done]
    failed = 0
    for start in range(0, len(todo), BATCH):
        if PrelabelJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
            results_rank(job=job)
            PrelabelJob.objects.filter(pk=job.pk).update(
                status=PrelabelStatus.CANCELLED, finished_at=timezone.now()
            )
            return PrelabelStatus.CANCELLED
        images = Image.objects.filter(project_id=job.project_id, pk__in=todo[start : start + BATCH])
        results, proposed = [], []
        for image in images:
            try:
                pixels = _pixels(image)
            except (OSError, ingest.Refused) as exc:
                logger.warning("pre-label job %s: image %s skipped: %s", job.pk, image.pk, exc)
                failed += 1
                continue
            boxes, scores, labels = inference.image_detect(loaded, pixels)
            stats = runtime.uncertainty(scores, labels, thresholds)
            made = _proposed(image, boxes, scores, labels, thresholds, categories)
            proposed += made
            results.append(PrelabelResult(job=job, image=image, suggested=len(made), **stats))
        _store(job, source, results, proposed, failed_in_batch=failed)
        failed = 0
    results_rank(job=job)
    PrelabelJob.objects.filter(pk=job.pk).update(
        status=PrelabelStatus.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return PrelabelStatus.SUCCEEDED


def _pixels(image: Image):
    with default_storage.open(image.file.name, "rb") as handle:
        return ingest.image_rgb(handle.read())


def _proposed(image, boxes, scores, labels, thresholds, categories) -> list[ProposedBox]:
    keep = scores >= thresholds[labels]
    made = []
    for box, score, label in zip(
        boxes[keep].tolist(), scores[keep].tolist(), labels[keep].tolist(), strict=True
    ):
        category = categories[label]
        x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
        x2, y2 = min(box[2], float(image.width)), min(box[3], float(image.height))
        if category is None or x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        bbox = (x1, y1, x2 - x1, y2 - y1)
        made.append(ProposedBox(image.pk, category, bbox, float(score)))
    return made


def _store(
    job, source, results: list[PrelabelResult], proposed: list[ProposedBox], failed_in_batch
):
    from django.db.models import F

    image_ids = [r.image_id for r in results]
    with transaction.atomic():
        suggestions.suggestions_replace(source=source, image_ids=image_ids, boxes=proposed)
        PrelabelResult.objects.bulk_create(results)
        PrelabelJob.objects.filter(pk=job.pk).update(
            processed=F("processed") + len(results) + failed_in_batch,
            suggestion_count=F("suggestion_count") + len(proposed),
            failed_images=F("failed_images") + failed_in_batch,
            heartbeat_at=timezone.now(),
        )


# --- "Label next most useful" -------------------------------------------------------------


def latest_finished_job(*, project: Project, model_id: int | None = None) -> PrelabelJob | None:
    """The project's most recent job that stored results (succeeded, or cancelled part
    way), optionally of one model version."""
    jobs = PrelabelJob.objects.filter(
        project=project, status__in=[PrelabelStatus.SUCCEEDED, PrelabelStatus.CANCELLED]
    ).select_related("model")
    if model_id is not None:
        jobs = jobs.filter(model_id=model_id)
    has_results = Exists(PrelabelResult.objects.filter(job=OuterRef("pk")))
    return jobs.filter(has_results).order_by("-finished_at", "-id").first()


def results_rank(*, job: PrelabelJob) -> None:
    """Store the order of "label next most useful" on the job's results, the model's
    least sure first: done once, when the job ends, so a request only reads it."""
    table = PrelabelResult._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET rank = ranked.n FROM (SELECT id, ROW_NUMBER() OVER "  # noqa: S608
            "(ORDER BY uncertainty DESC, borderline DESC, image_id) AS n "
            f"FROM {table} WHERE job_id = %s) AS ranked WHERE {table}.id = ranked.id",
            [job.pk],
        )


def images_most_useful(*, job: PrelabelJob) -> QuerySet[PrelabelResult]:
    """The job's results for images still unlabeled, in the order stored when the job
    ended (results_rank); the model's least sure first."""
    return (
        PrelabelResult.objects.filter(job=job, image__status=ImageStatus.UNLABELED)
        .select_related("image")
        .order_by("rank", "image_id")
    )


def images_most_useful_count(*, job: PrelabelJob) -> int:
    """How many of the job's images are still unlabeled, counted from the unlabeled
    images (an index range) rather than from every result of the job."""
    return (
        Image.objects.filter(project_id=job.project_id, status=ImageStatus.UNLABELED)
        .filter(Exists(PrelabelResult.objects.filter(job=job, image_id=OuterRef("pk"))))
        .count()
    )
