"""Which process holds a run, and whether it is known dead.

A run's row records the key of the process that claimed it: the machine's boot, its
process namespace (a container has its own), the process id and the process's start
time (a recycled pid is another process). A process of this very process space whose
pid is gone, or now names another process, is known dead: its run can be resumed at
once instead of after the heartbeat timeout. Anything else (another machine or
container, a system without /proc) is not ours to judge and waits for the timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _process_space() -> str:
    boot = _read(PROC / "sys/kernel/random/boot_id")
    try:
        namespace = os.readlink(PROC / "self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}" if boot else ""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    stat = _read(PROC / str(pid) / "stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (command)"
    state, start = fields[0], fields[19]
    return None if state in {"Z", "X"} else start  # a zombie is dead, only not yet reaped


def process_key(pid: int | None = None) -> str:
    """The key of a process of this process space (this one by default), or ""."""
    pid = pid or os.getpid()
    space, start = _process_space(), _start_time(pid)
    return f"{space}/{pid}/{start}" if space and start else ""


def process_gone(key: str) -> bool:
    """True when ``key`` names a process of this process space that no longer runs."""
    parts = key.split("/")  # boot id, pid namespace, pid, start time
    space = _process_space()
    if len(parts) != 4 or not space or "/".join(parts[:2]) != space or not parts[2].isdigit():
        return False
    return _start_time(int(parts[2])) != parts[3]
