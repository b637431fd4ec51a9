"""Several worker nodes, simulated on one machine, started as the README says.

Two train workers are started from the README's "Adding a GPU worker on another machine"
block, literally: its environment variables (each given this test's value) and its
command (``%h`` becomes ``node-a`` / ``node-b``), each node with its own data folder,
sharing the test PostgreSQL, the test Redis and moto's S3 server. A main node consumes
the ``default`` queue only and runs the reconciler. Two runs spread over the two train
nodes; ``node-a`` is killed (SIGKILL, the whole node) after its run's first checkpoint,
and that run resumes on ``node-b`` from the checkpoint in the bucket. The main node never
takes a training run.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from labeling.dataset_import import dataset_import
from labeling.models import Membership, Project, Role
from tests.conftest import REPO_ROOT, purge_broker, stop_worker, test_database_url
from tests.studio.test_production_server import production_env
from tests.training.conftest import WORKER_ENV, bccd_subset
from training.models import ModelVersion, RunStatus, TrainingRun
from training.services import run_start

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONFIG = {"preset": "fast", "image_size": 128, "epochs": 3, "time_budget_minutes": 10}
SECTION = "### Adding a GPU worker on another machine"


def readme_recipe() -> tuple[list[str], list[str]]:
    """The README's GPU-node block: the names it exports, and the worker's command."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)[1].replace("\\\n", " ")
    lines = block.splitlines()
    export = next(line for line in lines if line.startswith("export "))
    names = re.findall(r"(?:^export|\s)([A-Z][A-Z0-9_]*)=", export)
    command = shlex.split(next(line for line in lines if "celery -A" in line))
    return names, command


def node_env(s3_server, data_dir: Path) -> dict[str, str]:
    """This test's value of every variable the README exports (and nothing else of ours)."""
    production = production_env()
    values = {
        "DEBUG": "0",
        "SECRET_KEY": production["SECRET_KEY"],
        "ALLOWED_HOSTS": production["ALLOWED_HOSTS"],
        "STUDIO_DATA_DIR": str(data_dir),
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **s3_server.env(),
    }
    names, _ = readme_recipe()
    assert sorted(names) == sorted(values), "the README's variables changed: update the test"
    return values


def start_node(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if k not in {"MEDIA_ROOT", "STUDIO_DATA_DIR"}}
    base = {k: v for k, v in base.items() if not k.startswith(("AWS_", "STUDIO_MEDIA"))}
    prefix = {}
    while "=" in command[0]:  # VAR=value before the program, as a shell reads it
        name, value = command.pop(0).split("=", 1)
        prefix[name] = value
    program = command[0]
    if program.endswith("/celery"):
        command = [sys.executable, "-m", "celery", *command[1:]]
    proc = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**base, **WORKER_ENV, **env, **prefix},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = log
    return proc


