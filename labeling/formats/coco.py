"""COCO JSON (instances, boxes only): one file, or a folder of them (Roboflow's splits,
CVAT's and datumaro's ``annotations/instances_<subset>.json`` with ``images/<subset>/``).

Accepted quirks: Roboflow's placeholder category (id 0, named as the other categories'
supercategory, with no boxes) is dropped; image and category ids may start at 0 or 1;
CVAT's ``attributes`` are ignored; Label Studio's ``ignore`` and COCO's ``iscrowd`` mark
regions that are skipped and reported. A folder's ``train/valid/test`` sub-folders (or a
file name such as ``instances_val2017.json``) give the split; a per-image ``split`` field,
which our export writes, wins over both.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.paths import relative_name
from labeling.formats.records import (
    Dataset,
    FormatError,
    ProblemKind,
    Split,
    normalize_split,
)
from labeling.formats.sources import find_files, first_char, load_json

FORMAT = "coco"
ANNOTATION_FILE = "annotations.json"  # the single-file form
DEFAULT_SUBSET = "default"  # CVAT's and datumaro's name for images without a split


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and first_char(path) == "{"
    return bool(_candidate_files(path))


def read(path: Path) -> Dataset:
    path = Path(path)
    if path.is_file():
        root, documents = path.parent, [(path, _check(path, load_json(path)))]
    else:
        root = path
        documents = []
        for file in _candidate_files(path):
            document = load_json(file)
            if _is_coco(document):
                documents.append((file, document))
        if not documents:
            raise FormatError(f"no COCO JSON file (with 'images' and 'annotations') in {path}")
    categories = [_categories(file, document) for file, document in documents]
    classes = list(dict.fromkeys(name for names in categories for name in names.values()))
    builder = DatasetBuilder(root, format=FORMAT, classes=classes)
    for (file, document), names in zip(documents, categories, strict=True):
        count = len(document["images"])
        builder.report.layout.append(
            f"annotations: {relative_name(file.resolve(), root.resolve())} ({count} images)"
        )
        _read_document(builder, file, document, names, root.resolve())
    return builder.build()


def write(dataset: Dataset, out_dir: Path, *, single_file: bool = False) -> list[Path]:
    """Write COCO as CVAT and datumaro lay it out; return where each image's pixels go.

    One ``annotations/instances_<split>.json`` per split (``default`` for images without
    one) with the images in ``images/<split>/`` and ``file_name`` relative to that
    folder. With ``single_file``: one ``annotations.json`` and ``images/``, ``file_name``
    relative to the export (``images/a.jpg``). Either way each image entry also carries
    its ``split`` and, for an image marked as having no objects, ``no_objects``.
    """
    out = prepare_folder(out_dir)
    class_index = check_classes(dataset)
    subsets: dict[str, tuple[list[dict], list[dict]]] = {}
    destinations: list[Path] = []
    box_id = 0
    for image_id, (image, name) in enumerate(
        zip(dataset.images, export_names(dataset.images), strict=True), start=1
    ):
        subset = ANNOTATION_FILE if single_file else (image.split or DEFAULT_SUBSET)
        folder = out / "images" if single_file else out / "images" / subset
        destinations.append(place_image(image, folder / name))
        images, annotations = subsets.setdefault(subset, ([], []))
        entry: dict[str, object] = {
            "id": image_id,
            "file_name": f"images/{name}" if single_file else name,
            "width": image.width,
            "height": image.height,
        }
        if image.split:
            entry["split"] = image.split
        if image.no_objects:
            entry["no_objects"] = True
        images.append(entry)
        for box in image.boxes:
            box_id += 1
            annotations.append(
                {
                    "id": box_id,
                    "image_id": image_id,
                    "category_id": class_index[box.label] + 1,
                    "bbox": [box.x, box.y, box.w, box.h],
                    "area": box.w * box.h,
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    if not subsets:
        subsets[ANNOTATION_FILE if single_file else DEFAULT_SUBSET] = ([], [])
    if not single_file:
        (out / "annotations").mkdir()
    for subset, (images, annotations) in subsets.items():
        file = out / subset if single_file else out / "annotations" / f"instances_{subset}.json"
        file.write_text(json.dumps(_document(dataset, images, annotations)), encoding="utf-8")
    return destinations


def _document(dataset: Dataset, images: list[dict], annotations: list[dict]) -> dict:
    now = datetime.now(UTC)
    return {
        "info": {
            "description": dataset.name or "Exported from Detection Studio",
            "contributor": "Detection Studio",
            "version": "1.0",
            "year": now.year,
            "date_created": now.isoformat(timespec="seconds"),
        },
        "licenses": [],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "none"}
            for i, name in enumerate(dataset.classes)
        ],
        "images": images,
        "annotations": annotations,
    }


def _candidate_files(folder: Path) -> list[Path]:
    return [file for file in find_files(folder, ".json") if first_char(file) == "{"]


def _is_coco(document: object) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("images"), list)
        and isinstance(document.get("annotations", []), list)
    )


def _check(file: Path, document: object) -> dict:
    if not _is_coco(document):
        raise FormatError(f"{file.name} is not a COCO file: it has no 'images' list")
    return document  # type: ignore[return-value]


def _categories(file: Path, document: dict) -> dict[int, str]:
    """Category id -> name, without Roboflow's unused supercategory placeholder."""
    categories = document.get("categories", [])
    if not isinstance(categories, list):
        raise FormatError(f"{file.name}: 'categories' is not a list")
    for position, category in enumerate(categories):
        if not (
            isinstance(category, dict)
            and isinstance(category.get("id"), int)
            and isinstance(category.get("name"), str)
        ):
            raise FormatError(f"{file.name}: category #{position + 1} has no integer id or name")
    annotations = document.get("annotations", [])
    used = {_key(a.get("category_id")) for a in annotations if isinstance(a, dict)}
    parents = {c.get("supercategory") for c in categories}
    return {
        category["id"]: category["name"]
        for category in sorted(categories, key=lambda c: c["id"])
        if category["id"] in used
        or category["name"] not in parents
        or category.get("supercategory") == category["name"]
    }


