"""What every writer does the same way: safe unique file names, and copying the pixels."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from labeling.formats.records import Dataset, FormatError, ImageRecord


def export_names(images: Sequence[ImageRecord]) -> list[str]:
    """A bare, safe file name per image, unique even ignoring case and suffix.

    Unique stems matter: YOLO and VOC name a label file after its image's stem.
    """
    names: list[str] = []
    taken: set[str] = set()
    for image in images:
        name = PurePosixPath(image.file_name.replace("\\", "/")).name.strip()
        if name in ("", ".", ".."):
            name = "image.jpg"
        path = PurePosixPath(name)
        stem, suffix = path.stem, path.suffix
        counter = 1
        while stem.lower() in taken:
            counter += 1
            stem = f"{path.stem}-{counter}"
        taken.add(stem.lower())
        names.append(stem + suffix)
    return names


def prepare_folder(out_dir: Path) -> Path:
    """Create the output folder; refuse to mix an export with other files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FormatError(f"the export folder {out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def place_image(image: ImageRecord, destination: Path) -> Path:
    """Copy the image's pixels to ``destination`` when they are on disk; return it.

    Images without a ``path`` are left for the caller to put there.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    if image.path is not None:
        shutil.copyfile(image.path, destination)
    return destination


def check_classes(dataset: Dataset) -> dict[str, int]:
    """Index of each class; fail when a box uses a class the dataset does not list."""
    index = {name: i for i, name in enumerate(dataset.classes)}
    if len(index) != len(dataset.classes):
        raise FormatError("the dataset lists the same class name twice")
    for image in dataset.images:
        for box in image.boxes:
            if box.label not in index:
                raise FormatError(
                    f"image {image.file_name!r} has a box of class {box.label!r}, "
                    "which is not in the dataset's classes"
                )
    return index
