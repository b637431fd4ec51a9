"""Importing a labeled dataset (any format of labeling/formats) into a project.

    dataset_import(project=project, path=Path("bccd.zip"), user=user)

All or nothing: a fatal problem (a file that is no dataset at all, a database error)
leaves the project as it was and records a failed import with the reason; non-fatal ones
(a missing or unreadable image, a box outside its image, an unknown class) go in the
import report, stored with the import. Images are found by content: one already in the
project is not added twice, so re-running an import adds nothing; if it has no boxes yet
and is unlabeled, it receives the imported boxes (labels imported after the images).

An existing image receives them under the editor's version rule (labeling/annotations.py):
in the import's transaction the image is locked and checked again -- still unlabeled,
without boxes, at the version the import read; one that an annotator saved meanwhile is
left as they saved it (reported) -- then its version goes up by one and an
``AnnotationChange`` of kind ``import`` records the boxes. A save based on the version
before the import gets 409, so it can never delete the imported boxes unseen.

The command runs ``dataset_import`` at once. The API calls ``dataset_import_enqueue``,
which keeps the upload in the media storage and queues ``dataset_import_run`` for a
worker (labeling/tasks.py), so a long import never hits the web server's time limit.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labeling import formats, ingest, zips
from labeling.categories import categories_ensure
from labeling.formats import Dataset, FormatError, ImageRecord, ProblemKind
from labeling.import_paths import PublicNames, server_paths_hidden
from labeling.models import (
    Annotation,
    AnnotationChange,
    DatasetImport,
    Image,
    ImageStatus,
    Project,
)
from labeling.notifications import import_ended_notify
from studio.media import copy_to_local

logger = logging.getLogger(__name__)


class DatasetImportFailed(Exception):
    """The import was refused as a whole; ``dataset_import`` holds the failed record."""

    def __init__(self, message: str, record: DatasetImport) -> None:
        super().__init__(message)
        self.record = record


@dataclass
class _Prepared:
    record: ImageRecord
    row: Image | None = None  # a new Image (unsaved), or
    existing: Image | None = None  # an existing unlabeled one that receives the boxes


@dataclass
class _Plan:
    items: list[_Prepared] = field(default_factory=list)
    skipped: int = 0
    already: int = 0  # images skipped because the project has them, labeled, already
    new_files: list[str] = field(default_factory=list)


class _NothingKept(Exception):
    """Every image found was refused (unreadable, too large): the import adds nothing."""


def _none_found(dataset: Dataset, record: DatasetImport) -> str:
    """Why an import whose annotations name no image that exists fails, and where it
    looked (an XML folder given alone has its images beside it, outside the upload)."""
    named = dataset.report.count(ProblemKind.MISSING_IMAGE) + dataset.report.count(
        ProblemKind.UNSAFE_PATH
    )
    if not named:
        return f"{record.source_name} lists no image: there is nothing to import"
    folders = ", ".join(dataset.searched) or "./"
    return (
        f"none of the {named} images that the annotations name was found: looked for "
        f"them in {folders} (inside {record.source_name}). The images must be inside what "
        "is imported: give the folder (or a zip of it) that holds both the annotations "
        "and the images"
    )


def dataset_import(
    *,
    project: Project,
    path: Path,
    format: str = "auto",
    user: AbstractBaseUser | None = None,
    source_name: str | None = None,
    record: DatasetImport | None = None,
) -> DatasetImport:
    """Import the dataset at ``path`` (an annotation file, a folder or a zip).

    Returns the import record (a new one, or ``record`` completed), succeeded; raises
    DatasetImportFailed, with the record saved as failed, when nothing could be kept.
    """
    path = Path(path)
    user = user if user is not None and user.is_authenticated else None
    if record is None:
        record = DatasetImport(
            project=project,
            source_name=(source_name or path.name)[:255],
            requested_format=format,
            created_by=user,
        )
    # Texts for the user name the upload and the files in it, not the server's folders.
    names = PublicNames()
    names.add(path, record.source_name)
    with tempfile.TemporaryDirectory(prefix="studio-import-") as folder:
        names.add(Path(folder) / "dataset", record.source_name)  # where a zip is unpacked
        try:
            dataset = _read(path, format, Path(folder))
        except (FormatError, zips.ZipRefused) as error:
            raise _failed(record, format, names.text(str(error))) from None
        if not dataset.images:
            names.clean(dataset.report)
            record.report = dataset.report.to_dict()
            raise _failed(record, dataset.format, names.text(_none_found(dataset, record)))
        plan = _Plan()
        try:
            _prepare(project, dataset, user, plan)
            names.clean(dataset.report)
            if not plan.items and not plan.already:
                raise _NothingKept(dataset)
            with transaction.atomic():
                _write(project, dataset, user, plan, record)
        except _NothingKept:
            record.report = dataset.report.to_dict()
            refused = len(dataset.images) - plan.already
            reason = f"none of the {refused} images found could be imported; see the report"
            raise _failed(record, dataset.format, reason) from None
        except Exception as error:
            for name in plan.new_files:
                default_storage.delete(name)
            if isinstance(error, IntegrityError):
                reason = "the same images were being added at the same time; run it again"
            else:
                reason = f"the import failed and nothing was kept: {names.text(str(error))}"
            logger.exception("import of %s into project %s failed", record.source_name, project.pk)
            raise _failed(record, dataset.format, reason) from error
    logger.info(
        "import of %s into project %s: %d images added, %d boxes (%s)",
        record.source_name,
        project.pk,
        record.images_added,
        record.boxes_added,
        "; ".join(dataset.report.layout),
    )
    return record


def dataset_import_enqueue(
    *, project: Project, upload: File, format: str = "auto", user: AbstractBaseUser | None = None
) -> DatasetImport:
    """Keep an uploaded dataset in the storage and queue its import for a worker.

    The storage (not a local folder) holds it, so a worker on another machine can run it.
    """
    user = user if user is not None and user.is_authenticated else None
    source_name = upload.name or "dataset"
    name = ingest.safe_name(source_name).replace(" ", "_")
    stored = default_storage.save(
        f"projects/{project.pk}/imports/{uuid.uuid4().hex}/{name}", upload
    )
    with transaction.atomic():
        record = DatasetImport.objects.create(
            project=project,
            source_name=source_name[:255],
            requested_format=format,
            status=DatasetImport.Status.QUEUED,
            upload=stored,
            created_by=user,
        )
        transaction.on_commit(lambda: _enqueue(record.pk))
    return record


def _enqueue(import_id: int) -> None:
    # By name: this module never imports labeling.tasks, which calls it.
    current_app.signature("labeling.tasks.dataset_import_task", args=[import_id]).apply_async()


def dataset_import_run(*, import_id: int) -> DatasetImport | None:
    """Run a queued import (the worker's job); idempotent, safe to run again if redelivered.

    Returns None when there is nothing to do (unknown id, or already finished).
    """
    claimed = DatasetImport.objects.filter(
        pk=import_id, status__in=[DatasetImport.Status.QUEUED, DatasetImport.Status.RUNNING]
    ).update(status=DatasetImport.Status.RUNNING)
    if not claimed:
        return None
    record = DatasetImport.objects.select_related("project", "created_by").get(pk=import_id)
    try:
        with tempfile.TemporaryDirectory(prefix="studio-import-job-") as folder:
            path = copy_to_local(record.upload, Path(folder) / PurePosixPath(record.upload).name)
            dataset_import(
                project=record.project,
                path=path,
                format=record.requested_format,
                user=record.created_by,
                record=record,
            )
    except DatasetImportFailed:
        pass  # recorded as failed, with the reason
    except FileNotFoundError:
        _failed(record, record.requested_format, "the uploaded file is gone; upload it again")
    except Exception as error:
        logger.exception("import %s could not run", record.pk)
        _failed(record, record.requested_format, f"the import could not run: {error}")
    default_storage.delete(record.upload)
    DatasetImport.objects.filter(pk=record.pk).update(upload="")
    try:
        import_ended_notify(import_id=record.pk)  # the members, on every page of the studio
    except Exception:  # noqa: BLE001 - the import's own outcome is already recorded
        logger.exception("could not notify the end of import %s", record.pk)
    record.upload = ""
    return record


def _read(path: Path, format: str, scratch: Path) -> Dataset:
    refused: list[tuple[str, str]] = []
    if path.is_file() and zips.looks_like_zip(_head(path), path.name):
        extracted = zips.extract_zip(path, scratch / "dataset")
        refused, path = extracted.refused, scratch / "dataset"
    dataset = formats.read(path, format)
    for name, reason in refused:
        dataset.report.add(ProblemKind.UNSAFE_PATH, name, f"archive entry refused: {reason}")
    return dataset


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


def _prepare(project: Project, dataset: Dataset, user, plan: _Plan) -> None:
    """Check and store the pixels of every image (outside the transaction)."""
    existing = {
        image.sha256: image
        for image in Image.objects.filter(project=project).only(
            "id", "sha256", "status", "annotation_version", "width", "height"
        )
    }
    has_boxes = set(
        Annotation.objects.filter(image__project=project).values_list("image_id", flat=True)
    )
    seen: set[str] = set()
    report = dataset.report
    for record in dataset.images:
        try:
            with record.path.open("rb") as handle:
                data = ingest.read_limited(handle)
        except ingest.Refused as refusal:
            report.add(ProblemKind.UNREADABLE_IMAGE, record.file_name, f"image refused: {refusal}")
            plan.skipped += 1
            continue
        sha256 = hashlib.sha256(data).hexdigest()  # the stored hash unless converted
        prepared = None
        if sha256 not in seen and sha256 not in existing:
            try:
                prepared = ingest.image_prepare(data)
            except ingest.Refused as refusal:
                report.add(
                    ProblemKind.UNREADABLE_IMAGE, record.file_name, f"image refused: {refusal}"
                )
                plan.skipped += 1
                continue
            sha256 = prepared.sha256
            if prepared.truncated:
                report.add(ProblemKind.TRUNCATED_IMAGE, record.file_name, prepared.truncated)
        del data
        if sha256 in seen:
            report.add(
                ProblemKind.DUPLICATE_IMAGE,
                record.file_name,
                "the same image appears earlier in this dataset; skipped",
            )
            plan.skipped += 1
            continue
        seen.add(sha256)
        current = existing.get(sha256)
        if current is not None:
            if current.pk in has_boxes or current.status != ImageStatus.UNLABELED:
                plan.skipped += 1
                plan.already += 1
                report.add(
                    ProblemKind.DUPLICATE_IMAGE,
                    record.file_name,
                    "already in the project with its labels; left unchanged",
                )
            else:
                _fit_boxes(record, current.width, current.height, report)
                plan.items.append(_Prepared(record, existing=current))
            continue
        assert prepared is not None
        _fit_boxes(record, prepared.width, prepared.height, report)
        names = ingest.storage_names(
            project_id=project.pk, sha256=prepared.sha256, format=prepared.format
        )
        fresh = [name for name in names if not default_storage.exists(name)]
        names = ingest.image_files_store(project=project, prepared=prepared)
        plan.new_files.extend(name for name in names if name in fresh)
        row = ingest.image_row(
            project=project,
            prepared=prepared,
            names=names,
            original_name=record.name,
            user=user,
            split=record.split,
        )
        plan.items.append(_Prepared(record, row=row))


def _fit_boxes(record: ImageRecord, width: int, height: int, report) -> None:
    """Boxes refer to the size the annotation states; scale them if the pixels differ."""
    if (record.width, record.height) == (width, height):
        return
    sx, sy = width / record.width, height / record.height
    report.add(
        ProblemKind.BAD_ENTRY,
        record.file_name,
        f"the annotation gives the size {record.width}x{record.height} but the image is "
        f"{width}x{height}; its boxes were scaled to fit",
    )
    record.boxes = [
        box._replace(x=box.x * sx, y=box.y * sy, w=box.w * sx, h=box.h * sy) for box in record.boxes
    ]
    record.width, record.height = width, height


def _write(project: Project, dataset: Dataset, user, plan: _Plan, record: DatasetImport) -> None:
    now = timezone.now()
    categories, created = categories_ensure(project=project, names=list(dataset.classes))
    _lock_existing(plan, dataset.report)
    new_rows = []
    for item in plan.items:
        image = item.row or item.existing
        labeled = bool(item.record.boxes) or item.record.no_objects
        image.no_objects = item.record.no_objects and not item.record.boxes
        if labeled:
            image.status = ImageStatus.LABELED
            image.annotation_version += 1
            image.labeled_by, image.labeled_at = user, now
        if item.row is not None:
            new_rows.append(item.row)
        elif labeled:
            image.save(
                update_fields=[
                    "no_objects",
                    "status",
                    "annotation_version",
                    "labeled_by",
                    "labeled_at",
                ]
            )
    Image.objects.bulk_create(new_rows, batch_size=1000)
    stamp = connection.ops.adapt_datetimefield_value(now)
    user_id = user.pk if user is not None else None
    boxes = [
        (
            (item.row or item.existing).pk,
            categories[box.label].pk,
            box.x,
            box.y,
            box.w,
            box.h,
            box.w * box.h,
            user_id,
            stamp,
            stamp,
        )
        for item in plan.items
        for box in item.record.boxes
    ]
    _insert_boxes(boxes)
    _record_changes(plan, user)
    record.format = dataset.format
    record.status = DatasetImport.Status.SUCCEEDED
    record.error = ""
    record.images_added = len(new_rows)
    record.images_updated = sum(1 for item in plan.items if item.existing is not None)
    record.images_skipped = plan.skipped
    record.boxes_added = len(boxes)
    record.categories_added = created
    record.report = dataset.report.to_dict()
    record.save()


def _lock_existing(plan: _Plan, report) -> None:
    """Lock the existing images that receive boxes and keep those still as read.

    Each becomes its locked row (its current version); one that an annotator saved (or
    another import labeled) since ``_prepare`` read it is dropped from the plan, reported.
    """
    ids = sorted(item.existing.pk for item in plan.items if item.existing is not None)
    if not ids:
        return
    locked = {
        image.pk: image
        for image in Image.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    with_boxes = set(Annotation.objects.filter(image_id__in=ids).values_list("image_id", flat=True))
    kept = []
    for item in plan.items:
        if item.existing is None:
            kept.append(item)
            continue
        current = locked.get(item.existing.pk)
        if (
            current is None
            or current.pk in with_boxes
            or current.status != ImageStatus.UNLABELED
            or current.annotation_version != item.existing.annotation_version
        ):
            plan.skipped += 1
            report.add(
                ProblemKind.DUPLICATE_IMAGE,
                item.record.file_name,
                "labeled in the studio while this import ran; left as saved there",
            )
            continue
        item.existing = current
        kept.append(item)
    plan.items = kept


def _record_changes(plan: _Plan, user) -> None:
    """One AnnotationChange (kind import) per existing image that received boxes."""
    images = {
        item.existing.pk: item.existing
        for item in plan.items
        if item.existing is not None and (item.record.boxes or item.record.no_objects)
    }
    if not images:
        return
    after: dict[int, list[dict]] = {pk: [] for pk in images}
    rows = Annotation.objects.filter(image_id__in=list(images)).order_by("image_id", "id")
    for pk, image_id, category_id, x, y, w, h, area in rows.values_list(
        "id", "image_id", "category_id", "x", "y", "w", "h", "area"
    ):
        after[image_id].append(
            {"id": pk, "category_id": category_id, "bbox": [x, y, w, h], "area": area}
        )
    AnnotationChange.objects.bulk_create(
        [
            AnnotationChange(
                image=image,
                version=image.annotation_version,
                kind=AnnotationChange.Kind.IMPORT,
                user=user,
                before=[],
                after=after[pk],
                no_objects=image.no_objects,
            )
            for pk, image in images.items()
        ],
        batch_size=1000,
    )


_BOX_COLUMNS = (
    "image",
    "category",
    "x",
    "y",
    "w",
    "h",
    "area",
    "created_by",
    "created_at",
    "updated_at",
)


def _insert_boxes(rows: list[tuple]) -> None:
    """Insert Annotation rows from plain tuples (in _BOX_COLUMNS order).

    100,000 boxes through bulk_create cost ~15 s of model-instance overhead; PostgreSQL's
    COPY takes well under a second, a parametrised executemany (SQLite) about one.
    Table and column names come from the model, values are passed as parameters.
    """
    meta = Annotation._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _BOX_COLUMNS)
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        values = ", ".join(["%s"] * len(_BOX_COLUMNS))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"  # noqa: S608
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start : start + 10_000])


def _failed(record: DatasetImport, format: str, reason: str) -> DatasetImportFailed:
    record.format = format if format != "auto" else ""
    record.status = DatasetImport.Status.FAILED
    record.error = reason = server_paths_hidden(reason)
    record.save()
    return DatasetImportFailed(reason, record)
