"""A large export as a job: a worker writes the zip into the default storage, recording
its progress (images done of total); the user downloads it when it is ready.

The zip is the one the direct export streams (labeling/dataset_export.py), written as it
is made into a temporary file, then saved to the storage. The job is enqueued by name
(this module never imports labeling.tasks, which calls it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from celery import current_app
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import slugify

from labeling import formats
from labeling.dataset_export import ExportOptions, export_zip_stream
from labeling.models import Annotation, DatasetExport, Image, Project

PROGRESS_EVERY = 50  # images written between two progress records


def export_image_total(*, project: Project, include_unlabeled: bool) -> int:
    """How many images the export writes (labeled ones only unless asked)."""
    images = Image.objects.filter(project=project)
    if not include_unlabeled:
        has_boxes = Exists(Annotation.objects.filter(image=OuterRef("pk")))
        images = images.filter(Q(no_objects=True) | has_boxes)
    return images.count()


def export_job_enqueue(
    *, project: Project, format: str, options: ExportOptions, user=None
) -> DatasetExport:
    """Record an export job and queue it for a worker (after the transaction commits)."""
    if format not in formats.FORMATS:
        known = ", ".join(formats.FORMATS)
        raise formats.FormatError(f"unknown format {format!r}; known formats: {known}")
    user = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        record = DatasetExport.objects.create(
            project=project,
            format=format,
            options={
                "include_unlabeled": options.include_unlabeled,
                "single_file": options.single_file,
            },
            images_total=export_image_total(
                project=project, include_unlabeled=options.include_unlabeled
            ),
            created_by=user,
        )
        transaction.on_commit(lambda: _enqueue(record.pk))
    return record


def _enqueue(export_id: int) -> None:
    current_app.signature("labeling.tasks.dataset_export_task", args=[export_id]).apply_async()


def export_file_name(record: DatasetExport) -> str:
    """The name the download is given."""
    return f"{slugify(record.project.name) or 'project'}-{record.format}.zip"


def export_job_run(*, export_id: int) -> DatasetExport | None:
    """Run a queued export (the worker's job); idempotent: a finished export (or an
    unknown id) is left alone and None returned; a redelivered running one starts again."""
    claimed = DatasetExport.objects.filter(
        pk=export_id, status__in=[DatasetExport.Status.QUEUED, DatasetExport.Status.RUNNING]
    ).update(status=DatasetExport.Status.RUNNING, images_done=0, updated_at=timezone.now())
    if not claimed:
        return None
    record = DatasetExport.objects.select_related("project").get(pk=export_id)
    options = ExportOptions(
        include_unlabeled=bool(record.options.get("include_unlabeled")),
        single_file=bool(record.options.get("single_file")),
    )
    total = export_image_total(project=record.project, include_unlabeled=options.include_unlabeled)
    done = 0

    def on_image() -> None:
        nonlocal done
        done += 1
        if done % PROGRESS_EVERY == 0:
            DatasetExport.objects.filter(pk=export_id).update(
                images_done=done, images_total=max(total, done), updated_at=timezone.now()
            )

    try:
        with tempfile.TemporaryDirectory(prefix="studio-export-job-") as folder:
            path = Path(folder) / "export.zip"
            size = 0
            with path.open("wb") as out:
                for piece in export_zip_stream(
                    project=record.project, format=record.format, options=options,
                    on_image=on_image,
                ):  # fmt: skip
                    out.write(piece)
                    size += len(piece)
            name = f"projects/{record.project_id}/exports/{record.pk}/{export_file_name(record)}"
            with path.open("rb") as source:
                stored = default_storage.save(name, File(source, name=name))
    except Exception as error:  # recorded in words; the worker keeps running
        if isinstance(error, FileNotFoundError):
            reason = f"a file is missing from the storage ({error.filename or error})"
        else:
            reason = str(error) or type(error).__name__
        DatasetExport.objects.filter(pk=export_id).update(
            status=DatasetExport.Status.FAILED,
            error=f"The export could not be written: {reason}.",
            images_done=done,
            finished_at=timezone.now(),
        )
        record.refresh_from_db()
        return record
    DatasetExport.objects.filter(pk=export_id).update(
        status=DatasetExport.Status.SUCCEEDED,
        images_done=done,
        images_total=done,
        file=stored,
        size=size,
        finished_at=timezone.now(),
    )
    record.refresh_from_db()
    return record
