"""What a benchmark run got from the machine: wall and CPU seconds, CPU share, load.

A run on a loaded machine gets less CPU per wall second than on a quiet one; recording
``cpu_share`` (process CPU seconds over all threads / (wall seconds x threads)) and the
load average at the start and the end lets figures of a busy day be told from a quiet
day's. ``--cpu-budget`` runs (see bench.py, bench_peer.py) fix the CPU seconds instead
of the wall seconds, so they do the same work whatever the load.

Standard library only: ``bench_peer.py`` imports it in the peer's own venv too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any


def load_average() -> list[float]:
    """The machine's 1-, 5- and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class RunClock:
    """Started at construction; :meth:`figures` reads it at the end."""

    threads: int
    wall_started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)
    load_start: list[float] = field(default_factory=load_average)

    def cpu_seconds(self) -> float:
        """This process's CPU seconds (all threads, user and system) since the start."""
        return time.process_time() - self.cpu_started

    def figures(self) -> dict[str, Any]:
        wall = time.monotonic() - self.wall_started
        cpu = self.cpu_seconds()
        return {
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "cpu_share": round(cpu / (wall * self.threads), 3) if wall > 0 else None,
            "load_average_start": self.load_start,
            "load_average_end": load_average(),
        }


def budget_label(minutes: float, clock: str) -> str:
    """The budget in a result's name: ``15min`` (wall) or ``cpu30min``."""
    return f"{'cpu' if clock == 'cpu' else ''}{minutes:g}min"
