"""Training on several devices of one node with DistributedDataParallel (DDP).

Two ways in:

- ``torchrun --nproc-per-node N -m training.ml train ...``: torchrun starts N processes and
  sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
  :func:`joined` reads them.
- :func:`train_on_devices` (the studio's train worker): the calling process is rank 0 (its
  progress callback and cancel check are the run's) and N-1 children are spawned.

What N processes mean for a run:

- One device per process: CUDA process ``LOCAL_RANK`` trains on ``cuda:LOCAL_RANK`` (the
  GPUs ``CUDA_VISIBLE_DEVICES`` leaves, in order) over NCCL; CPU processes use gloo.
  Mixed precision stays automatic (on with CUDA).
- ``batch_size`` is per process: the effective (global) batch is ``batch_size * N`` and the
  learning rate is scaled by N (the linear scaling rule of Goyal et al., 2017: same
  warm-up steps, same schedule shape). An epoch has ``ceil(images / global batch)``
  steps; each step's global batch holds the images a single process with that batch
  would take at the same step (the same shuffled order, cut among the ranks).
- Rank 0 alone validates, writes ``last.pt`` and ``best.pt``, reports progress and logs.
  Every decision that depends on the clock, the cancel flag or validation is rank 0's,
  sent to the others (:meth:`Group.from_main`), so all processes take the same steps and
  stop together.
- Checkpoints hold the plain model's weights (no ``module.`` prefix) and record
  ``world_size`` and ``global_batch``: they load into a single-device model, and a run
  resumes on another number of devices (its step count and learning rate are rescaled
  to the new global batch, :func:`rescale_resumed`).

No Django here, as everywhere in training/ml.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from training.ml.errors import ConfigError, EngineError

logger = logging.getLogger(__name__)

# How long a process waits for the others at one collective (validation on rank 0 is
# the longest wait); past it the run fails instead of hanging.
TIMEOUT = timedelta(minutes=30)


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available")
    return torch.device(name)


def resolve_device(
    name: str, *, world_size: int, local_rank: int, cuda_devices: int, nccl: bool
) -> tuple[torch.device, str]:
    """The device and backend of process ``local_rank`` of ``world_size`` on this node,
    or ConfigError. ``cuda_devices``: how many GPUs this process sees."""
    if name.startswith("cuda:"):
        raise ConfigError(
            f"device {name!r} names one GPU, but {world_size} processes train: use cuda "
            "(process LOCAL_RANK takes cuda:LOCAL_RANK) and CUDA_VISIBLE_DEVICES to choose"
        )
    use_cuda = name == "cuda" or (name == "auto" and cuda_devices > 0)
    if not use_cuda:
        return torch.device("cpu"), "gloo"
    if cuda_devices == 0:
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available")
    if local_rank >= cuda_devices:
        raise ConfigError(
            f"process LOCAL_RANK={local_rank} has no GPU: this node shows {cuda_devices} "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            f"start at most {cuda_devices} processes per node"
        )
    if not nccl:
        raise ConfigError("this PyTorch build has no NCCL: multi-GPU training needs it")
    return torch.device("cuda", local_rank), "nccl"


@dataclass(frozen=True)
class Launch:
    """How this process joins its group: its ranks and where the group meets."""

    world_size: int
    rank: int
    local_rank: int
    init_method: str = "env://"

    @classmethod
    def from_env(cls) -> Launch | None:
        """torchrun's environment, or None for a single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        rank = int(os.environ["RANK"])
        return cls(world, rank, int(os.environ.get("LOCAL_RANK", rank)))