def project_on_s3(owner, folder: Path, name: str) -> Project:
    project = Project.objects.create(name=name, created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    root = bccd_subset(folder, {"train": 8, "val": 2, "test": 2})
    dataset_import(project=project, path=root, format="voc", user=owner)
    return project


def wait_run(run_id: int, predicate, timeout: float, log) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while True:
        run = TrainingRun.objects.get(pk=run_id)
        if predicate(run):
            return run
        assert time.monotonic() < deadline, (run.status, run.worker, run.error, log())
        time.sleep(0.05)


def test_runs_spread_over_two_nodes_and_a_killed_nodes_run_resumes_on_the_other(
    s3_media, make_user, tmp_path, settings
):
    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    began = time.monotonic()
    _, recipe = readme_recipe()
    assert recipe[recipe.index("--queues") + 1] == "train"
    owner = make_user("owner")
    try:
        purge_broker()
    except Exception:  # noqa: BLE001 - a fresh broker has no queues to purge
        pass
    nodes: dict[str, subprocess.Popen] = {}
    marks: list[tuple[str, float]] = []

    def mark(what: str) -> None:
        marks.append((what, round(time.monotonic() - began, 1)))

    def logs() -> str:
        return "\n".join(f"--- {n}\n{p.log_path.read_text()[-2500:]}" for n, p in nodes.items())

    try:
        # The main node: the default queue only, and the reconciler. The nodes start
        # while the test imports its two projects.
        main_env = node_env(s3_media, tmp_path / "main")
        main_command = list(recipe)
        main_command[main_command.index("--queues") + 1] = "default"
        main_command[main_command.index("--hostname") + 1] = "main@studio"
        main_command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        main_command += ["--loglevel", "INFO"]  # it would log any task it received
        nodes["main"] = start_node(main_command, main_env, tmp_path / "main.log")
        for name in ("node-a", "node-b"):
            command = [part.replace("%h", name) for part in recipe]
            env = node_env(s3_media, tmp_path / name)
            nodes[name] = start_node(command, env, tmp_path / f"{name}.log")
        node_a = nodes["node-a"]
        projects = [project_on_s3(owner, tmp_path / f"voc-{i}", f"Cells {i}") for i in (1, 2)]
        mark("imported")
        runs = [run_start(project=p, config=CONFIG, user=owner) for p in projects]
        # One run on each train node (each takes one run at a time).
        runs = [wait_run(r.pk, lambda r: r.status != RunStatus.QUEUED, 120, logs) for r in runs]
        mark("both taken")
        holders = sorted(r.worker.split(" (pid ")[0] for r in runs)
        assert holders == ["gpu0@node-a", "gpu0@node-b"], (holders, logs())
        on_a = next(r for r in runs if "node-a" in r.worker)
        on_b = next(r for r in runs if "node-b" in r.worker)

        # node-a dies (the whole node) after its run's first checkpoint.
        on_a = wait_run(on_a.pk, lambda r: r.checkpoint_epoch or r.is_finished, 240, logs)
        assert on_a.checkpoint_epoch == 1 and not on_a.is_finished, (on_a.status, logs())
        os.killpg(node_a.pid, signal.SIGKILL)
        node_a.wait()
        checkpoint = on_a.checkpoint_file
        assert checkpoint in s3_media.keys()

        mark("node-a killed")
        done = wait_run(on_b.pk, lambda r: r.is_finished, 300, logs)
        mark("node-b's run done")
        resumed = wait_run(on_a.pk, lambda r: r.is_finished, 300, logs)
        mark("resumed run done")
    finally:
        for proc in nodes.values():
            stop_worker(proc)
    assert done.status == RunStatus.SUCCEEDED, (done.error, logs())
    assert done.attempts == 1 and "node-b" in done.worker
    assert resumed.status == RunStatus.SUCCEEDED, (resumed.error, logs())
    assert resumed.attempts == 2
    assert resumed.worker.startswith("gpu0@node-b (pid "), resumed.worker
    assert resumed.resumed_from_epoch == 1  # from the checkpoint in the bucket
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for run in (resumed, done):
        model = ModelVersion.objects.get(run=run)
        assert model.onnx_file in s3_media.keys()
    # Each node worked in its own data folder: node-b fetched the killed run's checkpoint
    # and images from the bucket into its own; node-a never saw node-b's run.
    node_b_runs = tmp_path / "node-b" / "work" / "runs"
    assert {p.name for p in node_b_runs.iterdir()} == {str(resumed.pk), str(done.pk)}
    assert not (tmp_path / "node-a" / "work" / "runs" / str(done.pk)).exists()
    assert (tmp_path / "node-b" / "work" / "media-cache").is_dir()
    assert not (tmp_path / "main" / "work").exists()  # the main node trained nothing
    assert not re.search(r"training\.tasks\.train_run\[", nodes["main"].log_path.read_text())
    print("two nodes:", marks, round(time.monotonic() - began))
    assert time.monotonic() - began < 240
