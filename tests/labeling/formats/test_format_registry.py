from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.formats import (
    FORMATS,
    Dataset,
    FormatError,
    ImageRecord,
    ProblemKind,
    detect_format,
    read,
    write,
)
from labeling.formats.paths import UnsafePathError, reference_parts


def test_the_converters_do_not_import_django():
    code = "import sys, labeling.formats; assert 'django' not in sys.modules"
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_the_five_formats_are_registered():
    assert sorted(FORMATS) == ["automl-csv", "coco", "labelstudio", "voc", "yolo"]


def test_detects_the_real_datasets(bccd: Path, rabbit: Path):
    assert detect_format(bccd) == "voc"
    assert detect_format(bccd / "BCCD" / "Annotations" / "BloodImage_00000.xml") == "voc"
    assert detect_format(rabbit) == "coco"
    assert detect_format(rabbit / "train" / "_annotations.coco.json") == "coco"


def test_an_extracted_zip_with_one_top_folder_is_stepped_into(sample_dataset, tmp_path):
    write(sample_dataset, tmp_path / "export", "yolo")
    extracted = tmp_path / "extracted"
    shutil.copytree(tmp_path / "export", extracted / "my-dataset")
    (extracted / "__MACOSX").mkdir()

    assert detect_format(extracted) == "yolo"
    assert len(read(extracted).images) == 5


def test_unknown_things_fail_with_a_clear_message(tmp_path, sample_dataset):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FormatError, match="cannot tell the format"):
        detect_format(tmp_path)
    with pytest.raises(FormatError, match="unknown format 'pdf'; known formats: coco"):
        read(tmp_path, format="pdf")
    with pytest.raises(FormatError, match="does not exist"):
        read(tmp_path / "nothing")
    with pytest.raises(FormatError, match="is not empty"):
        write(sample_dataset, tmp_path, "coco")


def test_images_without_local_pixels_are_left_for_the_caller(tmp_path):
    image = ImageRecord("stored/photo.jpg", None, 64, 48, "train")
    dataset = Dataset(classes=["cat"], images=[image])

    destinations = write(dataset, tmp_path / "out", "coco")

    assert destinations == [tmp_path / "out" / "images" / "train" / "photo.jpg"]
    assert not destinations[0].exists()


def test_clashing_names_are_made_unique(tmp_path, make_image):
    images = [
        ImageRecord(name, make_image(tmp_path / "src" / name.replace("/", "_")), 64, 48)
        for name in ("x/a.jpg", "y/a.jpg", "A.png")
    ]
    destinations = write(Dataset(["cat"], images), tmp_path / "out", "yolo")
    assert [d.name for d in destinations] == ["a.jpg", "a-2.jpg", "A-3.png"]


def test_unreadable_and_duplicate_images_are_reported(tmp_path, make_image):
    make_image(tmp_path / "good.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "classes.txt").write_text("cat\n")
    (tmp_path / "good.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    dataset = read(tmp_path)
    assert [i.name for i in dataset.images] == ["good.jpg"]
    assert dataset.report.items(ProblemKind.UNREADABLE_IMAGE) == ["broken.jpg"]

    entry = {"file_name": "good.jpg", "width": 64, "height": 48}
    document = {
        "images": [{"id": 1, **entry}, {"id": 2, **entry}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [3, 3, 2, 2]},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(document))
    dataset = read(tmp_path / "coco.json")
    assert len(dataset.images) == 1
    assert len(dataset.images[0].boxes) == 2
    assert dataset.report.to_dict() == {
        "summary": {"duplicate_image": 1},
        "layout": ["annotations: coco.json (2 images)", "images: ./ (1)"],
        "problems": [
            {
                "kind": "duplicate_image",
                "item": "good.jpg",
                "message": "image listed more than once; its boxes were merged",
            }
        ],
    }


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("a.jpg", ("a.jpg",)),
        ("images\\train\\a.jpg", ("images", "train", "a.jpg")),
        ("gs://bucket/folder/a.jpg", ("folder", "a.jpg")),
        ("https://host/x/a%20b.jpg?token=1", ("x", "a b.jpg")),
        ("/data/local-files/?d=folder/a.jpg", ("folder", "a.jpg")),
        ("/data/upload/3/a.jpg", ("data", "upload", "3", "a.jpg")),
        ("C:\\Users\\me\\a.jpg", ("Users", "me", "a.jpg")),
    ],
)
def test_reference_parts(reference, parts):
    assert reference_parts(reference)[0] == parts


@pytest.mark.parametrize("reference", ["../a.jpg", "x/../../etc/passwd", "gs://b/../a.jpg"])
def test_references_going_up_are_refused(reference):
    with pytest.raises(UnsafePathError, match="outside the dataset folder"):
        reference_parts(reference)
