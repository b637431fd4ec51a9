"""A real S3-compatible HTTP server for the media tests: moto's standalone server.

It runs in its own process on a loopback port (``python -m moto.server``); boto3 talks
real HTTP to it, from the test process, the web server and the workers alike. Its bucket
is private (S3's default ACL): an unsigned request for an object is refused with 403.
The studio reaches it with the environment variables the README names (``env()``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.postgres_server import free_port

BUCKET = "studio-media"
REGION = "us-east-1"
KEY_ID, SECRET = "studio-test-key", "studio-test-secret"


class S3Server:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        self.client().create_bucket(Bucket=BUCKET)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def env(self) -> dict[str, str]:
        """The variables of the README's S3 section, pointing at this server."""
        return {
            "STUDIO_MEDIA_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def keys(self, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def unsigned_get(self, key: str) -> int:
        """The status of a plain GET of the object's bucket URL, without credentials."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/{BUCKET}/{key}", timeout=10) as r:  # noqa: S310
                return r.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
