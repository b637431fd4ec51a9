"""Benchmark: 20 annotators saving at the same time through the real HTTP API.

    make bench-annotation-load
    (or: DATABASE_URL=postgres://... .venv/bin/python tests/bench/bench_annotation_load.py
         [--annotators 20] [--saves 60] [--think-ms 1000] [--workers 3] [--threads 4])

A gunicorn server (as in production: DEBUG off, ``--workers 3 --threads 4``) runs on
127.0.0.1 against a scratch database (PostgreSQL from DATABASE_URL; SQLite works but is
not what a team runs). Each annotator has its own image of 20 boxes and, like the
editor's autosave, PUTs the whole box list with its base version and a new request id,
one box moved each time, then waits ``--think-ms`` (0.5x to 1.5x, at random) before the
next save: by default a save a second each (someone editing without a pause: the editor
saves 0.4 s after the last change), about 20 saves a second for the team;
``--think-ms 250`` is a stress run at about four times that. The load is bounded:
``--saves`` per annotator (after one warm-up save) and ``--max-seconds``.
Figures: round-trip p50/p95/p99 over every save. Target: p95 under 50 ms on loopback.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
import uuid

from _django import (
    free_port,
    machine_note,
    percentile,
    scratch_django,
    server_start,
    server_stop,
)

TARGET_P95_MS = 50.0
BOXES = 20


def _data(annotators: int):
    """A project with 3 classes; per annotator a user, a token and an image (rows only:
    the save API never reads pixels)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from labeling import services
    from labeling.models import Category, Image, Membership, Role

    owner = get_user_model().objects.create_user("bench-owner")
    project = services.project_create(user=owner, name="load bench")
    classes = [
        Category.objects.create(project=project, name=f"class {i}", order=i) for i in range(3)
    ]
    team = []
    for n in range(annotators):
        user = get_user_model().objects.create_user(f"annotator{n}")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        image = Image.objects.create(
            project=project,
            file=f"bench/{n}.jpg",
            thumbnail=f"bench/{n}-t.jpg",
            original_name=f"{n}.jpg",
            width=1280,
            height=960,
            sha256=f"{n:064x}",
            bytes=1,
            format="jpeg",
        )
        team.append((Token.objects.create(user=user).key, image.pk))
    return project.pk, [c.pk for c in classes], team


class Annotator(threading.Thread):
    def __init__(self, n, port, project_id, classes, token, image_id, args, start, stop_at):
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.port, self.token, self.args = port, token, args
        self.path = f"/api/v1/projects/{project_id}/images/{image_id}/annotations"
        self.boxes = [
            {
                "category_id": self.rng.choice(classes),
                "bbox": [self.rng.uniform(0, 1100), self.rng.uniform(0, 800), 60.0, 40.0],
            }
            for _ in range(BOXES)
        ]
        self.start_event, self.stop_at = start, stop_at
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        version = 0
        self.start_event.wait()
        for save in range(self.args.saves + 1):  # the first is a warm-up
            if time.monotonic() > self.stop_at:
                break
            box = self.boxes[save % BOXES]
            box["bbox"][0] = round(box["bbox"][0] + (1 if save % 2 else -1), 2) % 1100
            body = json.dumps(
                {"base_version": version, "request_id": uuid.uuid4().hex, "boxes": self.boxes}
            )
            began = time.perf_counter()
            try:
                connection.request("PUT", self.path, body, headers)
                response = connection.getresponse()
                payload = response.read()
            except OSError as error:
                self.errors.append(type(error).__name__)
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            elapsed = (time.perf_counter() - began) * 1000
            if response.status != 200:
                self.errors.append(str(response.status))
                if response.status == 409:
                    version = json.loads(payload)["current"]["version"]
                continue
            saved = json.loads(payload)
            version = saved["version"]
            for mine, theirs in zip(self.boxes, saved["boxes"], strict=True):
                mine["id"] = theirs["id"]
            if save:
                self.latencies.append(elapsed)
            time.sleep(self.args.think_ms / 1000 * self.rng.uniform(0.5, 1.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--saves", type=int, default=60, help="per annotator")
    parser.add_argument("--think-ms", type=float, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=180)
    args = parser.parse_args()
    with scratch_django() as scratch:
        from django.db import connection

        if connection.vendor != "postgresql":
            print("NOTE: SQLite scratch database; set DATABASE_URL=postgres://... for the figure")
        project_id, classes, team = _data(args.annotators)
        connection.close()  # the server's processes write; this one only watches
        (scratch / "static").mkdir(exist_ok=True)  # STATIC_ROOT (nothing to serve here)
        port = free_port()
        server = server_start(port, args.workers, args.threads, str(scratch))
        try:
            start = threading.Event()
            stop_at = time.monotonic() + args.max_seconds
            annotators = [
                Annotator(n, port, project_id, classes, token, image_id, args, start, stop_at)
                for n, (token, image_id) in enumerate(team)
            ]
            for annotator in annotators:
                annotator.start()
            began = time.perf_counter()
            start.set()
            for annotator in annotators:
                annotator.join()
            wall = time.perf_counter() - began
        finally:
            server_stop(server)
        latencies = [ms for a in annotators for ms in a.latencies]
        errors = [e for a in annotators for e in a.errors]
        if not latencies:
            print(f"no save succeeded; errors: {errors[:10]}")
            return 1
        p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
        print(
            f"{len(latencies)} saves of {BOXES} boxes by {args.annotators} annotators in "
            f"{wall:.1f} s ({len(latencies) / wall:.0f} saves/s; think time {args.think_ms:.0f} "
            f"ms; gunicorn {args.workers} workers x {args.threads} threads); errors: "
            f"{len(errors)} {sorted(set(errors))}\n"
            f"round trip p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max "
            f"{max(latencies):.1f} ms (target p95 < {TARGET_P95_MS:.0f} ms) -- {machine_note()}"
        )
        return 0 if p95 < TARGET_P95_MS and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
