"""Label Studio JSON export: a list of tasks, boxes as ``rectanglelabels`` in percent.

Each task names its image in ``data.image`` (``/data/upload/3/1a2b3c4d-name.jpg``,
``/data/local-files/?d=...``, a URL or a relative path); it is looked up inside the export
file's folder, also without the 8-hex-digit prefix Label Studio adds to uploads. Of a
task's annotations, the latest one not cancelled is used; predictions are ignored. A used
annotation without boxes means "no objects". A rotated rectangle becomes the box around
it. ``data.split``, which our export writes, gives the split.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.paths import IMAGE_SUFFIXES
from labeling.formats.records import Dataset, FormatError, ProblemKind, normalize_split
from labeling.formats.sources import find_files, first_char, load_json

FORMAT = "labelstudio"
TASKS_FILE = "labelstudio.json"
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and first_char(path) == "["
    return bool(_candidate_files(path))


def read(path: Path) -> Dataset:
    path = Path(path)
    files = [path] if path.is_file() else _candidate_files(path)
    if not files:
        raise FormatError(f"no Label Studio JSON export (a list of tasks) in {path}")
    root = path.parent if path.is_file() else path
    builder = DatasetBuilder(root, format=FORMAT)
    for file in files:
        tasks = load_json(file)
        if not isinstance(tasks, list):
            raise FormatError(f"{file.name} is not a Label Studio JSON export: no list of tasks")
        for position, task in enumerate(tasks):
            _read_task(builder, file, position, task)
    return builder.build()


def write(dataset: Dataset, out_dir: Path) -> list[Path]:
    """Write labelstudio.json (image paths relative to it) and images/."""
    out = prepare_folder(out_dir)
    check_classes(dataset)
    tasks: list[dict[str, object]] = []
    destinations: list[Path] = []
    for task_id, (image, name) in enumerate(
        zip(dataset.images, export_names(dataset.images), strict=True), start=1
    ):
        destinations.append(place_image(image, out / "images" / name))
        data: dict[str, object] = {"image": f"images/{name}"}
        if image.split:
            data["split"] = image.split
        results = [
            {
                "id": f"{task_id}-{number}",
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": image.width,
                "original_height": image.height,
                "image_rotation": 0,
                "value": {
                    "x": box.x / image.width * 100,
                    "y": box.y / image.height * 100,
                    "width": box.w / image.width * 100,
                    "height": box.h / image.height * 100,
                    "rotation": 0,
                    "rectanglelabels": [box.label],
                },
            }
            for number, box in enumerate(image.boxes, start=1)
        ]
        labeled = bool(results) or image.no_objects
        annotations = [{"id": task_id, "result": results, "was_cancelled": False}]
        tasks.append({"id": task_id, "data": data, "annotations": annotations if labeled else []})
    (out / TASKS_FILE).write_text(json.dumps(tasks), encoding="utf-8")
    return destinations


def _candidate_files(folder: Path) -> list[Path]:
    return [file for file in find_files(folder, ".json") if first_char(file) == "["]


def _image_reference(task: dict) -> str | None:
    data = task.get("data")
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("image"), str):
        return data["image"]
    for value in data.values():
        if isinstance(value, str) and PurePosixPath(value.split("?")[0]).suffix in IMAGE_SUFFIXES:
            return value
    return None


def _references(reference: str, task: dict) -> list[str]:
    references = [reference]
    upload = task.get("file_upload")
    if isinstance(upload, str):
        references.append(upload)
    for ref in list(references):
        head, _, name = ref.replace("\\", "/").rpartition("/")
        if _UPLOAD_PREFIX.match(name):
            references.append(f"{head}/{_UPLOAD_PREFIX.sub('', name)}")
    return list(dict.fromkeys(references))


def _read_task(builder: DatasetBuilder, file: Path, position: int, task: object) -> None:
    item = f"{file.name} task #{position + 1}"
    if not isinstance(task, dict):
        builder.problem(ProblemKind.BAD_ENTRY, item, "a task is not an object")
        return
    reference = _image_reference(task)
    if reference is None:
        builder.problem(ProblemKind.BAD_ENTRY, item, "task has no image in 'data'")
        return
    annotation = _latest_annotation(task)
    results = annotation.get("result") if annotation else []
    results = [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
    size = next(
        (
            (r["original_width"], r["original_height"])
            for r in results
            if _positive(r.get("original_width")) and _positive(r.get("original_height"))
        ),
        None,
    )
    boxes = [b for r in results if (b := _box(builder, reference, r, results, size))]
    data = task.get("data", {})
    builder.add_image(
        _references(reference, task),
        bases=[file.parent, file.parent / "images"],
        width=size[0] if size else None,
        height=size[1] if size else None,
        split=normalize_split(data.get("split")),
        boxes=boxes,
        relative=size is None,
        no_objects=annotation is not None and not boxes,
    )


def _latest_annotation(task: dict) -> dict | None:
    annotations = task.get("annotations")
    if not isinstance(annotations, list):
        return None
    usable = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not usable:
        return None
    return max(usable, key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))


def _box(
    builder: DatasetBuilder,
    item: str,
    result: dict,
    results: list[dict],
    size: tuple[float, float] | None,
) -> RawBox | None:
    """A box in pixels (fractions when the image size is unknown), or None."""
    value = result.get("value")
    if result.get("type") not in ("rectanglelabels", "rectangle") or not isinstance(value, dict):
        return None
    labels = value.get("rectanglelabels")
    if not labels:  # a <Rectangle> with a separate <Labels> result sharing its id
        labels = next(
            (
                r["value"].get("labels")
                for r in results
                if r.get("id") == result.get("id")
                and isinstance(r.get("value"), dict)
                and r["value"].get("labels")
            ),
            None,
        )
    labels = [labels] if isinstance(labels, str) else labels
    numbers = [value.get(key) for key in ("x", "y", "width", "height")]
    if not labels or not isinstance(labels, list) or not all(_number(n) for n in numbers):
        builder.problem(ProblemKind.BAD_ENTRY, item, "rectangle without a label or position")
        return None
    x, y, w, h = (float(n) / 100 for n in numbers)
    rotation = float(value["rotation"]) if _number(value.get("rotation")) else 0.0
    if rotation % 360:
        if size is None:
            builder.problem(ProblemKind.BAD_ENTRY, item, "rotated box without image size")
            return None
        return (
            str(labels[0]),
            *_unrotate(x * size[0], y * size[1], w * size[0], h * size[1], rotation),
        )
    if size is None:
        return (str(labels[0]), x, y, w, h)
    return (str(labels[0]), x * size[0], y * size[1], w * size[0], h * size[1])


def _unrotate(x: float, y: float, w: float, h: float, degrees: float) -> tuple[float, ...]:
    """The upright box around a rectangle turned by ``degrees`` about its top-left corner."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
    xs = [x + cx * cos - cy * sin for cx, cy in corners]
    ys = [y + cx * sin + cy * cos for cx, cy in corners]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _number(value) and value > 0  # type: ignore[operator]
