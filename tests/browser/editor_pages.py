"""Driving the box editor in Chromium: images with real pixels, the mouse in image pixels.

The editor exposes a read-only hook, ``window.__editor``: ``ready`` (a promise, the first
image drawn), ``state()`` (boxes in image pixels, the view transform, the save state) and
``idle()`` (a promise: nothing left to send).
"""

from __future__ import annotations

import io

from django.test import Client
from django.urls import reverse

from labeling import ingest
from labeling.models import Annotation, Category, Image
from tests.labeling.imagefiles import image_bytes

WIDTH, HEIGHT = 800, 600
VIEWPORT = {"width": 1400, "height": 900}


def make_images(project, count: int, *, size=(WIDTH, HEIGHT)) -> list[Image]:
    sources = [
        ingest.Source(f"{i:03d}.png", io.BytesIO(image_bytes(size=size, color=(40 + i, 90, 120))))
        for i in range(count)
    ]
    ids = [r.image_id for r in ingest.images_ingest(project=project, sources=sources)]
    return list(Image.objects.filter(pk__in=ids).order_by("id"))


def make_classes(project) -> tuple[Category, Category]:
    rbc = Category.objects.create(project=project, name="RBC", color="#e6194b", shortcut="1")
    wbc = Category.objects.create(
        project=project, name="WBC", color="#3cb44b", shortcut="2", order=1
    )
    return rbc, wbc


def sign_in(context, server_url: str, user) -> None:
    """A session for ``user`` in a browser context, without the login form."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": server_url}])


def editor_url(image: Image, query: str = "") -> str:
    url = reverse("annotate", args=[image.project_id, image.pk])
    return f"{url}?{query}" if query else url


def open_editor(page, image: Image, query: str = "") -> None:
    page.goto(editor_url(image, query))
    wait_ready(page)


def open_as(page, server_url: str, user, image: Image) -> None:
    """The editor of ``image`` in ``page`` (at the tests' viewport), signed in as ``user``."""
    page.set_viewport_size(VIEWPORT)
    sign_in(page.context, server_url, user)
    open_editor(page, image)


def wait_ready(page) -> None:
    page.wait_for_function("window.__editor !== undefined")
    page.evaluate("window.__editor.ready")


def state(page) -> dict:
    return page.evaluate("window.__editor.state()")


def idle(page) -> None:
    page.evaluate("window.__editor.idle()")


def screen(page, x: float, y: float) -> tuple[float, float]:
    """The page coordinates of the image pixel (x, y) under the current zoom and pan."""
    canvas = page.locator("#layer-overlay").bounding_box()
    view = state(page)["view"]
    return canvas["x"] + view["ox"] + x * view["scale"], canvas["y"] + view["oy"] + y * view[
        "scale"
    ]


def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """Press at image pixel ``start``, move to ``end``, release."""
    page.mouse.move(*screen(page, *start))
    page.mouse.down()
    page.mouse.move(*screen(page, *end), steps=steps)
    page.mouse.up()


def click(page, x: float, y: float) -> None:
    page.mouse.click(*screen(page, x, y))


def db_boxes(image: Image) -> list[tuple]:
    """The image's boxes in the database: (class name, x, y, w, h, area), by id."""
    rows = Annotation.objects.filter(image=image).select_related("category").order_by("id")
    return [(r.category.name, r.x, r.y, r.w, r.h, r.area) for r in rows]


def db_rects(image: Image) -> list[tuple[int, int, int, int]]:
    """The image's boxes [x, y, w, h] to the nearest pixel (drawn at a fractional zoom)."""
    return [tuple(round(v) for v in row[1:5]) for row in db_boxes(image)]


def close_to(actual: list[float], expected: list[float], tolerance: float) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
