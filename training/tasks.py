"""Celery tasks of training. Thin: they pass ids and call the pipeline or a service.

Nothing here imports torch at module level, so a worker's parent process never does;
the pipeline imports the engine inside the task, in the worker's child process.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="training.tasks.train_run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def train_run(run_id: int) -> str:
    from training.pipeline import execute

    return execute(run_id)


@shared_task(name="training.tasks.runs_reconcile", ignore_result=True)
def runs_reconcile() -> dict[str, int]:
    from training.reconcile import runs_reconcile as reconcile

    return reconcile()


@shared_task(
    name="training.tasks.prelabel_run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def prelabel_run(job_id: int) -> str:
    from training.prelabel import prelabel_execute

    return prelabel_execute(job_id)
