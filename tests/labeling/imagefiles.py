"""Tiny real image files made in memory, for the ingest and import tests."""

from __future__ import annotations

import io
import zipfile

from PIL import Image


def image_bytes(
    format: str = "PNG",
    size: tuple[int, int] = (40, 30),
    color: tuple[int, int, int] = (200, 40, 40),
    *,
    exif_orientation: int = 0,
) -> bytes:
    mode = "RGBA" if format == "ICO" else "RGB"
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    if format == "ICO":
        kwargs["sizes"] = [size]
    image.save(out, format, **kwargs)
    return out.getvalue()


def animated_gif(colors: list[tuple[int, int, int]], size=(20, 20)) -> bytes:
    frames = [Image.new("RGB", size, color) for color in colors]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def zip_bytes(entries: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x20
            archive.writestr(info, target)
    return out.getvalue()
