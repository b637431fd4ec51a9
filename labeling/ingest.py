"""Turning uploaded files into Images: check, orient, hash, thumbnail, store.

Accepted: JPEG, PNG, GIF, BMP, ICO, WebP and TIFF. JPEG, PNG and WebP are stored byte
for byte (browsers show them); the others are converted to PNG, without loss. Animations
(GIF, animated PNG and WebP) and multi-page TIFFs keep their first frame.
An image with an EXIF orientation is turned once, here, and stored turned, so boxes
always refer to the pixels a browser shows. Refused with a reason, and nothing stored:
files over STUDIO_MAX_IMAGE_BYTES, non-images (SVG and HTML included), truncated or
corrupt images, and images over STUDIO_MAX_IMAGE_PIXELS (decompression bombs). A JPEG cut
short is kept when at least 90% of its rows decode, as tolerant decoders read it (the
rest grey), stored re-encoded and noted "truncated, kept".
Duplicates (the same stored pixels, by sha256, in the project) are skipped and reported.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from labeling import splits, zips
from labeling.models import Image, Project

logger = logging.getLogger(__name__)

# Pillow format name -> what we call it; only these decoders are ever tried.
ACCEPTED_FORMATS = {
    "JPEG": "jpeg",
    "PNG": "png",
    "GIF": "gif",
    "BMP": "bmp",
    "ICO": "ico",
    "WEBP": "webp",
    "TIFF": "tiff",
}
STORED_AS_IS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
ACCEPTED_TEXT = "JPEG, PNG, GIF, BMP, ICO, WebP or TIFF"
_PNG_MODES = {"1", "L", "LA", "I;16", "P", "RGB", "RGBA"}
_ORIENTATION = 0x0112
# A truncated JPEG is kept (re-encoded, with a note) when this share of its rows decodes.
TRUNCATED_MIN_DECODED = 0.9


class Refused(Exception):
    """The file is not taken; ``str(error)`` is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An accepted image, ready to store: the bytes to keep and its thumbnail."""

    sha256: str  # of ``data``, the stored file (the upload itself when kept as is)
    width: int
    height: int
    format: str  # of ``data``: jpeg, png or webp
    data: bytes
    thumbnail: bytes  # JPEG
    truncated: str = ""  # a cut-short JPEG kept: how much of it was decoded


@dataclass(slots=True)
class IngestResult:
    name: str
    status: Literal["added", "duplicate", "refused"]
    reason: str = ""
    image_id: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "image_id": self.image_id,
        }


@dataclass(frozen=True, slots=True)
class Source:
    """A file to ingest: its name as the user knows it and a way to read it."""

    name: str
    file: Path | BinaryIO

    def open(self) -> BinaryIO:
        return self.file.open("rb") if isinstance(self.file, Path) else self.file


# --- Checking and preparing one file (no database, no storage) -------------------------


def read_limited(handle: BinaryIO, limit: int | None = None) -> bytes:
    """Read a whole file, refusing it as soon as it is larger than the size limit."""
    limit = limit or settings.STUDIO_MAX_IMAGE_BYTES
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"the file is larger than the {_megabytes(limit)} limit")
    return data


def image_prepare(data: bytes) -> PreparedImage:
    """Check one image file and make what is stored of it; Refused with a reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        with image_open(data) as image:
            return _prepare_open(image, data)


