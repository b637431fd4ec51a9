"""The upload page in Chromium: file picker with per-file results, and camera capture.

The camera is a canvas stream put in place of getUserMedia (headless Chromium has none),
so the page's own code runs: start, show the video, take a picture, upload it.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Image
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.browser

FAKE_CAMERA = """
navigator.mediaDevices.getUserMedia = async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 320; canvas.height = 240;
  const context = canvas.getContext("2d");
  const draw = () => {
    context.fillStyle = "#2a7"; context.fillRect(0, 0, 320, 240);
    context.fillStyle = "#fff"; context.fillRect(100 + Math.random() * 50, 80, 60, 60);
    requestAnimationFrame(draw);
  };
  draw();
  return canvas.captureStream(30);
};
navigator.mediaDevices.enumerateDevices = async () => [];
"""


def test_upload_files_and_take_pictures(page, studio_server, project_team, tmp_path):
    project = project_team["project"]
    client = Client()
    client.force_login(project_team["users"]["annotator"])
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": studio_server.url,
            }
        ]
    )
    page.add_init_script(FAKE_CAMERA)
    page.goto(reverse("project-upload", args=[project.pk]))
    good, bad = tmp_path / "cells.png", tmp_path / "page.html"
    good.write_bytes(image_bytes("PNG"))
    bad.write_text("<html><body>not an image</body></html>")
    page.set_input_files("#file-input", [str(good), str(bad)])
    page.wait_for_function("document.querySelectorAll('#upload-list .status-refused').length")
    page.wait_for_function("document.querySelectorAll('#upload-list .status-added').length")
    assert "1 added" in page.inner_text("#upload-summary")
    assert "HTML" in page.inner_text("#upload-list")

    page.click("#camera-start")
    page.wait_for_function("document.getElementById('camera-video').videoWidth > 0")
    page.click("#camera-shoot")
    page.wait_for_function("document.querySelectorAll('#upload-list .status-added').length == 2")
    names = sorted(Image.objects.filter(project=project).values_list("original_name", flat=True))
    assert names[0].startswith("camera-") and names[0].endswith(".jpg")
    assert names[1] == "cells.png"
    camera_image = Image.objects.get(original_name=names[0])
    assert (camera_image.width, camera_image.height) == (320, 240)
