"""Benchmark: the prediction API through HTTP, one 640x480 JPEG per request.

    make bench-predict
    (or: .venv/bin/python tests/bench/bench_predict.py [--model model.onnx] [--requests 200]
         [--clients 4] [--seconds 20] [--workers 2] [--threads 2])

A "fast" preset model (by default trained here for one epoch on 24 BCCD images from the
ImageNet backbone, about half a minute: the latency does not depend on how well it is
trained; or ``--model``, a studio ONNX export such as ``make bench-train``'s) is
registered as a model version of a scratch database, and a gunicorn server (DEBUG off,
``--workers 2 --threads 2``, ONNX Runtime sessions of STUDIO_INFERENCE_THREADS=1 thread)
serves ``POST /api/v1/models/<id>/predict`` on 127.0.0.1, token authenticated. BCCD test
JPEGs (640x480) are sent in turn.

- latency: one client, ``--requests`` requests in a row after a warm-up; round-trip p50
  and p95.
- throughput: ``--clients`` clients sending as fast as they can for ``--seconds``;
  requests per second and their round-trip p50/p95.
- shares: of the single-client round trip, the server's own decode, inference and
  post-processing times (from the response's ``timing_ms``), and the rest (HTTP,
  multipart parsing, authentication, queries, JSON).

The machine's load is printed with the figures. Not a timed test: nothing fails on speed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _django import (
    DATASETS,
    REPO_ROOT,
    free_port,
    machine_note,
    percentile,
    scratch_django,
    server_start,
    server_stop,
)

BCCD = DATASETS / "bccd-voc" / "BCCD"


def train_fast_model(out: Path) -> Path:
    """A fast-preset model, one epoch on 24 BCCD train images, exported to ONNX."""
    import torch

    sys.path.insert(0, str(REPO_ROOT))
    from training.ml.bench import voc_to_coco
    from training.ml.config import TrainConfig
    from training.ml.engine import train
    from training.ml.export import export_onnx

    torch.set_num_threads(2)
    coco = voc_to_coco(BCCD, "train", ["Platelets", "RBC", "WBC"])
    keep = {image["id"] for image in coco["images"][:24]}
    coco["images"] = [i for i in coco["images"] if i["id"] in keep]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
    config = TrainConfig(preset="fast", epochs=1, num_threads=2, early_stopping_patience=None)
    result = train(config, coco=coco, images_dir=BCCD / "JPEGImages", out_dir=out / "run")
    return Path(export_onnx(result.best_checkpoint, out / "model.onnx")["path"])


def register(onnx_path: Path):
    """A project, a model version of ``onnx_path`` and a token; returns (model id, token)."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from rest_framework.authtoken.models import Token

    from labeling import services
    from training.ml.export import read_metadata
    from training.models import DatasetVersion, ModelVersion, RunStatus, TrainingRun

    user = get_user_model().objects.create_user("bench")
    project = services.project_create(user=user, name="predict bench")
    data = onnx_path.read_bytes()
    name = default_storage.save("bench/model.onnx", ContentFile(data))
    version = DatasetVersion.objects.create(
        project=project, content_hash="0" * 64, coco_file="x.json", image_count=0, box_count=0
    )
    run = TrainingRun.objects.create(
        project=project, dataset_version=version, status=RunStatus.SUCCEEDED
    )
    model = ModelVersion.objects.create(
        project=project,
        run=run,
        version=1,
        onnx_file=name,
        onnx_sha256=hashlib.sha256(data).hexdigest(),
        onnx_bytes=len(data),
        checkpoint_file=name,
        export={"metadata": read_metadata(onnx_path)},
        threshold=0.3,
    )
    return model.pk, Token.objects.create(user=user).key


