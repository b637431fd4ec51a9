"""Benchmark: the box editor in Chromium, on images of 500 boxes each.

    make bench-editor     (or: .venv/bin/python tests/bench/bench_editor.py [--runs N])

Against a live server on a scratch database, in Debian's headless Chromium:

- open: from "image loaded" (decoded) to the boxes drawn (``editor:open-render``) and to
  the frame that shows them (``editor:open-frame``, a requestAnimationFrame later), on a
  fresh page load. Target: under 150 ms.
- drag: one box dragged with the mouse across the image; frames per second from
  requestAnimationFrame timestamps while dragging, and the editor's own drawing time per
  frame. Target: above 50 fps.
- next image: D pressed once the next image is prefetched, to the new image drawn
  (``editor:switch``) and to its frame. Target: under 100 ms.

Figures are medians over the runs; the machine's load is printed with them.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics

from _django import machine_note, median, scratch_django

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
BOXES = 500
SIZE = (1280, 960)
TARGETS = {"open_ms": 150.0, "drag_fps": 50.0, "switch_ms": 100.0}


def _jpeg(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (SIZE[1] // 8, SIZE[0] // 8, 3), dtype=np.uint8)
    picture = Image.fromarray(small).resize(SIZE, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _data(images: int):
    """A project with 5 classes and ``images`` images of 500 boxes each."""
    from django.contrib.auth import get_user_model

    from labeling import categories, ingest, services
    from labeling.models import Annotation, Image

    user = get_user_model().objects.create_user("bench")
    project = services.project_create(user=user, name="editor bench")
    classes = [categories.category_create(project=project, name=f"class {i}") for i in range(5)]
    sources = [ingest.Source(f"{i:03d}.jpg", io.BytesIO(_jpeg(i))) for i in range(images)]
    ids = [r.image_id for r in ingest.images_ingest(project=project, sources=sources, user=user)]
    rng = random.Random(0)
    rows = []
    for image_id in ids:
        for _ in range(BOXES):
            w, h = rng.uniform(8, 120), rng.uniform(8, 120)
            x, y = rng.uniform(0, SIZE[0] - w), rng.uniform(0, SIZE[1] - h)
            category = rng.choice(classes)
            rows.append(
                Annotation(image_id=image_id, category=category, x=x, y=y, w=w, h=h, area=w * h)
            )
    Annotation.objects.bulk_create(rows, batch_size=2000)
    Image.objects.filter(pk__in=ids).update(status="labeled", annotation_version=1)
    return user, project, ids


def _server():
    from django.test.testcases import LiveServerThread

    class Passthrough:  # static files through WhiteNoise, as in production
        def __init__(self, application):
            self.application = application

        def __call__(self, environ, start_response):
            return self.application(environ, start_response)

    # The scratch database is a file or a server: the server's threads open their own
    # connections to it.
    thread = LiveServerThread("localhost", Passthrough, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    return thread


def _measure_last(page, name: str) -> float:
    return page.evaluate(f"performance.getEntriesByName('{name}').at(-1).duration")


def _open(page, url: str) -> tuple[float, float]:
    page.goto(url)
    page.wait_for_function("window.__editor !== undefined")
    page.evaluate("window.__editor.ready")
    page.wait_for_function("performance.getEntriesByName('editor:open-frame').length > 0")
    return _measure_last(page, "editor:open-render"), _measure_last(page, "editor:open-frame")


_RECORD = """() => {
  window.__bench = { frames: [], on: true };
  const tick = (t) => {
    window.__bench.frames.push(t);
    if (window.__bench.on) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.__bench.drawn = window.__editor.frameTimes().length;
}"""
_STOP = """() => {
  window.__bench.on = false;
  const draws = window.__editor.frameTimes().slice(window.__bench.drawn);
  return { frames: window.__bench.frames, draws };
}"""


def _drag(page) -> tuple[float, float, int]:
    """Drag one box across the image; returns (fps, p95 draw ms, frames)."""
    state = page.evaluate("window.__editor.state()")
    view = state["view"]
    canvas = page.locator("#layer-overlay").bounding_box()
    x, y, w, h = state["boxes"][0]["bbox"]
    start_x = canvas["x"] + view["ox"] + (x + w / 2) * view["scale"]
    start_y = canvas["y"] + view["oy"] + (y + h / 2) * view["scale"]
    page.mouse.move(start_x, start_y)
    page.evaluate(_RECORD)
    page.mouse.down()
    for sweep in range(4):  # back and forth, about 400 pointer moves
        dx = 300 if sweep % 2 == 0 else 0
        page.mouse.move(start_x + dx, start_y + dx / 3, steps=100)
    result = page.evaluate(_STOP)
    page.mouse.up()
    frames = result["frames"]
    fps = (len(frames) - 1) / (frames[-1] - frames[0]) * 1000
    draws = sorted(result["draws"])
    p95 = draws[int(0.95 * (len(draws) - 1))] if draws else 0.0
    return fps, p95, len(frames)


def _switch(page, next_id: int) -> tuple[float, float]:
    page.wait_for_function(f"window.__editor.state().prefetched.includes({next_id})")
    page.keyboard.press("d")
    page.wait_for_function(f"window.__editor.state().imageId === {next_id}")
    page.wait_for_function(
        "performance.getEntriesByName('editor:first-frame').at(-1).startTime >"
        " performance.getEntriesByName('editor:switch-start').at(-1).startTime"
    )
    to_frame = page.evaluate(
        "performance.getEntriesByName('editor:first-frame').at(-1).startTime -"
        " performance.getEntriesByName('editor:switch-start').at(-1).startTime"
    )
    return _measure_last(page, "editor:switch"), to_frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with scratch_django():
        import os

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse
        from playwright.sync_api import sync_playwright

        call_command("collectstatic", interactive=False, verbosity=0)
        user, project, ids = _data(images=args.runs + 1)
        thread = _server()
        base = f"http://localhost:{thread.port}"
        client = Client()
        client.force_login(user)
        cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}
        results = {
            "open": [],
            "frame": [],
            "fps": [],
            "draw_p95": [],
            "switch": [],
            "switch_frame": [],
        }
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=ARGS
                )
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                context.add_cookies([cookie])
                page = context.new_page()
                first = base + reverse("annotate", args=[project.pk, ids[0]])
                _open(page, first)  # warm-up: caches, module compilation
                for run in range(args.runs):
                    render, frame = _open(page, first)
                    fps, draw_p95, frames = _drag(page)
                    page.keyboard.press("Control+z")  # the dragged box back (an edit, saved)
                    page.evaluate("window.__editor.idle()")
                    page.goto(first)  # then walk to the next images, one per run
                    page.evaluate("window.__editor.ready")
                    switches = [_switch(page, ids[i]) for i in range(1, len(ids))]
                    switch = median([s[0] for s in switches])
                    switch_frame = median([s[1] for s in switches])
                    for key, value in zip(
                        results, (render, frame, fps, draw_p95, switch, switch_frame), strict=True
                    ):
                        results[key].append(value)
                    print(
                        f"run {run + 1}: open {render:.1f} ms (frame {frame:.1f} ms); drag "
                        f"{fps:.1f} fps over {frames} frames (draw p95 {draw_p95:.2f} ms); next "
                        f"image {switch:.1f} ms (frame {switch_frame:.1f} ms, median of "
                        f"{len(switches)})"
                    )
                browser.close()
        finally:
            thread.terminate()
        figures = {key: median(values) for key, values in results.items()}
        print(
            f"median over {args.runs} runs, {BOXES} boxes per image, {SIZE[0]}x{SIZE[1]}:\n"
            f"  open to render {figures['open']:.1f} ms, to frame {figures['frame']:.1f} ms "
            f"(target < {TARGETS['open_ms']:.0f} ms)\n"
            f"  drag {figures['fps']:.1f} fps, draw p95 {figures['draw_p95']:.2f} ms "
            f"(target > {TARGETS['drag_fps']:.0f} fps; stdev "
            f"{statistics.pstdev(results['fps']):.1f})\n"
            f"  next image {figures['switch']:.1f} ms, to frame {figures['switch_frame']:.1f} ms "
            f"(target < {TARGETS['switch_ms']:.0f} ms)\n"
            f"  -- {machine_note()}"
        )
        ok = (
            figures["frame"] < TARGETS["open_ms"]
            and figures["fps"] > TARGETS["drag_fps"]
            and figures["switch_frame"] < TARGETS["switch_ms"]
        )
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
