"""Importing labeled datasets (real ones too) and exporting them: atomic, idempotent, lossless."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling import ingest
from labeling.dataset_export import export_zip_file, export_zip_stream
from labeling.dataset_import import DatasetImportFailed, dataset_import
from labeling.models import Annotation, Category, DatasetImport, Image, Project
from tests.conftest import DATASETS
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.django_db


def _boxes(project) -> Counter:
    return Counter(
        Annotation.objects.filter(image__project=project).values_list("category__name", flat=True)
    )


def test_bccd_voc_import_and_rerun(make_user, tmp_path):
    make_user("admin", is_superuser=True, is_staff=True)
    out = io.StringIO()
    report = tmp_path / "report.json"
    call_command(
        "import_dataset", str(DATASETS / "bccd-voc"), "--project", "BCCD",
        "--report", str(report), stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    project = Project.objects.get(name="BCCD")
    assert project.memberships.get().user.username == "admin"
    assert project.images.count() == 364
    assert Annotation.objects.filter(image__project=project).count() == 4886
    assert _boxes(project) == {"RBC": 4153, "WBC": 372, "Platelets": 361}
    splits = Counter(project.images.values_list("split", flat=True))
    assert splits == {"train": 205, "val": 87, "test": 72}
    record = DatasetImport.objects.get(project=project)
    assert record.report["summary"] == {"box_degenerate": 2}
    items = {p["item"] for p in record.report["problems"]}
    assert any("BloodImage_00338" in item for item in items)
    assert json.loads(report.read_text())["summary"] == {"box_degenerate": 2}
    assert set(project.images.values_list("status", flat=True)) == {"labeled"}
    assert "364 images added" in out.getvalue()
    # The same import again adds nothing.
    again = dataset_import(project=project, path=DATASETS / "bccd-voc")
    assert (again.images_added, again.boxes_added, again.images_skipped) == (0, 0, 364)
    assert project.images.count() == 364
    assert Annotation.objects.filter(image__project=project).count() == 4886


def test_rabbit_roboflow_coco_names_the_missing_files(project_team):
    project = project_team["project"]
    record = dataset_import(project=project, path=DATASETS / "rabbit-roboflow", format="coco")
    assert record.images_added == 197
    assert record.format == "coco"
    missing = [p for p in record.report["problems"] if p["kind"] == "missing_image"]
    assert len(missing) == 203
    assert all(p["item"].endswith(".jpg") for p in missing)
    assert list(Category.objects.filter(project=project).values_list("name", flat=True)) == [
        "rabbit"
    ]


def test_a_fatal_error_keeps_nothing(project_team, tmp_path):
    project = project_team["project"]
    broken = tmp_path / "annotations.json"
    broken.write_text("{ not json")
    with pytest.raises(DatasetImportFailed, match="not valid JSON") as failure:
        dataset_import(project=project, path=broken)
    assert failure.value.record.status == "failed"
    assert "not valid JSON" in failure.value.record.error
    assert not Image.objects.filter(project=project).exists()
    with pytest.raises(CommandError, match="nothing was kept"):
        call_command("import_dataset", str(broken), "--project", "Cells")


def test_a_database_error_midway_keeps_nothing(project_team, tmp_path, monkeypatch):
    project = project_team["project"]
    _coco_folder(tmp_path / "data")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("labeling.dataset_import._insert_boxes", explode)
    with pytest.raises(DatasetImportFailed, match="disk full"):
        dataset_import(project=project, path=tmp_path / "data")
    assert not Image.objects.filter(project=project).exists()
    assert not Category.objects.filter(project=project).exists()
    media = Path(settings.MEDIA_ROOT) / "projects" / str(project.pk)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def _coco_folder(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.png").write_bytes(image_bytes("PNG", (64, 48), (1, 2, 3)))
    (folder / "images" / "b.jpg").write_bytes(image_bytes("JPEG", (50, 40), (9, 8, 7)))
    document = {
        "images": [
            {"id": 1, "file_name": "images/a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "images/b.jpg", "width": 50, "height": 40},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [40, 30, 20, 20]},  # clipped
            {"id": 3, "image_id": 2, "category_id": 9, "bbox": [1, 1, 5, 5]},  # unknown class
        ],
    }
    (folder / "annotations.json").write_text(json.dumps(document))
    return folder


def test_labels_imported_after_the_images(project_team, tmp_path):
    """Images uploaded first, their labels imported later: the boxes land on them."""
    project = project_team["project"]
    folder = _coco_folder(tmp_path / "data")
    ingest.images_ingest(
        project=project, sources=[ingest.Source("a.png", folder / "images" / "a.png")]
    )
    record = dataset_import(project=project, path=folder)
    assert (record.images_added, record.images_updated) == (1, 1)
    a = Image.objects.get(project=project, original_name="a.png")
    assert a.status == "labeled" and a.annotation_version == 1
    assert list(a.annotations.values_list("x", "y", "w", "h")) == [(1, 2, 10, 10)]
    b = Image.objects.get(project=project, original_name="b.jpg")
    assert list(b.annotations.values_list("x", "y", "w", "h")) == [(40, 30, 10, 10)]
    assert record.report["summary"] == {"box_clipped": 1, "unknown_class": 1}


def _project_state(project) -> dict:
    names = {}
    for image in Image.objects.filter(project=project):
        boxes = sorted(
            (a.category.name, a.x, a.y, a.w, a.h)
            for a in image.annotations.select_related("category")
        )
        names[image.sha256] = (image.width, image.height, image.split, image.no_objects, boxes)
    return names


@pytest.fixture
def labeled_project(project_team):
    project = project_team["project"]
    files = {
        "a.png": image_bytes("PNG", (64, 48), (10, 20, 30)),
        "b.jpg": image_bytes("JPEG", (80, 60), (200, 10, 10)),
        "c.tiff": image_bytes("TIFF", (32, 32), (5, 200, 5)),
        "empty.png": image_bytes("PNG", (20, 20), (1, 1, 1)),
    }
    results = ingest.images_ingest(
        project=project, sources=[ingest.Source(n, io.BytesIO(d)) for n, d in files.items()]
    )
    ids = {r.name: r.image_id for r in results}
    cat = Category.objects.create(project=project, name="cat", order=0)
    dog = Category.objects.create(project=project, name="dog", order=1)
    boxes = [
        ("a.png", cat, 0, 0, 64, 48),
        ("a.png", dog, 10, 5, 20, 30),
        ("b.jpg", dog, 3, 4, 17, 9),
        ("c.tiff", cat, 30, 30, 2, 2),
    ]
    Annotation.objects.bulk_create(
        Annotation(image_id=ids[n], category=c, x=x, y=y, w=w, h=h, area=w * h)
        for n, c, x, y, w, h in boxes
    )
    Image.objects.filter(pk__in=[ids["a.png"], ids["b.jpg"], ids["c.tiff"]]).update(
        status="labeled"
    )
    Image.objects.filter(pk=ids["empty.png"]).update(status="labeled", no_objects=True)
    for split, name in (("train", "a.png"), ("val", "b.jpg"), ("test", "c.tiff")):
        Image.objects.filter(pk=ids[name]).update(split=split)
    return project


@pytest.mark.parametrize(
    ("format", "tolerance"),
    [("coco", 0), ("voc", 0), ("yolo", 0.5), ("automl-csv", 0.5), ("labelstudio", 0.5)],
)
def test_round_trip_into_a_new_project(labeled_project, make_user, tmp_path, format, tolerance):
    zip_path = tmp_path / f"export-{format}.zip"
    export_zip_file(project=labeled_project, format=format, path=zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
    copy = Project.objects.create(name=f"copy {format}")
    record = dataset_import(project=copy, path=zip_path)
    assert record.format == format
    assert record.report["problems"] == []
    before, after = _project_state(labeled_project), _project_state(copy)
    assert set(after) == set(before)  # the same pixels, byte for byte
    for sha, (w, h, split, no_objects, boxes) in before.items():
        w2, h2, split2, no_objects2, boxes2 = after[sha]
        assert (w2, h2, split2) == (w, h, split)
        if format in ("coco", "labelstudio", "automl-csv", "yolo"):
            assert no_objects2 == no_objects
        assert [b[0] for b in boxes2] == [b[0] for b in boxes]
        for old, new in zip(boxes, boxes2, strict=True):
            assert all(abs(p - q) <= tolerance for p, q in zip(old[1:], new[1:], strict=True))
    classes = set(Category.objects.filter(project=copy).values_list("name", flat=True))
    assert classes == {"cat", "dog"}


def test_export_is_streamed_in_pieces(labeled_project, tmp_path):
    pieces = list(export_zip_stream(project=labeled_project, format="coco"))
    assert len(pieces) > 3
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    names = archive.namelist()
    assert "annotations/instances_train.json" in names
    assert "images/test/c.png" in names  # the TIFF was stored as PNG, and is exported so
    document = json.loads(archive.read("annotations/instances_train.json"))
    assert [c["id"] for c in document["categories"]] == [1, 2]
    from pycocotools.coco import COCO

    count = 0
    for split in ("train", "val", "test"):
        path = tmp_path / f"{split}.json"
        path.write_bytes(archive.read(f"annotations/instances_{split}.json"))
        count += len(COCO(str(path)).getAnnIds())
    assert count == 4


def test_export_command(labeled_project, tmp_path):
    out = tmp_path / "cells.zip"
    call_command(
        "export_dataset", "--project", "Cells", "--format", "yolo", "--out", str(out),
        stdout=io.StringIO(),
    )  # fmt: skip
    assert zipfile.ZipFile(out).testzip() is None
    with pytest.raises(CommandError, match="exists already"):
        call_command("export_dataset", "--project", "Cells", "--format", "yolo", "--out", str(out))


def test_exif_rotated_image_keeps_its_boxes_on_the_shown_pixels(project_team, tmp_path):
    """COCO boxes refer to the image as shown (EXIF applied); so do the stored pixels."""
    from PIL import Image as PILImage

    folder = tmp_path / "data"
    folder.mkdir()
    picture = PILImage.new("RGB", (60, 30), (0, 0, 255))  # stored 60 wide, 30 high
    exif = PILImage.Exif()
    exif[0x0112] = 6  # shown turned: 30 wide, 60 high
    picture.save(folder / "phone.jpg", exif=exif.tobytes())
    document = {
        "images": [{"id": 1, "file_name": "phone.jpg", "width": 30, "height": 60}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 40, 20, 15]}],
    }
    (folder / "annotations.json").write_text(json.dumps(document))
    record = dataset_import(project=project_team["project"], path=folder)
    assert record.report["problems"] == []
    image = Image.objects.get(project=project_team["project"])
    assert (image.width, image.height) == (30, 60)
    assert list(image.annotations.values_list("x", "y", "w", "h")) == [(2, 40, 20, 15)]
    from django.core.files.storage import default_storage

    with default_storage.open(image.file.name, "rb") as handle:
        assert PILImage.open(handle).size == (30, 60)
