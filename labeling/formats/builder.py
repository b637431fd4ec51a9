"""What every reader does the same way: find images, size them, clip, drop and report boxes.

A reader parses its files and hands each image to ``DatasetBuilder.add_image`` with the
boxes as the format gives them (in pixels, or as fractions of the image size); the builder
turns that into an ``ImageRecord`` and writes every non-fatal problem into the report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from labeling.formats.imagesize import UnreadableImageError, image_size
from labeling.formats.paths import find_image, folder_name, is_inside, relative_name
from labeling.formats.records import (
    Box,
    Dataset,
    ImageRecord,
    ImportReport,
    ProblemKind,
    Split,
)

RawBox = tuple[str, float, float, float, float]

# Overshoot below this many pixels is rounding noise: clipped without a report.
CLIP_TOLERANCE = 0.01


class DatasetBuilder:
    def __init__(self, root: Path, *, format: str, classes: Sequence[str] | None = None) -> None:
        self.root = root.resolve()
        self.format = format
        self.report = ImportReport()
        self._declared = list(classes) if classes is not None else None
        self._known = set(self._declared or ())
        self._images: dict[str, ImageRecord] = {}
        self._searched: dict[Path, None] = {}  # the folders images were looked for in
        self._found: Counter[str] = Counter()  # folder (relative) -> images found there

    def problem(self, kind: ProblemKind, item: str, message: str) -> None:
        self.report.add(kind, item, message)

    def add_image(
        self,
        references: str | Sequence[str],
        *,
        bases: Sequence[Path],
        width: float | None = None,
        height: float | None = None,
        split: Split | None = None,
        boxes: Iterable[RawBox] = (),
        relative: bool = False,
        no_objects: bool = False,
    ) -> ImageRecord | None:
        """Add one image; None (and a report entry) when its file is missing or unreadable.

        ``references`` are the names the annotation gives the image, tried in order.
        With ``relative`` the boxes are fractions of the image width and height.
        """
        refs = [references] if isinstance(references, str) else list(references)
        self._searched.update(dict.fromkeys(bases))
        path, unsafe = find_image(refs, bases=bases, root=self.root)
        if path is None:
            if unsafe:
                self.problem(ProblemKind.UNSAFE_PATH, refs[0], f"image refused: {unsafe}")
            else:
                self.problem(
                    ProblemKind.MISSING_IMAGE,
                    refs[0],
                    "image file not found in the dataset folder",
                )
            return None
        file_name = relative_name(path, self.root)
        size = self._size(path, file_name, width, height)
        if size is None:
            return None
        self._found[folder_name(path.parent, self.root)] += file_name not in self._images
        existing = self._images.get(file_name)
        image = existing or ImageRecord(file_name, path, size[0], size[1], split, [], no_objects)
        if existing is not None:
            self.problem(
                ProblemKind.DUPLICATE_IMAGE,
                file_name,
                "image listed more than once; its boxes were merged",
            )
        for raw in boxes:
            box = self._box(raw, image, relative)
            if box is not None:
                image.boxes.append(box)
        if image.boxes:
            image.no_objects = False
        self._images[file_name] = image
        return image

    def build(self) -> Dataset:
        images = list(self._images.values())
        if self._declared is not None:
            classes = self._declared
        else:
            classes = sorted({box.label for image in images for box in image.boxes})
        searched = [
            folder_name(base, self.root)
            for base in self._searched
            if base.is_dir() and is_inside(base, self.root)
        ]
        searched = list(dict.fromkeys(searched))
        if self._found:
            found = ", ".join(f"{name} ({count})" for name, count in self._found.most_common())
            self.report.layout.append(f"images: {found}")
        elif self._searched:
            self.report.layout.append(f"images: none found; looked in {', '.join(searched)}")
        return Dataset(
            classes=classes,
            images=images,
            report=self.report,
            format=self.format,
            searched=searched,
        )

    def _size(
        self, path: Path, file_name: str, width: float | None, height: float | None
    ) -> tuple[int, int] | None:
        if width and height and all(math.isfinite(v) and v >= 1 for v in (width, height)):
            return round(width), round(height)
        try:
            return image_size(path)
        except UnreadableImageError as error:
            self.problem(ProblemKind.UNREADABLE_IMAGE, file_name, str(error))
            return None

    def _box(self, raw: RawBox, image: ImageRecord, relative: bool) -> Box | None:
        label, x, y, w, h = raw
        where = image.file_name
        if relative:
            x, w = x * image.width, w * image.width
            y, h = y * image.height, h * image.height
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            self.problem(ProblemKind.BAD_ENTRY, where, f"box of {label!r} has a non-number")
            return None
        if self._declared is not None and label not in self._known:
            self.problem(
                ProblemKind.UNKNOWN_CLASS, where, f"box of unknown class {label!r} dropped"
            )
            return None
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, image.width), min(y + h, image.height)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            self.problem(
                ProblemKind.BOX_DEGENERATE,
                where,
                f"box of {label!r} at {_fmt(x, y, w, h)} has no area inside the image; dropped",
            )
            return None
        if (x0, y0, x1, y1) == (x, y, x + w, y + h):
            return Box(label, x, y, w, h)
        overshoot = max(x0 - x, y0 - y, x + w - x1, y + h - y1)
        if overshoot > CLIP_TOLERANCE:
            self.problem(
                ProblemKind.BOX_CLIPPED,
                where,
                f"box of {label!r} at {_fmt(x, y, w, h)} reaches outside the "
                f"{image.width}x{image.height} image; clipped",
            )
        return Box(label, x0, y0, x1 - x0, y1 - y0)


def _fmt(x: float, y: float, w: float, h: float) -> str:
    return f"[x={x:g}, y={y:g}, w={w:g}, h={h:g}]"