def image_open(data: bytes) -> PILImage.Image:
    """Open an image file after the checks that need no decoding (size, type, pixels);
    Refused with a reason. Decode it with DecompressionBombWarning as an error."""
    if not data:
        raise Refused("the file is empty")
    limit = settings.STUDIO_MAX_IMAGE_BYTES
    if len(data) > limit:
        raise Refused(f"the file is larger than the {_megabytes(limit)} limit")
    head = data[:1024].lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n\x00")
    if head[:1] == b"<":
        raise Refused(f"SVG, HTML and XML files are not accepted; upload {ACCEPTED_TEXT}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            image = PILImage.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
        except UnidentifiedImageError:
            raise Refused(f"not an image in an accepted format ({ACCEPTED_TEXT})") from None
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
            raise Refused(_too_many_pixels()) from None
        except (OSError, SyntaxError, ValueError) as error:
            raise Refused(f"the image is truncated or corrupt ({error})") from None
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise Refused("the image has no pixels")
    if width * height > settings.STUDIO_MAX_IMAGE_PIXELS:
        image.close()
        raise Refused(_too_many_pixels(width, height))
    return image


def image_rgb(data: bytes) -> np.ndarray:
    """The pixels of an image file as shown (EXIF orientation applied): uint8 RGB
    ``(height, width, 3)``, converted as training reads images (training/ml/data.py).
    Refused with a reason, under the same checks as an upload (what the prediction API
    and the DeepStack endpoint decode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        with image_open(data) as image:
            width, height = image.size
            try:
                image.load()
                if _orientation(image) != 1:
                    image = ImageOps.exif_transpose(image)
                return np.asarray(image.convert("RGB"))
            except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
                raise Refused(_too_many_pixels(width, height)) from None
            except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
                raise Refused(f"the image is truncated or corrupt ({error})") from None


def _prepare_open(image: PILImage.Image, data: bytes) -> PreparedImage:
    # Phones write JPEGs with extra pictures (MPO): a browser shows them as JPEG.
    pillow_format = "JPEG" if image.format == "MPO" else image.format or ""
    width, height = image.size
    orientation = _orientation(image)
    # Animated PNG and WebP keep their first frame, as GIF does (boxes need one picture).
    animated = pillow_format in ("PNG", "WEBP") and getattr(image, "is_animated", False)
    keep = pillow_format in STORED_AS_IS and orientation == 1 and not animated
    size = settings.STUDIO_THUMBNAIL_SIZE
    if keep and pillow_format == "JPEG":
        image.draft("RGB", (size, size))  # decode at a reduced scale: the thumbnail only
    truncated = ""
    try:
        image.load()  # decodes everything: truncated and corrupt files fail here
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        if pillow_format != "JPEG":
            raise Refused(f"the image is truncated or corrupt ({error})") from None
        image, truncated = _truncated_jpeg(data, error)
        keep = False  # stored re-encoded: a complete file that every decoder reads
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise Refused(_too_many_pixels(width, height)) from None
    if keep:
        stored, stored_format = data, STORED_AS_IS[pillow_format]
    else:
        image = ImageOps.exif_transpose(image) if orientation != 1 else image
        width, height = image.size
        stored, stored_format = _encode(image, pillow_format)
    return PreparedImage(
        sha256=hashlib.sha256(stored).hexdigest(),
        width=width,
        height=height,
        format=stored_format,
        data=stored,
        thumbnail=_thumbnail(image, size),
        truncated=truncated,
    )


def _truncated_jpeg(data: bytes, error: Exception) -> tuple[PILImage.Image, str]:
    """A JPEG cut short, decoded as tolerant decoders do (Pillow's LOAD_TRUNCATED_IMAGES,
    libjpeg's "premature end of data"): the rows past the end are filled grey. Kept, with
    a note, when at least TRUNCATED_MIN_DECODED of its rows were decoded; else Refused.

    The file gets the end-of-image marker it lacks, so libjpeg finishes on its own;
    no global decoder setting is changed (other threads decode at the same time).
    """
    refused = Refused(f"the image is truncated or corrupt ({error})")
    try:
        image = PILImage.open(io.BytesIO(data + b"\xff\xd9"), formats=["JPEG"])
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise refused from None
    pixels = np.asarray(image)
    rows = pixels.reshape(pixels.shape[0], -1)
    flat = (rows == rows[:, :1]).all(axis=1)  # a row of one value: filled, not decoded
    missing = int(np.argmin(flat[::-1])) if not flat.all() else len(flat)
    decoded = 1 - missing / len(flat)
    if decoded < TRUNCATED_MIN_DECODED:
        raise Refused(
            f"the image is truncated: only {decoded:.0%} of its rows could be decoded "
            f"(at least {TRUNCATED_MIN_DECODED:.0%} are needed to keep it)"
        )
    if missing:
        return image, (
            f"truncated, kept: {len(flat) - missing} of its {len(flat)} rows decoded, "
            "the rest filled grey"
        )
    return image, "truncated, kept: every row decoded, only the file's last bytes are missing"


def _orientation(image: PILImage.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse an image
        return 1
    return value if value in range(1, 9) else 1


def _encode(image: PILImage.Image, pillow_format: str) -> tuple[bytes, str]:
    """The bytes to store for an image that is turned or not in a browser format."""
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    if pillow_format == "JPEG":
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=95, icc_profile=icc)
        return out.getvalue(), "jpeg"
    if pillow_format == "WEBP":
        image.save(out, "WEBP", lossless=True, icc_profile=icc)
        return out.getvalue(), "webp"
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.save(out, "PNG", icc_profile=icc, compress_level=6)
    return out.getvalue(), "png"


def _thumbnail(image: PILImage.Image, size: int) -> bytes:
    """A JPEG thumbnail; shrinks ``image`` in place (its pixels are stored already)."""
    thumb = _eight_bits(image) if image.mode in ("I;16", "I;16B", "I", "F") else image
    thumb.thumbnail((size, size), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    if thumb.mode in ("RGBA", "LA", "P", "PA") or thumb.has_transparency_data:
        rgba = thumb.convert("RGBA")
        thumb = PILImage.new("RGB", rgba.size, (255, 255, 255))
        thumb.paste(rgba, mask=rgba.getchannel("A"))
    elif thumb.mode != "RGB":
        thumb = thumb.convert("RGB")
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()


def _eight_bits(image: PILImage.Image) -> PILImage.Image:
    """A 16-bit or float image (microscopy, thermal) stretched to 8 bits for its thumbnail."""
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
    return PILImage.fromarray(scaled.astype(np.uint8))


def safe_name(name: str) -> str:
    """A file name as shown and sent back in headers: no folders, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[-255:] or "image"


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


def _too_many_pixels(width: int | None = None, height: int | None = None) -> str:
    size = f" ({width}x{height})" if width else ""
    return (
        f"the image has too many pixels{size}; the limit is "
        f"{settings.STUDIO_MAX_IMAGE_PIXELS:,} (a possible decompression bomb)"
    )


# --- Storing -----------------------------------------------------------------------------


def storage_names(*, project_id: int, sha256: str, format: str) -> tuple[str, str]:
    """Where an image's file and thumbnail live in the default storage."""
    folder = f"projects/{project_id}"
    extension = {"jpeg": "jpg"}.get(format, format)
    return (
        f"{folder}/images/{sha256[:2]}/{sha256}.{extension}",
        f"{folder}/thumbnails/{sha256[:2]}/{sha256}.jpg",
    )


def image_files_store(*, project: Project, prepared: PreparedImage) -> tuple[str, str]:
    """Save the image and its thumbnail (content-addressed: an existing file is reused)."""
    file_name, thumb_name = storage_names(
        project_id=project.pk, sha256=prepared.sha256, format=prepared.format
    )
    names = []
    for name, content in ((file_name, prepared.data), (thumb_name, prepared.thumbnail)):
        if not default_storage.exists(name):
            name = default_storage.save(name, ContentFile(content))
        names.append(name)
    return names[0], names[1]


def image_files_delete(*, names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def project_files_delete(*, project_id: int) -> None:
    """Delete every stored file of a project (after the project's rows are gone)."""
    _delete_tree(f"projects/{project_id}")


def _delete_tree(folder: str) -> None:
    try:
        folders, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    for name in folders:
        _delete_tree(f"{folder}/{name}")


def image_row(
    *,
    project: Project,
    prepared: PreparedImage,
    names: tuple[str, str],
    original_name: str,
    user: AbstractBaseUser | None,
    split: str | None = None,
) -> Image:
    """An unsaved Image row for stored files."""
    return Image(
        project=project,
        file=names[0],
        thumbnail=names[1],
        original_name=safe_name(original_name),
        width=prepared.width,
        height=prepared.height,
        sha256=prepared.sha256,
        bytes=len(prepared.data),
        format=prepared.format,
        split=split or splits.default_split(prepared.sha256),
        uploaded_by=user if user is not None and user.is_authenticated else None,
    )


# --- Ingesting many files ----------------------------------------------------------------


INSERT_BATCH = 50  # rows per transaction: one commit per image costs an fsync each


def images_ingest(
    *, project: Project, sources: Iterable[Source], user: AbstractBaseUser | None = None
) -> list[IngestResult]:
    """Add every acceptable image of ``sources`` (zip archives are opened) to the project.

    Returns one result per file (per archive entry for zips), in order.
    """
    results: list[IngestResult] = []
    pending: list[tuple[IngestResult, Image]] = []
    seen = _KnownHashes(project)
    for name, data, refusal in _expand(sources):
        if refusal is not None:
            results.append(IngestResult(name, "refused", refusal))
            continue
        result, row = _prepare_one(project=project, name=name, data=data, user=user, seen=seen)
        results.append(result)
        if row is not None:
            pending.append((result, row))
        if len(pending) >= INSERT_BATCH:
            _insert(pending)
    _insert(pending)
    added = sum(1 for r in results if r.status == "added")
    logger.info("ingest into project %s: %d files, %d added", project.pk, len(results), added)
    return results


class _KnownHashes:
    """The hashes of the project's images: one indexed lookup per new hash, then cached."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.known: set[str] = set()

    def __contains__(self, sha256: str) -> bool:
        if sha256 in self.known:
            return True
        if Image.objects.filter(project=self.project, sha256=sha256).exists():
            self.known.add(sha256)
            return True
        return False

    def add(self, sha256: str) -> None:
        self.known.add(sha256)


_DUPLICATE = "the same image is already in the project"


def _prepare_one(
    *,
    project: Project,
    name: str,
    data: bytes,
    user: AbstractBaseUser | None,
    seen: _KnownHashes,
) -> tuple[IngestResult, Image | None]:
    """Check and store one file; its unsaved row when it is new to the project."""
    if hashlib.sha256(data).hexdigest() in seen:  # stored as uploaded: no need to decode
        return IngestResult(name, "duplicate", _DUPLICATE), None
    try:
        prepared = image_prepare(data)
    except Refused as refusal:
        return IngestResult(name, "refused", str(refusal)), None
    if prepared.sha256 in seen:  # converted or turned: the same pixels as stored
        return IngestResult(name, "duplicate", _DUPLICATE), None
    names = image_files_store(project=project, prepared=prepared)
    row = image_row(project=project, prepared=prepared, names=names, original_name=name, user=user)
    seen.add(prepared.sha256)
    return IngestResult(name, "added", prepared.truncated), row


def _insert(pending: list[tuple[IngestResult, Image]]) -> None:
    """Insert the rows in one transaction; row by row if someone added one meanwhile."""
    if not pending:
        return
    try:
        with transaction.atomic():
            Image.objects.bulk_create([row for _, row in pending])
    except IntegrityError:  # the same image uploaded at the same moment by someone else
        for result, row in pending:
            row.pk = None
            try:
                with transaction.atomic():
                    row.save()
            except IntegrityError:
                result.status, result.reason = "duplicate", _DUPLICATE
    for result, row in pending:
        if result.status == "added":
            result.image_id = row.pk
    pending.clear()


def _expand(sources: Iterable[Source]) -> Iterator[tuple[str, bytes, str | None]]:
    """(name, bytes, None) per file, zip entries included; (name, b"", reason) if refused."""
    for source in sources:
        handle = source.open()
        head = handle.read(4)
        handle.seek(0)
        if zips.looks_like_zip(head, source.name):
            yield from _expand_zip(source.name, handle)
            continue
        try:
            yield source.name, read_limited(handle), None
        except Refused as refusal:
            yield source.name, b"", str(refusal)


def _expand_zip(name: str, handle: BinaryIO) -> Iterator[tuple[str, bytes, str | None]]:
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    if size > settings.STUDIO_ZIP_MAX_BYTES:
        yield (
            name,
            b"",
            f"archive refused: it is larger than {settings.STUDIO_ZIP_MAX_BYTES:,} bytes",
        )
        return
    with tempfile.TemporaryDirectory(prefix="studio-zip-") as folder:
        try:
            extracted = zips.extract_zip(handle, Path(folder))
        except zips.ZipRefused as refusal:
            yield name, b"", f"archive refused: {refusal}"
            return
        for entry, reason in extracted.refused:
            yield f"{name}/{entry}", b"", reason
        for entry, path in sorted(extracted.files):
            with path.open("rb") as file:
                try:
                    yield f"{name}/{entry}", read_limited(file), None
                except Refused as refusal:
                    yield f"{name}/{entry}", b"", str(refusal)


def sources_from_paths(paths: Iterable[Path]) -> Iterator[Source]:
    """Files as given, folders walked (sorted, hidden entries skipped), for the command."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in relative.parts):
                    yield Source(str(relative), child)
        else:
            yield Source(path.name, path)
