"""Benchmark: COCO for a 10,000-image, 100,000-box project; and the streamed export zip.

    make bench-coco          (or: .venv/bin/python tests/bench/bench_coco.py [--runs N])

write: project rows from the database -> Dataset -> annotations.json (images aside).
read:  annotations.json -> Dataset -> image and box rows in a new project, in one
       transaction (the same code as an import, minus decoding the pixels: images aside).
export: the full zip with every image streamed from the storage; peak Python memory is
       measured (tracemalloc) to show that the zip is never held in memory.
pages: the image grid (filters, deep pages), the images API and the health report.
Targets: write and read each under 10 s on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
import tracemalloc
from pathlib import Path

from _django import machine_note, median, scratch_django

IMAGES, BOXES_PER_IMAGE, CLASSES = 10_000, 10, 5
TARGET_SECONDS = 10.0


def make_project(user, scratch: Path, image_bytes: bytes):
    """Rows for 10,000 images and 100,000 boxes, each image a small file in the storage."""
    from django.core.files.storage import default_storage

    from labeling import ingest, services, splits
    from labeling.models import Annotation, Category, Image

    project = services.project_create(user=user, name="bench coco")
    categories = [
        Category.objects.create(project=project, name=f"class{i}", order=i) for i in range(CLASSES)
    ]
    stored = Path(default_storage.location)
    rows = []
    for i in range(IMAGES):
        sha = hashlib.sha256(f"image {i}".encode()).hexdigest()
        file_name, thumb_name = ingest.storage_names(
            project_id=project.pk, sha256=sha, format="jpeg"
        )
        path = stored / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes)
        rows.append(
            Image(
                project=project, file=file_name, thumbnail=thumb_name,
                original_name=f"frame_{i:05d}.jpg", width=640, height=480, sha256=sha,
                bytes=len(image_bytes), format="jpeg", split=splits.default_split(sha),
                status="labeled",
            )
        )  # fmt: skip
    images = Image.objects.bulk_create(rows, batch_size=2000)
    rng = random.Random(0)
    boxes = []
    for image in images:
        for _ in range(BOXES_PER_IMAGE):
            x, y = rng.uniform(0, 600), rng.uniform(0, 440)
            w, h = rng.uniform(2, 640 - x), rng.uniform(2, 480 - y)
            category = categories[rng.randrange(CLASSES)]
            boxes.append(Annotation(image=image, category=category, x=x, y=y, w=w, h=h, area=w * h))
    Annotation.objects.bulk_create(boxes, batch_size=10_000)
    return project


def bench_write(project, out: Path) -> tuple[float, list[Path]]:
    """Seconds to write the COCO files, and where each image's pixels would go."""
    from labeling import formats
    from labeling.dataset_export import dataset_from_project

    start = time.perf_counter()
    dataset, _ = dataset_from_project(project=project)
    destinations = formats.write(dataset, out, "coco")
    return time.perf_counter() - start, destinations


def bench_read(user, folder: Path, run: int) -> float:
    """Read the COCO file and write every row of a new project, as an import does."""
    from django.db import transaction

    from labeling import formats, ingest, services
    from labeling.dataset_import import _Plan, _Prepared, _write
    from labeling.models import DatasetImport

    target = services.project_create(user=user, name=f"bench read {run}")
    start = time.perf_counter()
    dataset = formats.read(folder, "coco")
    plan = _Plan()
    for record in dataset.images:  # what _prepare makes, without decoding pixels
        sha = hashlib.sha256(record.file_name.encode()).hexdigest()
        prepared = ingest.PreparedImage(sha, record.width, record.height, "jpeg", b"", b"")
        names = ingest.storage_names(project_id=target.pk, sha256=sha, format="jpeg")
        row = ingest.image_row(
            project=target, prepared=prepared, names=names, original_name=record.name,
            user=user, split=record.split,
        )  # fmt: skip
        plan.items.append(_Prepared(record, row=row))
    record = DatasetImport(project=target, source_name="bench", created_by=user)
    with transaction.atomic():
        _write(target, dataset, user, plan, record)
    elapsed = time.perf_counter() - start
    assert (record.images_added, record.boxes_added) == (IMAGES, IMAGES * BOXES_PER_IMAGE)
    return elapsed


def bench_export(project, out: Path) -> tuple[float, int, int]:
    from labeling.dataset_export import export_zip_file

    tracemalloc.start()
    start = time.perf_counter()
    size = export_zip_file(project=project, format="coco", path=out)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, size, peak


def bench_pages(project, user) -> dict[str, float]:
    """Milliseconds for grid pages (with filters, deep offsets) and the health report."""
    from django.test import Client
    from django.test.utils import setup_test_environment

    from labeling import health
    from labeling.models import Category

    setup_test_environment()
    client = Client()
    client.force_login(user)
    category = Category.objects.filter(project=project).first()
    base = f"/projects/{project.pk}/images/"
    pages = {
        "grid page 1": base,
        "grid page 100, class + split": f"{base}?category={category.pk}&split=train&page=100",
        "images API, offset 9000": f"/api/v1/projects/{project.pk}/images?limit=48&offset=9000",
    }
    timings = {}
    for label, url in pages.items():
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            response = client.get(url, HTTP_HOST="127.0.0.1")
            runs.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings[label] = median(runs)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        health.project_health(project=project)
        runs.append((time.perf_counter() - start) * 1000)
    timings["health report"] = median(runs)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch_django() as scratch:
        import io

        from django.contrib.auth import get_user_model
        from PIL import Image as PILImage

        picture = io.BytesIO()
        PILImage.effect_noise((640, 480), 60).convert("RGB").save(picture, "JPEG", quality=70)
        user = get_user_model().objects.create_user("bench")
        start = time.perf_counter()
        project = make_project(user, scratch, picture.getvalue())
        setup = time.perf_counter() - start
        print(f"setup: {IMAGES} images, {IMAGES * BOXES_PER_IMAGE} boxes in {setup:.1f} s")

        writes, reads = [], []
        for run in range(args.runs):
            out = scratch / f"coco-{run}"
            seconds, destinations = bench_write(project, out)
            writes.append(seconds)
            for destination in destinations:  # the pixels are aside: empty files instead
                destination.touch()
            reads.append(bench_read(user, out, run))
            print(f"run {run + 1}: write {writes[-1]:.2f} s, read {reads[-1]:.2f} s")
        for label, ms in bench_pages(project, user).items():
            print(f"{label}: {ms:.0f} ms")
        elapsed, size, peak = bench_export(project, scratch / "export.zip")
        ok = median(writes) < TARGET_SECONDS and median(reads) < TARGET_SECONDS
        print(
            f"median: write {median(writes):.2f} s, read {median(reads):.2f} s "
            f"(target < {TARGET_SECONDS:.0f} s each)\n"
            f"export zip with images: {size / 1e6:.0f} MB in {elapsed:.1f} s "
            f"({size / 1e6 / elapsed:.0f} MB/s), peak Python memory {peak / 1e6:.0f} MB\n"
            f"{machine_note()}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
