"""Dataset formats: pure converters between files on disk and ``Dataset`` records.

    dataset = read(path)                 # a file, a folder or an extracted zip; format="auto"
    dataset.report.problems              # what was skipped, clipped or dropped, per item
    destinations = write(dataset, out_dir, "coco")

No Django and no database here: the labeling services call these functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

from labeling.formats import automl_csv, coco, labelstudio, voc, yolo
from labeling.formats.records import (
    SPLITS,
    Box,
    Dataset,
    FormatError,
    ImageRecord,
    ImportReport,
    Problem,
    ProblemKind,
    Split,
)

__all__ = [
    "FORMATS",
    "SPLITS",
    "Box",
    "Dataset",
    "FormatError",
    "ImageRecord",
    "ImportReport",
    "Problem",
    "ProblemKind",
    "Split",
    "detect_format",
    "read",
    "write",
]

logger = logging.getLogger(__name__)

# In detection order: the first format that recognises a path wins.
FORMATS: dict[str, ModuleType] = {
    coco.FORMAT: coco,
    labelstudio.FORMAT: labelstudio,
    voc.FORMAT: voc,
    yolo.FORMAT: yolo,
    automl_csv.FORMAT: automl_csv,
}

_IGNORED_ENTRIES = {"__MACOSX", ".DS_Store", "Thumbs.db"}


def detect_format(path: Path | str) -> str:
    """The name of the format of an annotation file or dataset folder."""
    path = _unwrap(Path(path))
    for name, module in FORMATS.items():
        if module.detect(path):
            return name
    raise FormatError(
        f"cannot tell the format of {path.name!r}: expected COCO or Label Studio JSON, "
        "Pascal VOC XML, a YOLO folder (data.yaml or classes.txt) or an AutoML CSV"
    )


def read(path: Path | str, format: str = "auto") -> Dataset:
    """Read a dataset; fatal problems raise FormatError, the others go in its report."""
    path = _unwrap(Path(path))
    if not path.exists():
        raise FormatError(f"{path} does not exist")
    name = detect_format(path) if format == "auto" else format
    dataset = _module(name).read(path)
    logger.info(
        "read %s dataset from %s: %d images, %d boxes, %d problems",
        name,
        path,
        len(dataset.images),
        dataset.box_count,
        len(dataset.report),
    )
    return dataset


def write(dataset: Dataset, out_dir: Path | str, format: str, **options: object) -> list[Path]:
    """Write annotation files and images into ``out_dir`` (created; must be empty).

    Returns, for each of ``dataset.images`` in order, the file its pixels were copied to;
    for an image whose ``path`` is None the caller puts the pixels there. ``options`` go
    to the format's writer (COCO: ``single_file``).
    """
    return _module(format).write(dataset, Path(out_dir), **options)


def _module(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(FORMATS)
        raise FormatError(f"unknown format {name!r}; known formats: {known}") from None


def _unwrap(path: Path) -> Path:
    """Step into a folder that holds nothing but one folder (as zips often extract)."""
    while path.is_dir():
        entries = [e for e in path.iterdir() if e.name not in _IGNORED_ENTRIES]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        path = entries[0]
    return path
