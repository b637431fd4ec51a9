"""The benchmark's second data set: the rabbit photos of a Roboflow COCO export.

``../shared/datasets/rabbit-roboflow/train/_annotations.coco.json`` lists 400 images
of which 197 JPEGs are present, one class ("rabbit"; category 0, "z", is Roboflow's
placeholder supercategory with no boxes). Its train/val/test split is fixed: the file
names of each split are committed in ``bench_data/rabbit-split.json``, written once by
:func:`write_rabbit_split` (a seeded shuffle of the present files, 70/15/15)::

    python -c "from training.ml.bench_datasets import write_rabbit_split; \\
        write_rabbit_split('../shared/datasets/rabbit-roboflow')"

Standard library only: ``bench_peer.py`` imports it in the peer's own venv too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

RABBIT_SPLIT = Path(__file__).resolve().parent / "bench_data" / "rabbit-split.json"
RABBIT_SEED = 19
RABBIT_FRACTIONS = {"val": 0.15, "test": 0.15}  # the rest is train
SPLITS = ("train", "val", "test")


def rabbit_images_dir(root: str | Path) -> Path:
    """The folder of the export's images (and of its COCO file)."""
    return Path(root) / "train"


def rabbit_split(root: str | Path, seed: int = RABBIT_SEED) -> dict[str, list[str]]:
    """File names per split: the present JPEGs, sorted, shuffled with ``seed``."""
    present = sorted(p.name for p in rabbit_images_dir(root).glob("*.jpg"))
    if not present:
        raise FileNotFoundError(f"no rabbit photos in {rabbit_images_dir(root)}")
    random.Random(seed).shuffle(present)
    n_val, n_test = (round(len(present) * RABBIT_FRACTIONS[s]) for s in ("val", "test"))
    return {
        "train": sorted(present[n_val + n_test :]),
        "val": sorted(present[:n_val]),
        "test": sorted(present[n_val : n_val + n_test]),
    }


def write_rabbit_split(root: str | Path, path: Path = RABBIT_SPLIT) -> Path:
    """Write :func:`rabbit_split` to ``path`` (done once; the file is committed)."""
    split = rabbit_split(root)
    document = {"source": "rabbit-roboflow/train", "seed": RABBIT_SEED, **split}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def rabbit_coco(root: str | Path, split: str, split_file: Path = RABBIT_SPLIT) -> dict[str, Any]:
    """The COCO dict of one split of the committed split file: its images (``file_name``
    relative to :func:`rabbit_images_dir`), their boxes, and the categories without
    Roboflow's placeholder (a category that is another's supercategory and has no box)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    names = set(json.loads(split_file.read_text())[split])
    coco_file = rabbit_images_dir(root) / "_annotations.coco.json"
    document = json.loads(coco_file.read_text())
    images = sorted(
        (im for im in document["images"] if im["file_name"] in names),
        key=lambda im: im["file_name"],
    )
    missing = names - {im["file_name"] for im in images}
    missing |= {n for n in names if not (rabbit_images_dir(root) / n).is_file()}
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} {split} images not in {coco_file}, e.g. {min(missing)}"
        )
    # Ids from 1 (the export's start at 0, which pycocotools takes for "no match").
    image_ids = {im["id"]: i for i, im in enumerate(images, start=1)}
    used = {a["category_id"] for a in document["annotations"]}
    parents = {c.get("supercategory") for c in document["categories"]}
    annotations = [a for a in document["annotations"] if a["image_id"] in image_ids]
    return {
        "images": [{**im, "id": image_ids[im["id"]]} for im in images],
        "annotations": [
            {**a, "id": i, "image_id": image_ids[a["image_id"]]}
            for i, a in enumerate(annotations, start=1)
        ],
        "categories": [
            {"id": c["id"], "name": c["name"]}
            for c in document["categories"]
            if c["id"] in used or c["name"] not in parents
        ],
    }
