"""Imports of datasets laid out as public repositories and other tools publish them.

Each layout is built from real BCCD files in tmp_path (tests/labeling/real_layouts.py):
supervision's lowercase VOC folders, the XML folder given alone, datumaro's and CVAT's
COCO tree, and a JPEG cut short.
"""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling import formats, ingest
from labeling.dataset_import import DatasetImportFailed, dataset_import
from labeling.models import Annotation, Category, DatasetImport, Image, Project
from tests.labeling.real_layouts import (
    BCCD,
    STEMS,
    bccd_box_count,
    bccd_objects,
    coco_as_datumaro,
    voc_as_supervision,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("xml_dir", "image_dir"),
    [
        ("annotations", "images"),  # supervision's as_pascal_voc
        ("annots", "images"),
        ("Labels", "JPEGImages"),
        ("xml", "imgs"),
        ("Annotations", None),  # the images beside the XML
    ],
)
def test_voc_folders_are_found_by_content(tmp_path, xml_dir, image_dir):
    folder = voc_as_supervision(tmp_path / "cells", xml_dir=xml_dir, image_dir=image_dir)
    (folder / "README.md").write_text("BCCD, as published\n")  # no single folder to step into
    assert formats.detect_format(folder) == "voc"
    for format in ("auto", "voc"):
        dataset = formats.read(folder, format)
        assert sorted(image.name for image in dataset.images) == [f"{s}.jpg" for s in STEMS]
        assert dataset.box_count == bccd_box_count()
        assert len(dataset.report) == 0, dataset.report.problems
        assert dataset.report.layout == [
            f"annotations: {xml_dir}/ ({len(STEMS)} XML files)",
            f"images: {image_dir or xml_dir}/ ({len(STEMS)})",
        ]


def test_supervision_voc_imports_with_its_boxes_and_says_which_folders(make_user, tmp_path):
    make_user("admin", is_superuser=True)
    folder = voc_as_supervision(tmp_path / "cells")
    out = io.StringIO()
    call_command(
        "import_dataset", str(folder), "--project", "BCCD", stdout=out, stderr=io.StringIO()
    )
    project = Project.objects.get(name="BCCD")
    assert project.images.count() == len(STEMS)
    assert Annotation.objects.filter(image__project=project).count() == bccd_box_count()
    # VOC corners are 1-based: xmin=1 is the first pixel column, x = 0.
    image = project.images.get(original_name=f"{STEMS[0]}.jpg")
    name, xmin, ymin, xmax, ymax = bccd_objects(STEMS[0])[0]
    assert image.annotations.filter(
        category__name=name, x=xmin - 1, y=ymin - 1, w=xmax - xmin + 1, h=ymax - ymin + 1
    ).exists()
    assert "Used annotations: annotations/ (12 XML files)" in out.getvalue()
    assert "Used images: images/ (12)" in out.getvalue()
    record = DatasetImport.objects.get(project=project)
    assert record.report["layout"] == [
        "annotations: annotations/ (12 XML files)",
        "images: images/ (12)",
    ]


def test_the_xml_folder_alone_fails_and_says_where_it_looked(project_team, tmp_path):
    project = project_team["project"]
    folder = voc_as_supervision(tmp_path / "cells")
    with pytest.raises(DatasetImportFailed) as failure:
        dataset_import(project=project, path=folder / "annotations", source_name="annotations")
    message = str(failure.value)
    assert f"none of the {len(STEMS)} images that the annotations name was found" in message
    assert "looked for them in ./ (inside annotations)" in message
    record = failure.value.record
    assert record.status == DatasetImport.Status.FAILED
    assert record.error == message
    assert record.report["summary"] == {"missing_image": len(STEMS)}
    assert not Image.objects.filter(project=project).exists()
    assert not Category.objects.filter(project=project).exists()


