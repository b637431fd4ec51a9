"""The engine's progress, recorded on the run's row (fenced by the run's claim)."""

from __future__ import annotations

import time
from typing import Any

from django.core.files.storage import default_storage
from django.utils import timezone

from training.claims import RunSuperseded, check_claim, update_run
from training.models import TrainingRun
from training.run_files import run_workdir, sha256_of, store_file

LOSS_POINTS_MAX = 2000


STEP_FIELDS = ("epoch", "step", "steps", "images", "images_total", "images_per_second", "loss")
WRITE_SECONDS = 2.0  # the row is written at most this often within a phase


class Progress:
    """The engine's progress callback: records losses, epochs and checkpoints on the row.

    Within a phase (decoding images, an epoch's steps) the row is written at most every
    ``WRITE_SECONDS``: the phase's progress, elapsed time, ETA and the log tail, so the
    run page moves every few seconds, however long an epoch is.
    """

    def __init__(self, run: TrainingRun, tail) -> None:
        self.run = run
        self.tail = tail
        self.loss_points: list[list[float]] = list(run.loss_points or [])
        self.history: list[dict[str, Any]] = list(run.history or [])
        self.checkpoint_file = run.checkpoint_file
        self.last_write = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "phase":
            update_run(
                self.run,
                phase=event["phase"],
                heartbeat_at=timezone.now(),
                elapsed_seconds=event.get("elapsed_seconds", 0),
                log_tail=self.tail.text(),
            )
        elif kind == "decoding":
            if self._due() or event["images"] == event["images_total"]:
                update_run(
                    self.run,
                    heartbeat_at=timezone.now(),
                    progress={"images": event["images"], "images_total": event["images_total"]},
                    elapsed_seconds=event.get("elapsed_seconds", 0),
                    log_tail=self.tail.text(),
                )
        elif kind == "step":
            self._step(event)
        elif kind == "epoch":
            self._epoch(event)

    def _step(self, event: dict[str, Any]) -> None:
        loss = event.get("losses", {}).get("loss")
        if loss is not None:
            self.loss_points.append([event.get("global_step", len(self.loss_points)), loss])
            if len(self.loss_points) > LOSS_POINTS_MAX:
                self.loss_points = self.loss_points[::2]
        if self._due():
            update_run(
                self.run,
                heartbeat_at=timezone.now(),
                loss_points=self.loss_points,
                elapsed_seconds=event.get("elapsed_seconds", 0),
                eta_seconds=event.get("eta_seconds"),
                progress={key: event[key] for key in STEP_FIELDS if key in event},
                log_tail=self.tail.text(),
            )

    def _due(self) -> bool:
        """True (and the clock restarted) when the row was last written long enough ago."""
        if time.monotonic() - self.last_write < WRITE_SECONDS:
            return False
        self.last_write = time.monotonic()
        return True

    def _epoch(self, event: dict[str, Any]) -> None:
        epoch = event["epoch"]
        record = {"epoch": epoch, **event.get("losses", {})}
        record.update({key: event[key] for key in ("seconds", "steps", "partial") if key in event})
        record.update({f"val_{k}": v for k, v in event.get("val", {}).items()})
        self.history = [h for h in self.history if h["epoch"] < epoch] + [record]
        local = run_workdir(self.run) / "last.pt"
        digest = sha256_of(local)
        # Under a name of this claim and epoch, never written before: a stale worker never
        # replaces or deletes the file the row records (the one a new claim resumes from).
        check_claim(self.run)
        name = store_file(
            local, f"runs/{self.run.pk}/{self.run.claim_token[:12]}/epoch-{epoch:04d}.pt"
        )
        try:
            update_run(
                self.run,
                epoch=epoch,
                history=self.history,
                loss_points=self.loss_points,
                heartbeat_at=timezone.now(),
                elapsed_seconds=event.get("elapsed_seconds", 0),
                eta_seconds=event.get("eta_seconds"),
                checkpoint_file=name,
                checkpoint_sha256=digest,
                checkpoint_epoch=epoch,
                log_tail=self.tail.text(),
            )
        except RunSuperseded:
            default_storage.delete(name)  # recorded nowhere
            raise
        if self.checkpoint_file and self.checkpoint_file != name:
            default_storage.delete(self.checkpoint_file)  # an earlier claim's last checkpoint
        self.checkpoint_file = name
