"""Image ingest: accepted formats, refusals with reasons, EXIF, duplicates, splits, zips."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling import ingest, splits
from labeling.models import Image
from tests.labeling.imagefiles import animated_gif, image_bytes, zip_bytes

pytestmark = pytest.mark.django_db


def _ingest(project, files: dict[str, bytes]):
    sources = [ingest.Source(name, io.BytesIO(data)) for name, data in files.items()]
    return ingest.images_ingest(project=project, sources=sources)


def _project_files(project) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "projects" / str(project.pk)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _stored(image: Image) -> PILImage.Image:
    with default_storage.open(image.file.name, "rb") as handle:
        picture = PILImage.open(io.BytesIO(handle.read()))
        picture.load()
    return picture


@pytest.mark.parametrize(
    ("format", "stored"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("WEBP", "webp"),
        ("GIF", "png"),
        ("BMP", "png"),
        ("ICO", "png"),
        ("TIFF", "png"),
    ],
)
def test_accepted_formats(project_team, format, stored):
    project = project_team["project"]
    data = image_bytes(format, (48, 32))
    [result] = _ingest(project, {f"a.{format.lower()}": data})
    assert result.status == "added", result.reason
    image = Image.objects.get(pk=result.image_id)
    assert (image.width, image.height, image.format) == (48, 32, stored)
    assert image.original_name == f"a.{format.lower()}"
    picture = _stored(image)
    assert picture.size == (48, 32)
    assert picture.format.lower() == stored
    if stored != "png" or format == "PNG":
        assert default_storage.open(image.file.name).read() == data  # kept byte for byte
    with default_storage.open(image.thumbnail.name, "rb") as handle:
        assert PILImage.open(handle).format == "JPEG"


def test_gif_keeps_the_first_frame(project_team):
    data = animated_gif([(255, 0, 0), (0, 0, 255)])
    [result] = _ingest(project_team["project"], {"anim.gif": data})
    picture = _stored(Image.objects.get(pk=result.image_id)).convert("RGB")
    assert picture.getpixel((5, 5)) == (255, 0, 0)


def test_exif_orientation_is_applied_once(project_team):
    # 40 wide, 20 high, left half red; orientation 6 = shown turned 90 degrees clockwise.
    picture = PILImage.new("RGB", (40, 20), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 20, 20))
    exif = PILImage.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes(), quality=100)
    [result] = _ingest(project_team["project"], {"phone.jpg": out.getvalue()})
    image = Image.objects.get(pk=result.image_id)
    assert (image.width, image.height) == (20, 40)
    stored = _stored(image)
    assert stored.size == (20, 40)
    assert stored.getexif().get(0x0112, 1) == 1  # browsers must not turn it again
    red, _, blue = stored.convert("RGB").getpixel((10, 5))
    assert red > 200 and blue < 60  # the left (red) half is now on top


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.txt", b"just some text, not an image", "not an image"),
        ("empty.png", b"", "empty"),
        ("logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        ("page.png", b"\n  <html><script>alert(1)</script></html>", "HTML"),
        ("cut.jpg", image_bytes("JPEG", (200, 150))[:400], "truncated"),
        ("cut.png", image_bytes("PNG", (200, 150))[:80], "truncated or corrupt"),
        ("pdf.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not an image"),
    ],
)
def test_refused_with_reason_and_nothing_stored(project_team, name, data, reason):
    project = project_team["project"]
    [result] = _ingest(project, {name: data})
    assert result.status == "refused"
    assert reason in result.reason
    assert not Image.objects.exists()
    assert _project_files(project) == []


def test_too_large_file(project_team, settings):
    settings.STUDIO_MAX_IMAGE_BYTES = 2000
    [result] = _ingest(project_team["project"], {"big.bmp": image_bytes("BMP", (40, 30))})
    assert result.status == "refused"
    assert "larger than" in result.reason
    assert _project_files(project_team["project"]) == []


def test_decompression_bomb(project_team, settings):
    settings.STUDIO_MAX_IMAGE_PIXELS = 1000  # the image below has 1200
    [result] = _ingest(project_team["project"], {"bomb.png": image_bytes("PNG", (40, 30))})
    assert result.status == "refused"
    assert "too many pixels" in result.reason
    assert _project_files(project_team["project"]) == []


def test_real_bomb_header_is_refused_without_decoding(project_team):
    # A PNG header claiming 100000 x 100000 pixels: refused from the header alone.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    [result] = _ingest(project_team["project"], {"bomb.png": data})
    assert result.status == "refused"
    assert "too many pixels" in result.reason


def test_duplicates_are_skipped_and_reported(project_team):
    project = project_team["project"]
    data = image_bytes("PNG")
    first = _ingest(project, {"a.png": data, "copy-of-a.png": data})
    assert [r.status for r in first] == ["added", "duplicate"]
    again = _ingest(project, {"a-again.png": data})
    assert again[0].status == "duplicate"
    assert "already in the project" in again[0].reason
    assert Image.objects.filter(project=project).count() == 1
    other = _ingest(project_team["other"], {"a.png": data})
    assert other[0].status == "added"


def test_default_split_is_deterministic_and_70_20_10():
    import hashlib

    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    counts = {"train": 0, "val": 0, "test": 0}
    for sha in hashes:
        counts[splits.default_split(sha)] += 1
        assert splits.default_split(sha) == splits.default_split(sha)
    assert abs(counts["train"] / 3000 - 0.7) < 0.03
    assert abs(counts["val"] / 3000 - 0.2) < 0.03
    assert abs(counts["test"] / 3000 - 0.1) < 0.03


def test_new_image_gets_its_hash_split(project_team):
    [result] = _ingest(project_team["project"], {"a.png": image_bytes("PNG")})
    image = Image.objects.get(pk=result.image_id)
    assert image.split == splits.default_split(image.sha256)


def test_zip_upload_reports_per_entry(project_team):
    archive = zip_bytes(
        {
            "photos/a.png": image_bytes("PNG", color=(1, 2, 3)),
            "photos/b.jpg": image_bytes("JPEG", color=(9, 9, 9)),
            "photos/readme.txt": b"hello",
            "../evil.png": image_bytes("PNG", color=(4, 5, 6)),
            "__MACOSX/._a.png": b"resource fork",
        },
        symlinks={"photos/link.png": "/etc/passwd"},
    )
    results = _ingest(project_team["project"], {"batch.zip": archive})
    by_name = {r.name: r for r in results}
    assert by_name["batch.zip/photos/a.png"].status == "added"
    assert by_name["batch.zip/photos/b.jpg"].status == "added"
    assert by_name["batch.zip/photos/readme.txt"].status == "refused"
    assert "'..'" in by_name["batch.zip/../evil.png"].reason
    assert "symbolic link" in by_name["batch.zip/photos/link.png"].reason
    assert not any("MACOSX" in name for name in by_name)
    assert Image.objects.filter(project=project_team["project"]).count() == 2


def test_broken_zip_is_refused(project_team):
    [result] = _ingest(project_team["project"], {"broken.zip": b"PK\x03\x04 not really"})
    assert result.status == "refused"
    assert "archive refused" in result.reason


def test_phone_mpo_jpeg_is_kept_as_jpeg(project_team):
    first = PILImage.new("RGB", (40, 30), (10, 200, 10))
    second = PILImage.new("RGB", (40, 30), (200, 10, 10))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert PILImage.open(io.BytesIO(out.getvalue())).format == "MPO"
    [result] = _ingest(project_team["project"], {"phone.jpg": out.getvalue()})
    image = Image.objects.get(pk=result.image_id)
    assert image.format == "jpeg"
    assert default_storage.open(image.file.name).read() == out.getvalue()


def test_sixteen_bit_tiff_gets_a_visible_thumbnail(project_team):
    import numpy as np

    ramp = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 4).astype(np.uint16)
    out = io.BytesIO()
    PILImage.fromarray(ramp).save(out, "TIFF")
    [result] = _ingest(project_team["project"], {"cells.tif": out.getvalue()})
    image = Image.objects.get(pk=result.image_id)
    assert image.format == "png"
    assert _stored(image).mode in ("I;16", "I")  # the stored pixels keep their 16 bits
    with default_storage.open(image.thumbnail.name, "rb") as handle:
        thumb = PILImage.open(handle).convert("L")
        low, high = thumb.getextrema()
    assert low < 30 and high > 220  # stretched, not clipped to white


def test_control_characters_are_dropped_from_names(project_team):
    [result] = _ingest(project_team["project"], {"folder/evil\r\nname\x00.png": image_bytes()})
    assert Image.objects.get(pk=result.image_id).original_name == "evilname.png"


def test_deleting_images_and_projects_deletes_their_files(
    project_team, django_capture_on_commit_callbacks
):
    from labeling import services

    project = project_team["project"]
    first, second = _ingest(
        project, {"a.png": image_bytes(color=(1, 1, 1)), "b.png": image_bytes(color=(2, 2, 2))}
    )
    assert len(_project_files(project)) == 4
    with django_capture_on_commit_callbacks(execute=True):
        services.image_delete(image=Image.objects.get(pk=first.image_id))
    assert len(_project_files(project)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project)
    assert _project_files(project) == []


def test_too_large_zip_is_refused_before_opening(project_team, settings):
    settings.STUDIO_ZIP_MAX_BYTES = 1024
    archive = zip_bytes({"a.bin": os.urandom(4096)})  # incompressible
    [result] = _ingest(project_team["project"], {"big.zip": archive})
    assert result.status == "refused"
    assert "larger than" in result.reason


@pytest.mark.parametrize(("format", "stored"), [("WEBP", "webp"), ("PNG", "png")])
def test_animated_png_and_webp_keep_their_first_frame(project_team, format, stored):
    frames = [PILImage.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format, save_all=True, append_images=frames[1:], lossless=True)
    assert getattr(PILImage.open(io.BytesIO(out.getvalue())), "is_animated", False)
    [result] = _ingest(project_team["project"], {f"anim.{stored}": out.getvalue()})
    image = Image.objects.get(pk=result.image_id)
    picture = _stored(image)
    assert image.format == stored
    assert not getattr(picture, "is_animated", False)
    assert picture.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_same_image_added_meanwhile_by_someone_else(project_team, monkeypatch):
    """The duplicate check passed, yet the row exists at insert time: reported, rest kept."""
    project = project_team["project"]
    data = image_bytes("PNG", color=(7, 7, 7))
    _ingest(project, {"first.png": data})
    monkeypatch.setattr(ingest._KnownHashes, "__contains__", lambda self, sha: False)
    results = _ingest(project, {"again.png": data, "new.png": image_bytes(color=(8, 8, 8))})
    assert [r.status for r in results] == ["duplicate", "added"]
    assert results[1].image_id == Image.objects.get(original_name="new.png").pk
    assert Image.objects.filter(project=project).count() == 2
