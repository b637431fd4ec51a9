"""Google AutoML Vision object detection CSV.

One row per box: ``SET,path,label,x1,y1,x2,y2,x3,y3,x4,y4`` where the corners are
fractions of the image size; usually only two opposite corners are filled
(``TRAIN,gs://b/a.jpg,cat,0.1,0.2,,,0.5,0.6,,``). ``SET`` is TRAIN, VALIDATION, TEST or
UNASSIGNED and may be left out. A row ``SET,path`` (trailing empty cells allowed; our
writer writes all 11 columns) is an image with no objects. Paths (``gs://bucket/...``,
relative or absolute) are looked up by their trailing components inside the CSV's folder.
The image sizes come from the files. Labels and paths that a spreadsheet would run as a
formula (``=cmd|...``) are written with a leading quote (csv_cells.py), which reading
takes off again.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.csv_cells import neutralise, restore
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.records import Dataset, FormatError, ProblemKind, Split
from labeling.formats.sources import find_files

FORMAT = "automl-csv"
CSV_FILE = "annotations.csv"
SETS: dict[str, Split | None] = {
    "TRAIN": "train",
    "VALIDATION": "val",
    "TEST": "test",
    "UNASSIGNED": None,
}
_SET_OF_SPLIT = {split: name for name, split in SETS.items()}


@dataclass
class _Entry:
    split: Split | None
    boxes: list[RawBox] = field(default_factory=list)
    rows_without_box: int = 0


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".csv"  # the only CSV format we know
    return any(_looks_like_automl(file) for file in find_files(path, ".csv", depth=1))


def read(path: Path) -> Dataset:
    path = Path(path)
    if path.is_dir():
        files = [f for f in find_files(path, ".csv", depth=1) if _looks_like_automl(f)]
        if len(files) != 1:
            raise FormatError(f"expected one AutoML CSV file in {path}, found {len(files)}")
        path = files[0]
    root = path.parent
    builder = DatasetBuilder(root, format=FORMAT)
    entries: dict[str, _Entry] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                _read_row(builder, entries, f"{path.name}:{number}", row)
    except (UnicodeDecodeError, csv.Error) as error:
        raise FormatError(f"{path.name} is not a readable CSV file: {error}") from error
    for reference, entry in entries.items():
        builder.add_image(
            reference,
            bases=[root, root / "images"],
            split=entry.split,
            boxes=entry.boxes,
            relative=True,
            no_objects=not entry.boxes and entry.rows_without_box > 0,
        )
    return builder.build()


def write(dataset: Dataset, out_dir: Path) -> list[Path]:
    """Write annotations.csv (paths relative to it) and images/."""
    out = prepare_folder(out_dir)
    check_classes(dataset)
    destinations: list[Path] = []
    with (out / CSV_FILE).open("w", newline="", encoding="utf-8") as handle:
        # CRLF rows (RFC 4180): csv quotes a cell that holds a character of the row end,
        # so a CR inside a class name (which csv.reader takes for a new row) is quoted too.
        writer = csv.writer(handle, lineterminator="\r\n")
        for image, name in zip(dataset.images, export_names(dataset.images), strict=True):
            destinations.append(place_image(image, out / "images" / name))
            row_start = [_SET_OF_SPLIT[image.split], neutralise(f"images/{name}")]
            if not image.boxes:  # no objects: the row keeps the format's 11 columns
                writer.writerow([*row_start, *[""] * 9])
            for box in image.boxes:
                x0, y0 = box.x / image.width, box.y / image.height
                x1, y1 = (box.x + box.w) / image.width, (box.y + box.h) / image.height
                corners = [_fraction(x0), _fraction(y0), "", "", _fraction(x1), _fraction(y1)]
                writer.writerow([*row_start, neutralise(box.label), *corners, "", ""])
    return destinations


def _looks_like_automl(file: Path) -> bool:
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return bool(first) and first[0].strip().upper() in SETS


def _read_row(builder: DatasetBuilder, entries: dict[str, _Entry], item: str, row: list) -> None:
    cells = [cell.strip() for cell in row]
    if not any(cells):
        return
    split: Split | None = None
    if cells[0].upper() in SETS:
        split, cells = SETS[cells[0].upper()], cells[1:]
    if not cells or not cells[0] or len(cells) > 10:
        builder.problem(
            ProblemKind.BAD_ENTRY,
            item,
            f"expected 'SET,path[,label,x1,y1,x2,y2,x3,y3,x4,y4]', got {len(row)} columns",
        )
        return
    reference, label = restore(cells[0]), restore(cells[1]) if len(cells) > 1 else ""
    corners = cells[2:]
    entry = entries.setdefault(reference, _Entry(split))
    if not label and not any(corners):
        entry.rows_without_box += 1
        return
    box = _box(label, corners)
    if box is None:
        builder.problem(
            ProblemKind.BAD_ENTRY,
            item,
            "a box needs a label and at least two corners (x, y as numbers); row skipped",
        )
        return
    entry.boxes.append(box)


def _box(label: str, corners: list[str]) -> RawBox | None:
    if not label:
        return None
    corners = corners + [""] * (8 - len(corners))
    points = []
    for x_text, y_text in zip(corners[0::2], corners[1::2], strict=True):
        if not x_text and not y_text:
            continue
        try:
            x, y = float(x_text), float(y_text)
        except ValueError:
            return None
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        points.append((x, y))
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (label, min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _fraction(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"
