"""A time budget on the CPU clock (benchmarks on a shared machine): the config's choice
and a tiny run that ends by the CPU seconds it spent, not by the wall time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from training.ml.config import TrainConfig
from training.ml.engine import train
from training.ml.errors import ConfigError

from .conftest import tiny_config


def test_the_budget_clock_is_wall_or_cpu() -> None:
    assert TrainConfig().time_budget_clock == "wall"
    config = TrainConfig(time_budget_minutes=2, time_budget_clock="cpu")
    assert TrainConfig.from_dict(config.to_dict()).time_budget_clock == "cpu"
    with pytest.raises(ConfigError, match="time_budget_clock must be one of wall, cpu"):
        TrainConfig(time_budget_clock="gpu")


def test_a_cpu_budget_ends_the_run_by_cpu_seconds(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each step event sleeps (wall time without CPU time, as on a machine busy with
    other work): the run goes on well past its budget in wall seconds and ends when
    its CPU seconds are spent."""
    budget = 4.0

    def busy_machine(event: dict) -> None:
        if event["event"] in ("step", "phase"):
            time.sleep(0.3)

    cpu, wall = time.process_time(), time.monotonic()
    result = train(
        tiny_config(epochs=100, time_budget_minutes=budget / 60, time_budget_clock="cpu"),
        coco=synthetic[0],
        images_dir=synthetic[1],
        out_dir=tmp_path,
        on_progress=busy_machine,
        clock_started=wall - 1000,  # a wall reading: the CPU clock counts from the call
    )
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert result.status == "time_budget"
    assert budget - 0.5 < cpu < budget + 1.0  # one slow step or validation past it
    assert result.elapsed_seconds == pytest.approx(cpu, abs=0.3)  # the budget's CPU seconds
    assert wall > budget + 2.0  # a wall-clock budget would have ended it at 4 s


def test_the_peers_cpu_budget_stops_ultralytics_by_cpu_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench_peer.CpuBudget's callbacks on a stand-in for Ultralytics' trainer (only the
    attributes they use): ``time`` follows the CPU rate, ``stop`` comes with the budget."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "training" / "ml"))
    from bench_peer import CpuBudget  # a script of the peer's venv: its folder's imports

    class Trainer:
        stop = False
        train_time_start = time.time()
        args = type("Args", (), {"time": None})()

    budget, trainer = CpuBudget(0.3, threads=1), Trainer()
    assert budget.initial_hours() == pytest.approx(0.3 / 3600)
    budget.start(trainer)
    budget.check(trainer)
    assert not trainer.stop and budget.spent is None
    time.sleep(1.2)  # wall time without CPU time: the rest of the budget takes longer
    busy = time.process_time()
    while time.process_time() - busy < 0.1:
        pass
    budget.refit(trainer)
    assert trainer.args.time * 3600 > 1.2 + 0.2 / 1.0  # at a CPU rate well under 1
    budget.check(trainer)
    assert not trainer.stop
    while time.process_time() - busy < 0.35:
        pass
    budget.check(trainer)
    assert trainer.stop and 0.3 <= budget.spent < 0.5
