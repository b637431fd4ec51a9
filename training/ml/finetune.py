"""Fine-tuning: a run that starts from an earlier model's weights (``train(init_from=...)``).

The network is the checkpoint's: the backbone, pyramid and head weights and their
BatchNorm statistics are copied as they are. The head's classification rows are matched
by class name: a class of the new run that the checkpoint knows gets the checkpoint's
row; a class new to this run keeps the row the freshly built model gave it (what a run
from ImageNet starts with: small random weights and the focal-loss prior bias); a class
the checkpoint had that this run has not is dropped. The preset must be the
checkpoint's (it is the network), and so must ``pretrained`` (a frozen or a trainable
backbone BatchNorm: not the same weights).

:func:`match_classes` needs no torch (the studio's pages show a run's origin with it):
torch is imported only where checkpoints are read and weights copied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.ml.config import TrainConfig
from training.ml.errors import CheckpointError, ConfigError

# The warm-up of a fine-tune (the CLI's and the studio's default with a starting model):
# shorter than a run from ImageNet's 50 steps, as its head is trained already.
FINETUNE_WARMUP_STEPS = 10

# State-dict keys whose rows are the classes first (then, in the light head, the four box
# regression rows and the centre-ness row, which are copied as they are).
CLASS_ROW_KEYS = ("head.predictor.", "head.classification_head.cls_logits.")


@dataclass(frozen=True)
class ClassMatch:
    """How the classes of a starting model map onto a run's, by name."""

    matched: list[str]  # in the run's order
    new: list[str]
    dropped: list[str]

    def to_dict(self) -> dict[str, list[str]]:
        return asdict(self)


def describe_match(match: ClassMatch | dict[str, list[str]]) -> str:
    """``classes matched: RBC, WBC; new: Platelets`` (and ``dropped: ...`` when any)."""
    parts = match.to_dict() if isinstance(match, ClassMatch) else match
    text = f"classes matched: {', '.join(parts['matched']) or 'none'}"
    for kind in ("new", "dropped"):
        if parts[kind]:
            text += f"; {kind}: {', '.join(parts[kind])}"
    return text


def match_classes(source: list[str], target: list[str]) -> ClassMatch:
    """``source``: the starting model's class names; ``target``: the run's."""
    known = set(source)
    kept = set(target)
    return ClassMatch(
        matched=[name for name in target if name in known],
        new=[name for name in target if name not in known],
        dropped=[name for name in source if name not in kept],
    )


@dataclass
class StartingPoint:
    """A checkpoint to fine-tune from, checked against the run's config."""

    path: str
    class_names: list[str]
    architecture: dict[str, str]
    state: dict[str, Any]

    def apply(self, model: Any, class_names: list[str]) -> ClassMatch:
        """Copy the weights into ``model`` (built for ``class_names``; its own class rows
        are the fresh ones) and return how the classes matched."""
        import torch

        match = match_classes(self.class_names, class_names)
        fresh = model.state_dict()
        if set(fresh) != set(self.state):
            odd = sorted(set(fresh) ^ set(self.state))
            raise CheckpointError(
                f"the network of {self.path} does not match this run's "
                f"({len(odd)} different weights, e.g. {odd[0]})"
            )
        old_row = {name: i for i, name in enumerate(self.class_names)}
        pairs = [(i, old_row[name]) for i, name in enumerate(class_names) if name in old_row]
        loaded = {}
        for key, value in self.state.items():
            if key.startswith(CLASS_ROW_KEYS):
                value = _class_rows(value, fresh[key], pairs, len(self.class_names))
            if value.shape != fresh[key].shape:
                raise CheckpointError(
                    f"the network of {self.path} does not match this run's: {key} has shape "
                    f"{tuple(value.shape)}, this run's {tuple(fresh[key].shape)}"
                )
            loaded[key] = value
        with torch.no_grad():
            model.load_state_dict(loaded)
        return match


def _class_rows(old: Any, fresh: Any, pairs: list[tuple[int, int]], old_classes: int) -> Any:
    """``fresh`` with the matched class rows and every row after the classes from ``old``."""
    new_classes = fresh.shape[0] - (old.shape[0] - old_classes)
    rows = fresh.clone()
    for new, old_index in pairs:
        rows[new] = old[old_index]
    rows[new_classes:] = old[old_classes:]
    return rows


def load_start(path: str | Path, config: TrainConfig) -> StartingPoint:
    """Read the checkpoint to fine-tune from (a best.pt or a last.pt) or raise a
    CheckpointError that says why it cannot start this run."""
    from training.ml import checkpoint as ckpt

    checkpoint = ckpt.load(path)
    try:
        saved = TrainConfig.from_dict(checkpoint["config"])
        class_names = [str(name) for name in checkpoint["class_names"]]
        state = checkpoint["model"]
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path} holds no model to fine-tune from: {exc}") from exc
    if checkpoint.get("kind") == "last" and checkpoint.get("ema"):
        state = checkpoint["ema"]["model"]  # the weights it validated and saved as best
    if saved.preset != config.preset:
        raise CheckpointError(
            f"cannot fine-tune from {path}: it was trained with the {saved.preset} preset, "
            f"this run asks for {config.preset} (a fine-tune keeps the network of the model "
            f"it starts from: train it with the {saved.preset} preset)"
        )
    if saved.pretrained != config.pretrained:
        trained = "an ImageNet" if saved.pretrained else "a random"
        raise CheckpointError(
            f"cannot fine-tune from {path}: it was trained from {trained} backbone "
            f"(pretrained {'on' if saved.pretrained else 'off'}); fine-tune it the same way"
        )
    return StartingPoint(
        path=str(path),
        class_names=class_names,
        architecture=ckpt.architecture_of(checkpoint),
        state=state,
    )
