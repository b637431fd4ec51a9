"""Reading an image's displayed size from its header, without decoding the pixels."""

from __future__ import annotations

from pathlib import Path

from PIL import ExifTags, Image

# EXIF orientations 5 to 8 turn the image by a quarter: width and height swap on display.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


class UnreadableImageError(ValueError):
    """The file is not an image Pillow can read, or it is too large to open safely."""


def image_size(path: Path) -> tuple[int, int]:
    """Width and height as displayed, i.e. after applying the EXIF orientation."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"cannot read the image size: {error}") from error
    if orientation in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height