def test_a_failed_cli_import_exits_non_zero_and_leaves_no_project(make_user, tmp_path):
    make_user("admin", is_superuser=True)
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command(
            "import_dataset", str(broken), "--project", "New",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert not Project.objects.filter(name="New").exists()
    folder = voc_as_supervision(tmp_path / "cells")
    err = io.StringIO()
    with pytest.raises(CommandError, match="looked for them in ./"):
        call_command(
            "import_dataset", str(folder / "annotations"), "--project", "New",
            stdout=io.StringIO(), stderr=err,
        )  # fmt: skip
    assert not Project.objects.filter(name="New").exists()
    assert not DatasetImport.objects.exists()
    assert "Removed the project 'New'" in err.getvalue()
    # A project that existed before the import is left as it was.
    existing = Project.objects.create(name="Old")
    with pytest.raises(CommandError):
        call_command(
            "import_dataset", str(folder / "annotations"), "--project", "Old",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert Project.objects.filter(pk=existing.pk).exists()
    assert DatasetImport.objects.get(project=existing).status == DatasetImport.Status.FAILED


@pytest.mark.parametrize("image_dir", ["images/default", "images"])
def test_coco_as_datumaro_and_cvat_lay_it_out(project_team, tmp_path, image_dir):
    project = project_team["project"]
    folder = coco_as_datumaro(tmp_path / "cells", image_dir=image_dir)
    record = dataset_import(project=project, path=folder)
    assert (record.status, record.format) == ("succeeded", "coco")
    assert record.images_added == len(STEMS)
    assert record.boxes_added == bccd_box_count()
    assert record.report["problems"] == []
    assert record.report["layout"] == [
        f"annotations: annotations/instances_default.json ({len(STEMS)} images)",
        f"images: {image_dir}/ ({len(STEMS)})",
    ]


def test_coco_that_finds_none_of_its_images_fails_and_creates_nothing(project_team, tmp_path):
    project = project_team["project"]
    folder = coco_as_datumaro(tmp_path / "cells")
    shutil.rmtree(folder / "images" / "default")
    with pytest.raises(DatasetImportFailed, match="none of the 12 images") as failure:
        dataset_import(project=project, path=folder)
    assert "looked for them in annotations/, ./, images/ (inside cells)" in str(failure.value)
    assert failure.value.record.status == DatasetImport.Status.FAILED
    assert not Category.objects.filter(project=project).exists()
    assert not Image.objects.filter(project=project).exists()


def test_an_import_whose_every_image_is_refused_fails(project_team, tmp_path):
    project = project_team["project"]
    folder = voc_as_supervision(tmp_path / "cells")
    for stem in STEMS:
        (folder / "images" / f"{stem}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    with pytest.raises(DatasetImportFailed, match="none of the 12 images found could be"):
        dataset_import(project=project, path=folder)
    assert not Category.objects.filter(project=project).exists()


def test_a_truncated_jpeg_is_kept_with_its_boxes_and_reported(project_team, tmp_path):
    project = project_team["project"]
    folder = voc_as_supervision(tmp_path / "cells")
    cut, lost = folder / "images" / f"{STEMS[0]}.jpg", folder / "images" / f"{STEMS[1]}.jpg"
    data = cut.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.95)])  # a download cut short
    lost.write_bytes(lost.read_bytes()[:4000])  # too little of it left to train on
    record = dataset_import(project=project, path=folder)
    truncated = [p for p in record.report["problems"] if p["kind"] == "truncated_image"]
    assert [p["item"] for p in truncated] == [f"images/{STEMS[0]}.jpg"]
    assert truncated[0]["message"].startswith("truncated, kept:")
    refused = [p for p in record.report["problems"] if p["kind"] == "unreadable_image"]
    assert [p["item"] for p in refused] == [f"images/{STEMS[1]}.jpg"]
    assert "truncated" in refused[0]["message"]
    image = Image.objects.get(project=project, original_name=f"{STEMS[0]}.jpg")
    assert (image.width, image.height, image.format) == (640, 480, "jpeg")
    assert image.annotations.count() == len(bccd_objects(STEMS[0]))
    # What is stored is a complete JPEG: every decoder (training's too) reads it strictly.
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    with default_storage.open(image.file.name, "rb") as handle:
        PILImage.open(handle).load()
    assert record.images_added == len(STEMS) - 1


def test_a_truncated_jpeg_upload_is_kept_with_a_note(project_team):
    data = (BCCD / "JPEGImages" / f"{STEMS[2]}.jpg").read_bytes()
    results = ingest.images_ingest(
        project=project_team["project"],
        sources=[ingest.Source("cut.jpg", io.BytesIO(data[: int(len(data) * 0.95)]))],
    )
    assert [(r.status, r.reason.split(":")[0]) for r in results] == [("added", "truncated, kept")]