@dataclass(frozen=True)
class Group:
    """This process's place among the processes that train one run (one, by default)."""

    device: torch.device
    world_size: int = 1
    rank: int = 0
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def global_batch(self, batch_size: int) -> int:
        return batch_size * self.world_size

    def learning_rate(self, lr: float) -> float:
        """The linear scaling rule: N times the batch, N times the learning rate."""
        return lr * self.world_size

    def describe(self, batch_size: int, lr: float) -> str:
        """The run log's first line."""
        where = f"{self.device.type}" + (f" ({self.backend})" if self.active else "")
        return (
            f"world size {self.world_size}: {self.world_size} process(es) on {where}, "
            f"batch {batch_size} per process, global batch {self.global_batch(batch_size)}, "
            f"learning rate {self.learning_rate(lr):.4g}"
            + (f" ({lr:.4g} x {self.world_size})" if self.active else "")
        )

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank (a collective: every rank must call it)."""
        if not self.active:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over the ranks of each value (a step's losses: the global batch's)."""
        if not self.active:
            return values
        keys = sorted(values)
        summed = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        if self.backend == "nccl":
            summed = summed.to(self.device)
        dist.all_reduce(summed)
        return {k: float(v) / self.world_size for k, v in zip(keys, summed.tolist(), strict=True)}

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model to run forward and backward through (gradients averaged over ranks)."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type != "cuda":
            return DistributedDataParallel(model)
        # BatchNorm statistics over the global batch, as one device would see it (in
        # place: the optimizer, the EMA and the checkpoints keep the same module and keys;
        # SyncBatchNorm runs on GPUs only, so CPU processes keep per-process statistics).
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[self.device.index])

    def loader(
        self, samples, *, batch_size: int, generator: torch.Generator, **options: Any
    ) -> DataLoader:
        """This rank's batches of an epoch: the single-process order when alone."""
        if not self.active:
            return DataLoader(
                samples, batch_size=batch_size, shuffle=True, generator=generator, **options
            )
        batches = RankBatches(len(samples), batch_size, self.world_size, self.rank, generator)
        return DataLoader(samples, batch_sampler=batches, generator=generator, **options)

    def steps_per_epoch(self, images: int, batch_size: int) -> int:
        padded = images + (-images) % self.world_size
        return math.ceil(padded / self.global_batch(batch_size))


class RankBatches(Sampler[list[int]]):
    """Rank ``rank``'s part of each global batch of an epoch.

    The order is the single-process one (``torch.randperm`` on the epoch's generator, as
    DataLoader's shuffling draws it), padded from its start to a multiple of the world
    size; it is cut into global batches of ``batch_size * world``, and each is cut
    evenly among the ranks, so every rank takes the same number of steps.
    """

    def __init__(
        self, images: int, batch_size: int, world: int, rank: int, generator: torch.Generator
    ) -> None:
        self.images, self.batch_size, self.world, self.rank = images, batch_size, world, rank
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.images, generator=self.generator).tolist()
        while len(order) % self.world:
            order.append(order[len(order) % self.images])
        size = self.batch_size * self.world
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            per = len(chunk) // self.world
            yield chunk[self.rank * per : (self.rank + 1) * per]

    def __len__(self) -> int:
        padded = self.images + (-self.images) % self.world
        return math.ceil(padded / (self.batch_size * self.world))


@contextmanager
def joined(device_name: str, launch: Launch | None = None) -> Iterator[Group]:
    """This process's group for one run: torchrun's (or ``launch``'s), else a single one."""
    launch = launch or Launch.from_env()
    if launch is None:
        yield Group(device=pick_device(device_name))
        return
    device, backend = resolve_device(
        device_name,
        world_size=launch.world_size,
        local_rank=launch.local_rank,
        cuda_devices=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        nccl=dist.is_available() and dist.is_nccl_available(),
    )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=launch.init_method,
        rank=launch.rank,
        world_size=launch.world_size,
        timeout=TIMEOUT,
    )
    if launch.rank != 0:
        logging.getLogger("training.ml").setLevel(logging.WARNING)  # rank 0 logs the run
    try:
        yield Group(device=device, world_size=launch.world_size, rank=launch.rank, backend=backend)
    finally:
        dist.destroy_process_group()


