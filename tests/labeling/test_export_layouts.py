"""Exports other tools read: datumaro's COCO importer, labeled images only, 0644 entries.

datumaro runs in a venv of its own (created once under the user's cache folder, reused
by later runs), so its pins never touch the studio's.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - reading our own export
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labeling import ingest
from labeling.dataset_export import ExportOptions, export_zip_file
from labeling.dataset_import import dataset_import
from labeling.models import Annotation, Category, Image, Project
from tests.labeling.imagefiles import image_bytes
from tests.labeling.real_layouts import BCCD, STEMS

pytestmark = pytest.mark.django_db

DATUMARO = "datumaro==1.13.12"


@pytest.fixture(scope="session")
def datumaro_python() -> Path:
    """The python of a venv holding datumaro; skipped, loudly, if pip cannot install it."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "detection-studio"
    venv = cache / DATUMARO.replace("==", "-")
    python, ready = venv / "bin" / "python", venv / ".ready"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "datumaro.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            try:
                result = subprocess.run(
                    [*install, "--timeout", "60", DATUMARO],
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                failure = result.stderr[-800:] if result.returncode else ""
            except subprocess.TimeoutExpired:
                failure = "pip ran past 15 minutes"
            if failure:
                shutil.rmtree(venv, ignore_errors=True)
                pytest.skip(
                    f"!!! SKIPPED: pip could not install {DATUMARO} ({failure}); the COCO export "
                    "was NOT checked against datumaro's importer !!!"
                )
            ready.write_text(DATUMARO + "\n")
    return python


@pytest.fixture
def cells(project_team) -> Project:
    """Three BCCD images with boxes (train, val, test), one marked 'no objects' and one
    not labeled yet."""
    project = project_team["project"]
    sources = [
        ingest.Source(f"{stem}.jpg", BCCD / "JPEGImages" / f"{stem}.jpg") for stem in STEMS[:3]
    ]
    sources += [
        ingest.Source("empty.png", io.BytesIO(image_bytes("PNG", (40, 30), (1, 1, 1)))),
        ingest.Source("todo.png", io.BytesIO(image_bytes("PNG", (40, 30), (9, 9, 9)))),
    ]
    ids = {r.name: r.image_id for r in ingest.images_ingest(project=project, sources=sources)}
    rbc = Category.objects.create(project=project, name="RBC", order=0)
    wbc = Category.objects.create(project=project, name="WBC", order=1)
    boxes = [
        (STEMS[0], rbc, 0, 0, 640, 480),  # the whole image: VOC 1..640, 1..480
        (STEMS[0], wbc, 10.5, 20.25, 100, 50),
        (STEMS[1], rbc, 3, 4, 17, 9),
        (STEMS[2], wbc, 600, 400, 40, 80),
    ]
    Annotation.objects.bulk_create(
        Annotation(image_id=ids[f"{n}.jpg"], category=c, x=x, y=y, w=w, h=h, area=w * h)
        for n, c, x, y, w, h in boxes
    )
    for split, stem in zip(("train", "val", "test"), STEMS, strict=False):
        Image.objects.filter(pk=ids[f"{stem}.jpg"]).update(status="labeled", split=split)
    Image.objects.filter(pk=ids["empty.png"]).update(
        status="labeled", no_objects=True, split="train"
    )
    Image.objects.filter(pk=ids["todo.png"]).update(split="val")
    return project


def _unzip(zip_path: Path, out: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(out)
    return out


def test_datumaro_reads_the_coco_export(cells, tmp_path, datumaro_python):
    zip_path = tmp_path / "cells-coco.zip"
    export_zip_file(project=cells, format="coco", path=zip_path)
    folder = _unzip(zip_path, tmp_path / "export")
    script = (
        "import json, sys, datumaro as dm\n"
        "ds = dm.Dataset.import_from(sys.argv[1], 'coco_instances')\n"
        "labels = ds.categories()[dm.AnnotationType.label]\n"
        "print(json.dumps(sorted([item.subset, item.media.path.rsplit('/', 1)[-1],\n"
        "    list(item.media.size), sorted([labels[a.label].name, *a.get_bbox()]\n"
        "    for a in item.annotations)] for item in ds)))\n"
    )
    result = subprocess.run(
        [datumaro_python, "-c", script, str(folder)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = json.loads(result.stdout.strip().splitlines()[-1])
    assert items == [
        ["test", f"{STEMS[2]}.jpg", [480, 640], [["WBC", 600, 400, 40, 80]]],
        [
            "train",
            f"{STEMS[0]}.jpg",
            [480, 640],
            [["RBC", 0, 0, 640, 480], ["WBC", 10.5, 20.25, 100, 50]],
        ],
        ["train", "empty.png", [30, 40], []],
        ["val", f"{STEMS[1]}.jpg", [480, 640], [["RBC", 3, 4, 17, 9]]],
    ]


def _names(archive: zipfile.ZipFile) -> set[str]:
    return {Path(name).name for name in archive.namelist() if not name.endswith("/")}


@pytest.mark.parametrize("format", ["coco", "voc", "yolo", "automl-csv", "labelstudio"])
def test_only_labeled_images_are_exported_unless_asked(cells, tmp_path, format):
    labeled = tmp_path / "labeled.zip"
    export_zip_file(project=cells, format=format, path=labeled)
    names = _names(zipfile.ZipFile(labeled))
    assert "empty.png" in names  # marked "no objects": a negative, exported
    assert "todo.png" not in names  # not labeled yet: left out
    every = tmp_path / "all.zip"
    export_zip_file(
        project=cells, format=format, path=every, options=ExportOptions(include_unlabeled=True)
    )
    assert "todo.png" in _names(zipfile.ZipFile(every))
    # Re-imported, the default export holds the negative and no unlabeled image.
    copy = Project.objects.create(name=f"copy {format}")
    record = dataset_import(project=copy, path=labeled)
    assert record.report["problems"] == []
    assert set(copy.images.values_list("original_name", "status")) == {
        (f"{stem}.jpg", "labeled") for stem in STEMS[:3]
    } | {("empty.png", "labeled")}
    assert copy.images.get(original_name="empty.png").no_objects


def test_zip_entries_extract_as_0644_files_in_0755_folders(cells, tmp_path):
    zip_path = tmp_path / "cells-voc.zip"
    export_zip_file(project=cells, format="voc", path=zip_path)
    out = tmp_path / "unzipped"
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-q", str(zip_path), "-d", str(out)], check=True, timeout=60)
    else:  # what unzip does with the modes, done by hand
        for info in zipfile.ZipFile(zip_path).infolist():
            target = out / info.filename
            target.mkdir(parents=True, exist_ok=True) if info.is_dir() else target.touch()
            target.chmod((info.external_attr >> 16) & 0o777)
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in out.rglob("*")}
    assert modes["Annotations"] == modes["JPEGImages"] == 0o755
    assert modes[f"JPEGImages/{STEMS[0]}.jpg"] == modes["labelmap.txt"] == 0o644
    assert {m for p, m in modes.items() if (out / p).is_file()} == {0o644}
    assert {m for p, m in modes.items() if (out / p).is_dir()} == {0o755}


def test_voc_corners_are_one_based_both_ways(cells, tmp_path):
    zip_path = tmp_path / "cells-voc.zip"
    export_zip_file(project=cells, format="voc", path=zip_path)
    xml = zipfile.ZipFile(zip_path).read(f"Annotations/{STEMS[0]}.xml")
    root = ET.fromstring(xml)  # noqa: S314 - our own export
    corners = [
        [int(obj.findtext(f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax")]
        for obj in root.iter("object")
    ]
    assert corners[0] == [1, 1, 640, 480]  # the whole 640x480 image, as the VOC devkit says
    copy = Project.objects.create(name="copy")
    dataset_import(project=copy, path=zip_path)
    image = copy.images.get(original_name=f"{STEMS[0]}.jpg")
    assert (0, 0, 640, 480) in set(image.annotations.values_list("x", "y", "w", "h"))


def test_export_options_through_the_api_and_the_command(cells, project_team, api_client_for):
    client = api_client_for(project_team["users"]["viewer"])
    url = reverse("api-project-export", args=[cells.pk, "coco"])
    single = client.get(url, {"layout": "single", "images": "all"})
    assert single.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(single.streaming_content)))
    files = sorted(n for n in archive.namelist() if not n.endswith("/"))
    assert files[0] == "annotations.json" and "images/todo.png" in files
    for query, field in (({"images": "some"}, "images"), ({"layout": "flat"}, "layout")):
        response = client.get(url, query)
        assert response.status_code == 400
        assert response.json()["detail"].startswith(f"{field}: ")
        assert field in response.json()["errors"]
    voc = client.get(reverse("api-project-export", args=[cells.pk, "voc"]), {"layout": "single"})
    assert voc.status_code == 400
    assert voc.json()["detail"] == "layout: Only a COCO export has a layout to choose."
    out = Path(cells.name + ".zip")
    with pytest.raises(CommandError, match="--single-file applies to a COCO export only"):
        call_command(
            "export_dataset", "--project", cells.name, "--format", "voc", "--out", str(out),
            "--single-file",
        )  # fmt: skip
