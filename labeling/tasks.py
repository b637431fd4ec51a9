"""Celery tasks of labeling. Thin: they pass ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="labeling.tasks.dataset_import_task",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def dataset_import_task(import_id: int) -> str:
    from labeling.dataset_import import dataset_import_run

    record = dataset_import_run(import_id=import_id)
    return record.status if record is not None else "nothing to do"


@shared_task(
    name="labeling.tasks.dataset_export_task",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def dataset_export_task(export_id: int) -> str:
    from labeling.export_jobs import export_job_run

    record = export_job_run(export_id=export_id)
    return record.status if record is not None else "nothing to do"
