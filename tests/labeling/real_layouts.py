"""Real datasets laid out as other tools publish them, built in a test's tmp_path from BCCD.

    voc_as_supervision(tmp_path / "cells")  # annotations/*.xml + images/*.jpg
    coco_as_datumaro(tmp_path / "cells")    # annotations/instances_default.json + images/default/

The boxes and pixels are BCCD's own (../shared/datasets/bccd-voc); only the folders and
the XML around them change, as supervision's VOC exporter and datumaro/CVAT write them.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET  # noqa: S405 - writing XML; reading our own trusted copy
from pathlib import Path

from tests.conftest import DATASETS

BCCD = DATASETS / "bccd-voc" / "BCCD"
# BCCD's first images: 00338 and 00343 (its zero-area boxes) are not among them.
STEMS = [f"BloodImage_{n:05d}" for n in range(0, 12)]


def bccd_objects(stem: str) -> list[tuple[str, int, int, int, int]]:
    """(name, xmin, ymin, xmax, ymax) of one BCCD annotation, as its XML gives them."""
    root = ET.parse(BCCD / "Annotations" / f"{stem}.xml").getroot()  # noqa: S314 - our data
    return [
        (
            obj.findtext("name").strip(),
            *(
                int(float(obj.findtext(f"bndbox/{tag}")))
                for tag in ("xmin", "ymin", "xmax", "ymax")
            ),
        )
        for obj in root.iter("object")
    ]


def bccd_box_count(stems: list[str] = STEMS) -> int:
    return sum(len(bccd_objects(stem)) for stem in stems)


def voc_as_supervision(
    folder: Path, *, xml_dir: str = "annotations", image_dir: str | None = "images"
) -> Path:
    """BCCD as ``sv.DetectionDataset.as_pascal_voc`` writes it: ``<folder>VOC</folder>``,
    a bare ``<filename>``, a roboflow.ai source, 1-based corners. ``image_dir`` None puts
    the images beside the XML files."""
    (folder / xml_dir).mkdir(parents=True)
    images = folder / (image_dir or xml_dir)
    images.mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        shutil.copyfile(BCCD / "JPEGImages" / f"{stem}.jpg", images / f"{stem}.jpg")
        root = ET.Element("annotation")
        ET.SubElement(root, "folder").text = "VOC"
        ET.SubElement(root, "filename").text = f"{stem}.jpg"
        source = ET.SubElement(root, "source")
        ET.SubElement(source, "database").text = "roboflow.ai"
        size = ET.SubElement(root, "size")
        for tag, value in (("width", 640), ("height", 480), ("depth", 3)):
            ET.SubElement(size, tag).text = str(value)
        ET.SubElement(root, "segmented").text = "0"
        for name, *corners in bccd_objects(stem):
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = name
            bndbox = ET.SubElement(obj, "bndbox")
            for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
                ET.SubElement(bndbox, tag).text = str(value)
        tree = ET.ElementTree(root)
        ET.indent(tree)
        tree.write(folder / xml_dir / f"{stem}.xml", encoding="utf-8")
    return folder


def coco_as_datumaro(folder: Path, *, image_dir: str = "images/default") -> Path:
    """BCCD as datumaro and CVAT export COCO: ``annotations/instances_default.json`` with
    bare ``file_name``s, the images in ``images/default/``."""
    (folder / "annotations").mkdir(parents=True)
    (folder / image_dir).mkdir(parents=True)
    names = ["RBC", "WBC", "Platelets"]
    images, annotations = [], []
    for image_id, stem in enumerate(STEMS, start=1):
        shutil.copyfile(BCCD / "JPEGImages" / f"{stem}.jpg", folder / image_dir / f"{stem}.jpg")
        images.append({"id": image_id, "file_name": f"{stem}.jpg", "width": 640, "height": 480})
        for name, xmin, ymin, xmax, ymax in bccd_objects(stem):
            w, h = xmax - xmin + 1, ymax - ymin + 1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": names.index(name) + 1,
                    "bbox": [xmin - 1, ymin - 1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                    "segmentation": [],
                    "attributes": {"occluded": False},
                }
            )
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "version": ""},
        "categories": [
            {"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(names)
        ],
        "images": images,
        "annotations": annotations,
    }
    (folder / "annotations" / "instances_default.json").write_text(json.dumps(document))
    return folder
