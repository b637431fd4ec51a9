"""Plain records shared by every format: a dataset, its images and boxes, the import report.

Boxes are in pixels, 0-based, ``(label, x, y, w, h)`` with ``(x, y)`` the top-left corner,
in the frame of the image as displayed (EXIF orientation applied). No Django here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")

_SPLIT_ALIASES: dict[str, Split] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def normalize_split(value: object) -> Split | None:
    """Map a split name as tools spell it ("valid", "VALIDATION", ...) to ours, else None."""
    if not isinstance(value, str):
        return None
    return _SPLIT_ALIASES.get(value.strip().lower())


class FormatError(Exception):
    """The input cannot be read (or written) as the format at all; nothing should be imported."""


class Box(NamedTuple):
    """One bounding box in pixels: top-left corner, width and height."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass(slots=True)
class ImageRecord:
    """One image of a dataset.

    ``file_name`` is the image's path relative to the dataset folder (posix separators).
    ``path`` is the absolute path of its pixels: readers only return images whose file
    exists inside the dataset folder; a caller building a dataset for export may leave it
    None and put the pixels at the place ``write`` returns.
    ``no_objects`` is True when the format states that the image has nothing to label
    (an empty YOLO label file, an AutoML row without a box, a VOC file without objects,
    a Label Studio annotation without results), as opposed to an image not labeled yet.
    """

    file_name: str
    path: Path | None
    width: int
    height: int
    split: Split | None = None
    boxes: list[Box] = field(default_factory=list)
    no_objects: bool = False

    @property
    def name(self) -> str:
        """The bare file name, without folders."""
        return PurePosixPath(self.file_name).name


class ProblemKind(StrEnum):
    MISSING_IMAGE = "missing_image"
    UNSAFE_PATH = "unsafe_path"
    UNREADABLE_IMAGE = "unreadable_image"
    DUPLICATE_IMAGE = "duplicate_image"
    BAD_ENTRY = "bad_entry"
    UNKNOWN_CLASS = "unknown_class"
    BOX_CLIPPED = "box_clipped"
    BOX_DEGENERATE = "box_degenerate"
    SKIPPED = "skipped"
    TRUNCATED_IMAGE = "truncated_image"  # kept: its decoded pixels are complete enough


@dataclass(frozen=True, slots=True)
class Problem:
    """A non-fatal problem with one item: ``item`` names it (an image or a file and line)."""

    kind: ProblemKind
    item: str
    message: str


@dataclass(slots=True)
class ImportReport:
    """Per-item problems met while reading; what was kept is in the dataset itself.

    ``layout`` says, one line each, which folders and files the reader used
    ("annotations: annotations/ (364 XML files)", "images: images/ (364 found)").
    """

    problems: list[Problem] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)

    def add(self, kind: ProblemKind, item: str, message: str) -> None:
        self.problems.append(Problem(kind, item, message))

    def count(self, kind: ProblemKind) -> int:
        return sum(1 for p in self.problems if p.kind == kind)

    def items(self, kind: ProblemKind) -> list[str]:
        """The items with a problem of this kind, in the order met."""
        return [p.item for p in self.problems if p.kind == kind]

    def summary(self) -> dict[str, int]:
        return dict(Counter(str(p.kind) for p in self.problems))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, for showing or downloading the report."""
        return {
            "summary": self.summary(),
            "layout": list(self.layout),
            "problems": [
                {"kind": str(p.kind), "item": p.item, "message": p.message} for p in self.problems
            ],
        }

    def as_text(self) -> str:
        return "\n".join(f"{p.kind}\t{p.item}\t{p.message}" for p in self.problems)

    def __len__(self) -> int:
        return len(self.problems)


@dataclass(slots=True)
class Dataset:
    """Ordered class names, images with their boxes, and the report of reading them.

    ``format`` is the format it was read from; ``name`` is free text for exports;
    ``searched`` names the folders (relative, "./" for the dataset's own) where the reader
    looked for the images, for a message when none was found.
    """

    classes: list[str]
    images: list[ImageRecord]
    report: ImportReport = field(default_factory=ImportReport)
    format: str = ""
    name: str = ""  # shown in exports that have a place for it (COCO info, data.yaml)
    searched: list[str] = field(default_factory=list)

    @property
    def box_count(self) -> int:
        return sum(len(image.boxes) for image in self.images)

    def split_counts(self) -> dict[str | None, int]:
        return dict(Counter(image.split for image in self.images))
