from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Image
from tests.labeling.imagefiles import image_bytes, zip_bytes

pytestmark = pytest.mark.django_db


def test_files_folders_and_zips(project_team, tmp_path):
    project = project_team["project"]
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(image_bytes("JPEG", color=(1, 1, 1)))
    (folder / "sub" / "b.png").write_bytes(image_bytes("PNG", color=(2, 2, 2)))
    (folder / ".hidden.png").write_bytes(image_bytes("PNG", color=(9, 9, 9)))
    (folder / "notes.txt").write_text("not an image")
    archive = tmp_path / "more.zip"
    archive.write_bytes(zip_bytes({"c.bmp": image_bytes("BMP", color=(3, 3, 3))}))
    single = tmp_path / "a-copy.jpg"
    single.write_bytes(image_bytes("JPEG", color=(1, 1, 1)))
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_images", str(project.pk), str(folder), str(archive), str(single),
        stdout=out, stderr=err,
    )  # fmt: skip
    assert "3 added, 1 duplicate(s) skipped, 1 refused" in out.getvalue()
    assert "notes.txt" in err.getvalue()
    names = sorted(Image.objects.filter(project=project).values_list("original_name", flat=True))
    assert names == ["a.jpg", "b.png", "c.bmp"]


def test_project_by_name_and_errors(project_team, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(image_bytes())
    call_command("import_images", "Cells", str(image), stdout=io.StringIO())
    assert Image.objects.filter(project=project_team["project"]).count() == 1
    with pytest.raises(CommandError, match="no project"):
        call_command("import_images", "Nope", str(image))
    with pytest.raises(CommandError, match="Not found"):
        call_command("import_images", "Cells", str(tmp_path / "missing.png"))
