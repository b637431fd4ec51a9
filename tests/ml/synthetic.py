"""Tiny synthetic detection data sets: coloured rectangles on noise.

Class "red" and class "blue" rectangles are easy enough that a few training steps
visibly learn them; every few images has no box at all (a valid background sample).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

COLOURS = {1: (220, 40, 40), 2: (40, 60, 220)}


def make_dataset(
    root: Path, *, count: int, size: int = 128, seed: int = 0, empty_every: int = 5
) -> tuple[Path, Path]:
    """Write ``count`` PNG images and a COCO file; every ``empty_every``-th image has no box."""
    rng = random.Random(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 1, "name": "red"}, {"id": 2, "name": "blue"}],
    }
    noise = np.random.default_rng(seed)
    for image_id in range(1, count + 1):
        pixels = noise.integers(90, 150, size=(size, size, 3), dtype=np.uint8)
        n_boxes = 0 if image_id % empty_every == 0 else rng.randint(1, 3)
        for _ in range(n_boxes):
            w, h = rng.randint(size // 6, size // 3), rng.randint(size // 6, size // 3)
            x, y = rng.randint(0, size - w - 1), rng.randint(0, size - h - 1)
            category = rng.choice([1, 2])
            pixels[y : y + h, x : x + w] = COLOURS[category]
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        name = f"img_{image_id:03d}.png"
        Image.fromarray(pixels).save(images_dir / name)
        coco["images"].append({"id": image_id, "file_name": name, "width": size, "height": size})
    coco_path = root / "coco.json"
    coco_path.write_text(json.dumps(coco))
    return coco_path, images_dir