def multipart(jpeg: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="cam.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + jpeg
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, port: int, model_id: int, token: str, bodies) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path = f"/api/v1/models/{model_id}/predict"
        self.token, self.bodies = token, bodies
        self.samples: list[tuple[float, dict]] = []  # (round trip ms, server timing)
        self.errors: list[str] = []

    def one(self, index: int) -> None:
        body, content_type = self.bodies[index % len(self.bodies)]
        headers = {"Authorization": f"Token {self.token}", "Content-Type": content_type}
        began = time.perf_counter()
        self.connection.request("POST", self.path, body, headers)
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - began) * 1000
        if response.status != 200:
            self.errors.append(f"{response.status} {payload[:200]!r}")
            return
        result = json.loads(payload)
        timing = dict(result["results"][0]["timing_ms"], total=result["timing_ms"]["total"])
        self.samples.append((elapsed, timing))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="a studio ONNX export (default: train one)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    files = sorted((BCCD / "JPEGImages").glob("*.jpg"))[-20:]
    bodies = [multipart(path.read_bytes()) for path in files]
    with scratch_django() as scratch:
        from django.db import connection

        onnx_path = args.model or train_fast_model(Path(tempfile.mkdtemp(dir=scratch)))
        model_id, token = register(onnx_path)
        connection.close()
        (scratch / "static").mkdir(exist_ok=True)
        os.environ["STUDIO_INFERENCE_THREADS"] = os.environ.get("STUDIO_INFERENCE_THREADS", "1")
        port = free_port()
        server = server_start(port, args.workers, args.threads, str(scratch))
        try:
            warm = [Client(port, model_id, token, bodies) for _ in range(args.workers * 2)]
            for i in range(5):  # every worker process loads its session
                threads = [threading.Thread(target=c.one, args=(i,)) for c in warm]
                [t.start() for t in threads]
                [t.join() for t in threads]
            single = Client(port, model_id, token, bodies)
            for i in range(args.requests):
                single.one(i)
            stop_at = time.monotonic() + args.seconds
            clients = [Client(port, model_id, token, bodies) for _ in range(args.clients)]

            def hammer(client: Client) -> None:
                i = 0
                while time.monotonic() < stop_at:
                    client.one(i)
                    i += 1

            began = time.perf_counter()
            threads = [threading.Thread(target=hammer, args=(c,)) for c in clients]
            [t.start() for t in threads]
            [t.join() for t in threads]
            wall = time.perf_counter() - began
        finally:
            server_stop(server)
        errors = single.errors + [e for c in clients + warm for e in c.errors]
        if errors or not single.samples:
            print(f"errors: {errors[:5]}")
            return 1
        trips = [ms for ms, _ in single.samples]
        loaded = [ms for c in clients for ms, _ in c.samples]
        mean = {k: statistics.mean(t[k] for _, t in single.samples) for k in single.samples[0][1]}
        trip = statistics.mean(trips)
        rest = trip - mean["decode"] - mean["inference"] - mean["postprocess"]
        print(
            f"model: fast preset ({onnx_path.stat().st_size / 2**20:.1f} MB ONNX), 640x480 "
            f"JPEG, gunicorn {args.workers} workers x {args.threads} threads, "
            f"STUDIO_INFERENCE_THREADS={os.environ['STUDIO_INFERENCE_THREADS']}\n"
            f"single client ({len(trips)} requests): round trip p50 "
            f"{percentile(trips, 0.5):.1f} ms, p95 {percentile(trips, 0.95):.1f} ms "
            f"(mean {trip:.1f} ms)\n"
            f"  shares of the mean round trip: decode {mean['decode']:.1f} ms "
            f"({mean['decode'] / trip:.0%}), inference {mean['inference']:.1f} ms "
            f"({mean['inference'] / trip:.0%}), post-processing {mean['postprocess']:.2f} ms "
            f"({mean['postprocess'] / trip:.0%}), the rest (HTTP, parsing, auth, queries, "
            f"JSON) {rest:.1f} ms ({rest / trip:.0%})\n"
            f"{args.clients} concurrent clients for {wall:.0f} s: {len(loaded) / wall:.1f} "
            f"requests/s, round trip p50 {percentile(loaded, 0.5):.1f} ms, p95 "
            f"{percentile(loaded, 0.95):.1f} ms\n"
            f"-- {machine_note()}"
        )
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
