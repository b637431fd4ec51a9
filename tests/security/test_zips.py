"""Zip bombs made of many entries, each under the per-entry ratio rule: the whole archive's
ratio is bounded too, before anything is written, and a refused archive leaves nothing."""

from __future__ import annotations

import io
import random
import time
import zipfile
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from labeling import zips
from labeling.models import Image
from tests.labeling.imagefiles import image_bytes, zip_bytes

MB = 1024 * 1024


@pytest.fixture(scope="module")
def many_small_bombs(tmp_path_factory) -> Path:
    """300 entries of exactly 1 MiB of zeros: each at the per-entry rule's size floor (so
    its ~1,000:1 ratio is not checked), the whole archive ~930:1."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    block = b"\0" * MB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(300):
            archive.writestr(f"part/{i:03}.png", block)
    return path


def _contents(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_bomb_of_many_1_mib_entries_is_refused_before_writing(many_small_bombs, tmp_path):
    size = many_small_bombs.stat().st_size
    assert 300 * MB / size > 800  # what makes it a bomb: ~930 to 1 as a whole
    dest = tmp_path / "out"
    started = time.perf_counter()
    with pytest.raises(zips.ZipRefused) as refusal:
        zips.extract_zip(many_small_bombs, dest, max_ratio=200)
    seconds = time.perf_counter() - started
    message = str(refusal.value)
    assert "\n" not in message
    assert f"unpacks to {300 * MB:,} bytes" in message and "zip bomb" in message
    assert _contents(dest) == []  # nothing was inflated
    assert seconds < 2, seconds


def test_a_refused_archive_leaves_nothing_behind(tmp_path):
    """The third entry lies about its size: the two already written are removed, and so
    are the folders made for them."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a/one.txt", b"1" * 1000)
        archive.writestr("a/b/two.txt", b"2" * 1000)
        archive.writestr("c/three.txt", b"3" * 1000)
    raw = bytearray(out.getvalue())
    central = raw.rfind(b"PK\x01\x02")  # the last entry's central directory record
    raw[central + 24 : central + 28] = (10).to_bytes(4, "little")  # declared: 10 bytes
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "kept.txt").write_text("was here before")
    with pytest.raises(zips.ZipRefused, match="three.txt"):
        zips.extract_zip(io.BytesIO(bytes(raw)), dest)
    assert _contents(dest) == ["kept.txt"]


def test_archives_that_compress_well_but_not_like_bombs_still_extract(tmp_path):
    rng = random.Random(0)
    lines = [
        f"{rng.randrange(3)} {rng.random():.4f} {rng.random():.4f} 0.1 0.2\n" for _ in range(2**17)
    ]
    text = "".join(lines).encode()  # YOLO labels, ~4 MB, ~3 to 1
    archive = zip_bytes({"labels.txt": text, "a.png": image_bytes("PNG")})
    assert len(text) > 2 * MB and len(text) / len(archive) > 2
    result = zips.extract_zip(io.BytesIO(archive), tmp_path / "out")
    assert sorted(name for name, _ in result.files) == ["a.png", "labels.txt"]


@pytest.mark.django_db
def test_the_upload_api_reports_the_bomb_in_one_line(many_small_bombs, project_team):
    project = project_team["project"]
    client = APIClient()
    client.force_authenticate(project_team["users"]["owner"])
    with many_small_bombs.open("rb") as handle:
        upload = io.BytesIO(handle.read())
    upload.name = "holiday.zip"
    ok = io.BytesIO(image_bytes("PNG"))
    ok.name = "fine.png"
    response = client.post(
        f"/api/v1/projects/{project.pk}/images", {"files": [upload, ok]}, format="multipart"
    )
    assert response.status_code == 200, response.content[:300]
    results = {r["name"]: r for r in response.json()["results"]}
    assert results["fine.png"]["status"] == "added"
    [refused] = [r for name, r in results.items() if name.startswith("holiday.zip")]
    assert refused["status"] == "refused" and "\n" not in refused["reason"]
    assert refused["reason"].startswith("archive refused: the archive unpacks to")
    assert Image.objects.filter(project=project).count() == 1
