"""Exceptions raised by the detection engine.

Every error a user can cause (bad configuration, bad data, a missing weight package)
is an :class:`EngineError`, so callers (the CLI, the studio's worker) can report it in
one line instead of a traceback.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of the errors the engine raises on purpose."""


class ConfigError(EngineError):
    """A training, evaluation or export setting is invalid."""


class DatasetError(EngineError):
    """The COCO file or the image folder cannot be used."""


class WeightsError(EngineError):
    """Pretrained weights are missing, corrupt or do not fit the architecture."""


class TrainingDiverged(EngineError):
    """The training loss became NaN or infinite."""


class CheckpointError(EngineError):
    """A checkpoint file is missing or was not written by this engine."""


class DiskFull(CheckpointError):
    """A checkpoint could not be written: its disk is full (the previous one is intact)."""


class ExportCheckFailed(EngineError):
    """The exported ONNX model does not reproduce the PyTorch detections."""


class Cancelled(Exception):  # noqa: N818 - not an error: the caller asked to stop
    """``should_stop()`` returned true in the middle of a step (decoding, validation).

    Not an EngineError: a cancel is no failure. ``train()`` turns it into a result
    with status ``cancelled``; ``evaluate_checkpoint`` lets it through.
    """
