"""Oversized request bodies are refused from their Content-Length, unread, with a JSON 413
(studio/request_limits.py), and the production server has request-size limits too."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import time

import pytest
import yaml
from django.test import Client
from PIL import Image as PILImage
from rest_framework.test import APIClient

from labeling.models import Image, Project
from studio.management.commands.run_studio import REQUEST_LIMITS, web_command
from studio.request_limits import FORM_OVERHEAD, LOGIN_BODY_BYTES
from tests.conftest import REPO_ROOT
from tests.studio.test_production_server import free_port, production_env, wait_for_port

MB = 1024 * 1024
BOUNDARY = "studio-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


class VirtualBody(io.RawIOBase):
    """A request body of ``size`` bytes that is never held in memory; counts what is read."""

    def __init__(self, size: int) -> None:
        self.size, self.consumed = size, 0
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"\r\n\r\nx\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.consumed
        size = left if size is None or size < 0 else min(size, left)
        start, self.consumed = self.consumed, self.consumed + size
        head = self.head[start : start + size]
        return head + b"\0" * (size - len(head))

    def readline(self, size: int = -1) -> bytes:
        return self.read(min(size, 64 * 1024) if size and size > 0 else 64 * 1024)


def post_virtual(client, path: str, size: int, **extra):
    body = VirtualBody(size)
    response = client.generic(
        "POST",
        path,
        b"",
        content_type=MULTIPART,
        CONTENT_LENGTH=str(size),
        **{"wsgi.input": body},
        **extra,
    )
    return response, body


def _detail(response, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return response.json()["detail"]


@pytest.mark.django_db
def test_token_endpoint_refuses_a_300_mb_body_unread():
    client = Client(raise_request_exception=False)
    response, body = post_virtual(client, "/api/v1/auth/token", 300 * MB)
    assert "larger than 65536 bytes" in _detail(response, 413)
    assert body.consumed == 0


@pytest.mark.django_db
def test_login_page_refuses_an_oversized_form_unread():
    client = Client(raise_request_exception=False)
    response, body = post_virtual(client, "/accounts/login/", LOGIN_BODY_BYTES + 1)
    assert "larger than" in _detail(response, 413)
    assert body.consumed == 0


@pytest.mark.django_db
def test_deepstack_endpoint_with_a_key_refuses_a_body_past_one_image(settings):
    settings.STUDIO_DEEPSTACK_API_KEY = "k" * 32
    settings.STUDIO_MAX_IMAGE_BYTES = 2 * MB
    client = Client(raise_request_exception=False)
    for path in ("/v1/vision/detection", "/v1/vision/custom/anything"):
        response, body = post_virtual(client, path, 2 * MB + FORM_OVERHEAD + 1)
        assert "larger than" in _detail(response, 413)
        assert response.json()["success"] is False and response.json()["code"] == 413
        assert body.consumed == 0


@pytest.mark.django_db
def test_json_body_over_the_default_limit_is_a_json_413_not_an_html_400(settings, make_user):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(make_user("alice"))
    body = json.dumps({"name": "x" * (64 * 1024), "description": ""})
    response = client.post("/api/v1/projects", body, content_type="application/json")
    assert "larger than 65536 bytes" in _detail(response, 413)
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_a_body_without_content_length_is_411_not_taken_as_empty():
    client = Client(raise_request_exception=False)
    response = client.generic(
        "POST",
        "/api/v1/auth/token",
        b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert "Content-Length" in _detail(response, 411)
    response = client.post("/api/v1/auth/token", "{}", "application/json", CONTENT_LENGTH="1e9")
    assert "Content-Length" in _detail(response, 400)


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.django_db
def test_uploads_take_bodies_up_to_their_own_limit(project_team, settings):
    """Image uploads are not held to the 10 MiB of other requests, but to their own."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # smaller than the upload below
    project = project_team["project"]
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(project_team["users"]["owner"])
    url = f"/api/v1/projects/{project.pk}/images"
    upload = io.BytesIO(_png())
    upload.name = "red.png"
    response = client.post(url, {"files": [upload]}, format="multipart")
    assert response.status_code == 200, response.content[:300]
    assert Image.objects.filter(project=project).count() == 1

    settings.STUDIO_MAX_UPLOAD_BYTES = 1024
    response, body = post_virtual(client, url, 10 * MB)
    assert "larger than 1024 bytes" in _detail(response, 413)
    assert body.consumed == 0


@pytest.mark.django_db
def test_django_form_limits_met_while_parsing_answer_json(project_team, settings):
    """A form field past DATA_UPLOAD_MAX_MEMORY_SIZE inside an upload (whose body may be
    larger), too many fields, too many files: JSON, not Django's HTML 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(project_team["users"]["owner"])
    url = f"/api/v1/projects/{project_team['project'].pk}/images"
    response = client.post(url, {"note": "x" * 2000}, format="multipart")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in _detail(response, 413)
    response = client.post(url, {f"field{i}": "1" for i in range(7)}, format="multipart")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in _detail(response, 400)
    files = [io.BytesIO(_png()) for _ in range(3)]
    response = client.post(url, {"files": files}, format="multipart")
    assert "DATA_UPLOAD_MAX_NUMBER_FILES" in _detail(response, 400)
    assert not Image.objects.exists()


# --- The production server -----------------------------------------------------------------


def test_every_production_command_sets_the_request_limits():
    flags = " ".join(REQUEST_LIMITS)
    assert "--limit-request-line" in flags and "--limit-request-field_size" in flags
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    assert ", ".join(f'"{part}"' for part in REQUEST_LIMITS) in dockerfile
    compose = yaml.safe_load((REPO_ROOT / "docker" / "compose.yaml").read_text())
    assert flags in compose["services"]["web"]["command"][-1]
    readme = (REPO_ROOT / "README.md").read_text()
    production = re.search(r"- Web: `(gunicorn [^`]+)`", readme)
    assert production and flags in production.group(1)
    assert re.search(r"client_max_body_size \d+[kmgKMG]?;", readme)
    command = web_command(host="127.0.0.1", port=1, workers=1, control_socket="x")
    assert flags in " ".join(command)


def _exchange(port: int, head: str, body: bytes = b"", timeout: float = 10) -> tuple[bytes, float]:
    """Send a request's head (and the start of its body), return the answer and its time."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer, time.perf_counter() - started


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: (\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


@pytest.mark.slow
def test_gunicorn_answers_413_to_a_300_mb_body_without_waiting_for_it(transactional_db, tmp_path):
    port = free_port()
    command = web_command(
        host="127.0.0.1", port=port, workers=1, control_socket=str(tmp_path / "g.ctl")
    )
    env = {**production_env(), "STUDIO_DEEPSTACK_API_KEY": "k" * 32}
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        for path in ("/api/v1/auth/token", "/v1/vision/detection"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {MULTIPART}\r\n"
                f"Content-Length: {300 * MB}\r\n\r\n"
            )
            # Only the first 64 KiB of the 300 MB are ever sent: the answer must not wait.
            answer, seconds = _exchange(port, head, VirtualBody(0).head + b"\0" * 65536)
            assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
            assert b'"detail": "The request body is larger than' in answer
            assert seconds < 5
        # A chunked body (no Content-Length) through gunicorn: 411, not taken as empty.
        body = b'{"username": "a", "password": "b"}'
        head = (
            "POST /api/v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer, _ = _exchange(port, head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        assert answer.startswith(b"HTTP/1.1 411 "), answer[:200]
        # Gunicorn's own limit on the request line.
        answer, _ = _exchange(port, f"GET /{'a' * 5000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
