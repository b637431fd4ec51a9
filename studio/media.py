"""Reading files of the media storage in chunks, whatever the storage.

``default_storage.open()`` of django-storages' S3 backend downloads the whole object
before its first byte can be read. Downloads, worker copies and imports use
``open_stream`` instead: on S3 it reads the object's HTTP body as it arrives (a GET, no
temporary copy), on the local folder it is the file itself. Either way memory stays
bounded by the caller's chunk size, whatever the file's size.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from django.core.files.storage import default_storage

CHUNK = 1 << 20


class _S3Body(io.RawIOBase):
    """An S3 object's body as a read-only file: ``read(n)`` as the bytes arrive."""

    def __init__(self, body, size: int) -> None:
        self._body = body
        self.size = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def open_stream(name: str) -> BinaryIO:
    """The media file ``name`` opened for reading in chunks; FileNotFoundError if missing.

    The returned file has ``size`` (bytes) where the storage knows it up front.
    """
    storage = default_storage
    if not hasattr(storage, "bucket_name"):  # the local media folder
        return storage.open(name, "rb")
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    key = storage._normalize_name(clean_name(name))
    try:
        answer = storage.connection.meta.client.get_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise FileNotFoundError(f"{name} is not in the media storage") from None
        raise
    return io.BufferedReader(_S3Body(answer["Body"], answer["ContentLength"]), CHUNK)


def stream_size(handle: BinaryIO) -> int | None:
    """The size of a file from ``open_stream``, when known."""
    raw = getattr(handle, "raw", None)
    if raw is not None and hasattr(raw, "size"):
        return raw.size
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def copy_to_local(name: str, local: Path) -> Path:
    """Copy the media file ``name`` to the local path ``local`` (atomically), in chunks."""
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(local.name + ".part")
    with open_stream(name) as source, partial.open("wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
    os.replace(partial, local)
    return local