def _file_split(file: Path) -> Split | None:
    for word in [file.parent.name, *re.findall(r"[a-z]+", file.stem.lower())]:
        split = normalize_split(word)
        if split:
            return split
    return None


def _image_bases(file: Path, root: Path) -> list[Path]:
    """Where a COCO file's ``file_name`` may be relative to: beside it, its ``images/``,
    and as CVAT and datumaro lay it out (``annotations/instances_<subset>.json`` with
    ``images/<subset>/``, or ``images/default/``), for the file's folder, the folder above
    it and the dataset's."""
    subset = file.stem.removeprefix("instances_") if file.stem.startswith("instances_") else ""
    bases = []
    for folder in dict.fromkeys([file.parent, file.parent.parent, root]):
        if not folder.resolve().is_relative_to(root):
            continue
        bases += [folder, folder / "images"]
        if subset:  # COCO's own: annotations/instances_val2017.json with val2017/
            bases += [folder / "images" / subset, folder / subset]
        bases.append(folder / "images" / "default")
    return list(dict.fromkeys(bases))


def _read_document(
    builder: DatasetBuilder, file: Path, document: dict, names: dict[int, str], root: Path
) -> None:
    file_split = _file_split(file)
    bases = _image_bases(file, root)
    entries: dict[object, dict] = {}
    for position, entry in enumerate(document["images"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("file_name"), str)):
            builder.problem(
                ProblemKind.BAD_ENTRY, f"{file.name} image #{position + 1}", "no file_name"
            )
        elif _key(entry.get("id")) in entries:
            builder.problem(
                ProblemKind.BAD_ENTRY,
                entry["file_name"],
                f"image id {entry.get('id')!r} is used twice in {file.name}; second one ignored",
            )
        else:
            entries[_key(entry.get("id"))] = entry
    boxes: dict[object, list[RawBox]] = defaultdict(list)
    for annotation in document.get("annotations", []):
        box = _annotation_box(builder, file, annotation, entries, names)
        if box is not None:
            boxes[_key(annotation["image_id"])].append(box)
    for image_id, entry in entries.items():
        builder.add_image(
            entry["file_name"],
            bases=bases,
            width=_number(entry.get("width")),
            height=_number(entry.get("height")),
            split=normalize_split(entry.get("split")) or file_split,
            boxes=boxes.get(image_id, ()),
            no_objects=bool(entry.get("no_objects")),
        )


def _annotation_box(
    builder: DatasetBuilder,
    file: Path,
    annotation: object,
    entries: dict[object, dict],
    names: dict[int, str],
) -> RawBox | None:
    if not isinstance(annotation, dict):
        builder.problem(ProblemKind.BAD_ENTRY, file.name, "an annotation is not an object")
        return None
    entry = entries.get(_key(annotation.get("image_id")))
    if entry is None:
        builder.problem(
            ProblemKind.BAD_ENTRY,
            f"{file.name} annotation {annotation.get('id')!r}",
            f"refers to image id {annotation.get('image_id')!r}, which is not listed",
        )
        return None
    item = entry["file_name"]
    if annotation.get("iscrowd") or annotation.get("ignore"):
        kind = "crowd" if annotation.get("iscrowd") else "ignored"
        builder.problem(ProblemKind.SKIPPED, item, f"{kind} region {annotation.get('id')!r}")
        return None
    name = names.get(_key(annotation.get("category_id")))  # type: ignore[arg-type]
    if name is None:
        builder.problem(
            ProblemKind.UNKNOWN_CLASS,
            item,
            f"annotation {annotation.get('id')!r} has unknown category id "
            f"{annotation.get('category_id')!r}; dropped",
        )
        return None
    bbox = annotation.get("bbox")
    values = [_number(v) for v in bbox] if isinstance(bbox, list) else []
    if len(values) != 4 or None in values:
        builder.problem(
            ProblemKind.BAD_ENTRY,
            item,
            f"annotation {annotation.get('id')!r} has no [x, y, w, h] bbox; dropped",
        )
        return None
    x, y, w, h = values
    return (name, x, y, w, h)  # type: ignore[return-value]


def _key(value: object) -> int | str | None:
    """An id usable as a dict key (ids are integers, some tools write strings)."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
