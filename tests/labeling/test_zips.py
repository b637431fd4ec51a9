"""Safe zip extraction: nothing outside the folder, bombs and odd entries refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from labeling import zips
from tests.labeling.imagefiles import zip_bytes


def _extract(tmp_path: Path, data: bytes, **limits) -> zips.Extracted:
    return zips.extract_zip(io.BytesIO(data), tmp_path / "out", **limits)


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_paths_links_and_absolute_entries(tmp_path, settings):
    data = zip_bytes(
        {
            "ok/a.txt": b"a",
            "../../escape.txt": b"x",
            "/abs.txt": b"x",
            "C:/windows.txt": b"x",
            "ok/a.txt/../../b.txt": b"x",
        },
        symlinks={"ok/link": "../../../etc/passwd"},
    )
    result = _extract(tmp_path, data)
    assert [name for name, _ in result.files] == ["ok/a.txt"]
    refused = dict(result.refused)
    assert "'..'" in refused["../../escape.txt"]
    assert "absolute" in refused["/abs.txt"]
    assert "absolute" in refused["C:/windows.txt"]
    assert "symbolic link" in refused["ok/link"]
    assert _all_files(tmp_path) == {"out/ok/a.txt"}


def test_entry_count_limit(tmp_path):
    data = zip_bytes({f"{i}.txt": b"x" for i in range(5)})
    with pytest.raises(zips.ZipRefused, match="5 entries"):
        _extract(tmp_path, data, max_entries=4)


def test_total_size_limit(tmp_path):
    data = zip_bytes({"a.bin": b"a" * 5000, "b.bin": b"b" * 5000})
    with pytest.raises(zips.ZipRefused, match="unpacks to"):
        _extract(tmp_path, data, max_bytes=8000)


def test_compression_ratio_limit(tmp_path):
    data = zip_bytes({"zeros.bin": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(zips.ZipRefused, match="zip bomb"):
        _extract(tmp_path, data, max_ratio=100)


def test_entry_lying_about_its_size(tmp_path):
    """A header declaring fewer bytes than the entry inflates to is caught while copying."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.bin", b"x" * 1000)
    raw = bytearray(out.getvalue())
    # Patch the central directory's uncompressed size (offset 24 in the entry) to 10.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(zips.ZipRefused):
        _extract(tmp_path, bytes(raw))
    assert not (tmp_path / "out" / "a.bin").exists()


def test_not_a_zip(tmp_path):
    with pytest.raises(zips.ZipRefused, match="not a valid zip"):
        _extract(tmp_path, b"hello")
