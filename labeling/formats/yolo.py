"""YOLO txt: one ``class cx cy w h`` line per box (fractions of the image size).

Class names come from ``data.yaml`` (``names`` as a list or an ``{index: name}`` map) or
``classes.txt``/``obj.names``. Label files sit where the images are, or in the ``labels``
folder mirroring an ``images`` folder (Ultralytics ``images/train`` + ``labels/train``,
Roboflow ``train/images`` + ``train/labels``); a ``train``/``val``/``valid``/``test``
folder on the way gives the split. An empty label file means "no objects"; a missing one
means "not labeled". Segment lines (``class x1 y1 x2 y2 ...``) become their bounding box.
Paths inside ``data.yaml`` are never followed: only the dataset folder is read.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import yaml

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.paths import IMAGE_SUFFIXES, is_inside
from labeling.formats.records import (
    SPLITS,
    Dataset,
    FormatError,
    ProblemKind,
    Split,
    normalize_split,
)

FORMAT = "yolo"
YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml")
LIST_NAMES = ("classes.txt", "obj.names", "classes.names")


def detect(path: Path) -> bool:
    if path.is_file():
        return path.name.lower() in YAML_NAMES + LIST_NAMES
    return any((path / name).is_file() for name in YAML_NAMES + LIST_NAMES)


def read(path: Path) -> Dataset:
    """Read a YOLO dataset folder (a data.yaml or classes.txt stands for its folder)."""
    path = Path(path)
    root = path.parent if path.is_file() else path
    classes = _class_names(root)
    builder = DatasetBuilder(root, format=FORMAT, classes=classes)
    used_labels: set[Path] = set()
    for image_path in _image_files(root):
        relative = image_path.relative_to(root)
        label_path = _label_path(image_path, relative, root)
        boxes, no_objects = [], False
        if label_path is not None:
            used_labels.add(label_path)
            boxes = list(_read_label_file(builder, label_path, root, classes))
            no_objects = not boxes and not _has_content(label_path)
        builder.add_image(
            relative.as_posix(),
            bases=[root],
            split=_split_of(relative),
            boxes=boxes,
            relative=True,
            no_objects=no_objects,
        )
    for orphan in _label_files(root) - used_labels:
        builder.problem(
            ProblemKind.MISSING_IMAGE,
            orphan.relative_to(root).as_posix(),
            "label file without an image",
        )
    return builder.build()


def write(dataset: Dataset, out_dir: Path) -> list[Path]:
    """Ultralytics layout: images/{split}/, labels/{split}/, data.yaml (+ classes.txt)."""
    out = prepare_folder(out_dir)
    class_index = check_classes(dataset)
    destinations: list[Path] = []
    for image, name in zip(dataset.images, export_names(dataset.images), strict=True):
        folder = PurePosixPath(image.split or "")
        destinations.append(place_image(image, out / "images" / folder / name))
        if not image.boxes and not image.no_objects:
            continue  # not labeled: no label file
        lines = []
        for box in image.boxes:
            cx = (box.x + box.w / 2) / image.width
            cy = (box.y + box.h / 2) / image.height
            w, h = box.w / image.width, box.h / image.height
            lines.append(f"{class_index[box.label]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        label_file = out / "labels" / folder / f"{Path(name).stem}.txt"
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("".join(lines), encoding="utf-8")
    present = [s for s in SPLITS if any(image.split == s for image in dataset.images)]
    config: dict[str, object] = {f"{s}": f"images/{s}" for s in present}
    if not present:
        config = {"train": "images", "val": "images"}
    config["nc"] = len(dataset.classes)
    config["names"] = list(dataset.classes)
    with (out / "data.yaml").open("w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False, allow_unicode=True)
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in dataset.classes), "utf-8")
    return destinations


def _class_names(root: Path) -> list[str]:
    for name in YAML_NAMES:
        file = root / name
        if file.is_file() and is_inside(file, root):
            return _yaml_names(file)
    for name in LIST_NAMES:
        file = root / name
        if file.is_file() and is_inside(file, root):
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            return [line.strip() for line in lines if line.strip()]
    raise FormatError(f"no class names in {root}: a YOLO dataset needs data.yaml or classes.txt")


def _yaml_names(file: Path) -> list[str]:
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise FormatError(f"{file.name} is not valid YAML: {error}") from error
    names = config.get("names") if isinstance(config, dict) else None
    if isinstance(names, list):
        return [str(name) for name in names]
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise FormatError(f"{file.name}: class indexes in 'names' must be 0, 1, 2, ...")
        return [str(names[index]) for index in sorted(names)]
    raise FormatError(f"{file.name} has no 'names' list of classes")


def _image_files(root: Path) -> list[Path]:
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "__MACOSX")
        for file in sorted(files):
            if Path(file).suffix.lower() in IMAGE_SUFFIXES and not file.startswith("."):
                found.append(Path(folder) / file)
    return found


def _label_files(root: Path) -> set[Path]:
    """Label files in ``labels`` folders (the ones that should each have an image)."""
    return {
        Path(folder) / file
        for folder, _subfolders, files in os.walk(root)
        if "labels" in Path(folder).relative_to(root).parts
        for file in files
        if file.endswith(".txt")
    }


def _label_path(image_path: Path, relative: Path, root: Path) -> Path | None:
    parts = list(relative.parts)
    candidates = []
    if "images" in parts[:-1]:
        index = len(parts) - 2 - parts[:-1][::-1].index("images")
        parts[index] = "labels"
        candidates.append(root.joinpath(*parts).with_suffix(".txt"))
    candidates.append(image_path.with_suffix(".txt"))
    return next((c for c in candidates if c.is_file() and is_inside(c, root)), None)


def _split_of(relative: Path) -> Split | None:
    for part in reversed(relative.parts[:-1]):
        split = normalize_split(part)
        if split:
            return split
    return None


def _has_content(label_path: Path) -> bool:
    return bool(label_path.read_bytes().strip())


def _read_label_file(
    builder: DatasetBuilder, label_path: Path, root: Path, classes: list[str]
) -> list[RawBox]:
    item = label_path.relative_to(root).as_posix()
    boxes: list[RawBox] = []
    text = label_path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            index, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            builder.problem(ProblemKind.BAD_ENTRY, f"{item}:{number}", "not numbers; skipped")
            continue
        if not 0 <= index < len(classes):
            builder.problem(
                ProblemKind.UNKNOWN_CLASS,
                f"{item}:{number}",
                f"class index {index} is not in the {len(classes)} classes; box dropped",
            )
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            boxes.append((classes[index], cx - w / 2, cy - h / 2, w, h))
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            boxes.append((classes[index], min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
        else:
            builder.problem(
                ProblemKind.BAD_ENTRY,
                f"{item}:{number}",
                f"expected 'class cx cy w h', got {len(fields)} fields; skipped",
            )
    return boxes