def rescale_resumed(run: Any, saved_global_batch: int, global_batch: int) -> None:
    """A checkpoint of another global batch (another number of devices): count its steps
    in this run's steps and give its schedule this run's scaled learning rate."""
    if saved_global_batch == global_batch:
        return
    ratio = saved_global_batch / global_batch
    run.global_step = round(run.global_step * ratio)
    schedule = run.schedule
    schedule.warmup_steps = round(schedule.warmup_steps * ratio)
    schedule.total_steps = max(schedule.warmup_steps + 1, round(schedule.total_steps * ratio))
    scheduler = run.scheduler
    scheduler.last_epoch = run.global_step
    scheduler.base_lrs = [run.learning_rate for _ in scheduler.base_lrs]
    for group, base in zip(run.optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["initial_lr"] = base
        group["lr"] = base * schedule(run.global_step)
    scheduler._last_lr = [group["lr"] for group in run.optimizer.param_groups]
    logger.info(
        "resumed a checkpoint of global batch %d with global batch %d: step %d, lr %.4g",
        saved_global_batch, global_batch, run.global_step, scheduler._last_lr[0],
    )  # fmt: skip


# --- The studio's way in: this process is rank 0, the others are spawned -----------------


def devices_to_use(device_name: str, asked: int = 0) -> int:
    """How many processes a train worker starts for a run: every GPU it sees (those of
    CUDA_VISIBLE_DEVICES), or at most ``asked`` (the studio's STUDIO_TRAIN_PROCESSES; on a
    node without CUDA, that many CPU processes); one on the CPU by default."""
    if asked < 0:
        raise ConfigError(f"the number of training processes must be 0 or more (got {asked})")
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    on_cuda = device_name == "cuda" or (device_name == "auto" and cuda > 0)
    if device_name.startswith("cuda:"):
        return 1
    if on_cuda:
        return max(1, min(asked, cuda) if asked else cuda)
    return asked or 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_main(argv: list[str]) -> int:
    """A spawned process: ``python -m training.ml.distributed RUN INIT WORLD RANK``."""
    spec, init, world, rank = argv
    with open(spec, "rb") as handle:
        train, config, kwargs = pickle.load(handle)  # noqa: S301 - written by our rank 0
    launch = Launch(int(world), int(rank), int(rank), init)
    try:
        with joined(config.device, launch) as group:
            train(config, group=group, **kwargs)
    except BaseException as exc:
        Path(f"{spec}.error-{rank}").write_text(f"process {rank}: {exc}\n{traceback.format_exc()}")
        raise
    return 0


def train_on_devices(processes: int, train: Callable[..., Any], config: Any, **kwargs: Any):
    """``train(config, group=..., **kwargs)`` on ``processes`` processes of this node; the
    calling process is rank 0 and gets ``on_progress`` and ``should_stop``, the others
    (new interpreters: a Celery pool process may not fork children) get neither. Returns
    rank 0's result; a failed process fails the run."""
    if processes <= 1:
        return train(config, **kwargs)
    on_cpu = config.device == "cpu" or not torch.cuda.is_available()
    if on_cpu and config.num_threads is None:  # the node's cores, shared between processes
        threads = max(1, (os.cpu_count() or 1) // processes)
        config = dataclasses.replace(config, num_threads=threads)
    quiet = {k: v for k, v in kwargs.items() if k not in ("on_progress", "should_stop")}
    init = f"tcp://127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory(prefix="ddp-") as folder:
        spec = Path(folder) / "run.pickle"
        with spec.open("wb") as handle:
            pickle.dump((train, config, quiet), handle)
        root = str(Path(__file__).resolve().parents[2])  # where ``training`` is importable
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "training.ml.distributed",
                    str(spec),
                    init,
                    str(processes),
                    str(rank),
                ],
                env={**os.environ, "PYTHONPATH": path},
            )  # fmt: skip
            for rank in range(1, processes)
        ]
        try:
            with joined(config.device, Launch(processes, 0, 0, init)) as group:
                result = train(config, group=group, **kwargs)
        except Exception as exc:
            for child in children:  # they would wait for rank 0 until the timeout
                child.terminate()
            message = _child_error(spec, children)
            if message and not isinstance(exc, EngineError):
                raise EngineError(f"training on {processes} processes failed: {message}") from exc
            raise
        finally:
            for child in children:
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        failed = [child.returncode for child in children if child.returncode]
        if failed:
            raise EngineError(
                f"a training process ended with status {failed[0]}: {_child_error(spec, children)}"
            )
    return result


def _child_error(spec: Path, children: list) -> str:
    """The first line of a failed child's error, after a few seconds for it to be written."""
    for _ in range(50):
        for rank in range(1, len(children) + 1):
            found = Path(f"{spec}.error-{rank}")
            if found.exists():
                return found.read_text().splitlines()[0]
        if all(child.poll() is not None for child in children):
            return ""
        time.sleep(0.1)
    return ""


if __name__ == "__main__":
    from training.ml.distributed import child_main as main  # this module, by its own name

    sys.exit(main(sys.argv[1:]))
