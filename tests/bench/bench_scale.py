"""Benchmark: a 100,000-image, 1,000,000-box project on PostgreSQL, page by page.

    make bench-scale      (or: .venv/bin/python tests/bench/bench_scale.py [--runs N])

The project is built once, in a database of its own (BENCH_SCALE_DATABASE_URL, default
postgres://root@127.0.0.1:5432/bench_scale; created if missing, migrated on every run,
the project reused when it is there), with SQL ``INSERT ... SELECT generate_series``:
rows only, every image row pointing at one shared tiny JPEG (the rows are what is
measured). 80,000 images are labeled with 12 or 13 boxes of 10 classes (1,000,000 boxes);
20,000 are unlabeled; one finished pre-label job has a result for every image (it ran
before most were labeled).

Each figure is the median of --runs requests through Django's test client (in process,
DEBUG off), with the number of SQL queries of one request. The COCO export runs in a
child process, so that its peak memory (ru_maxrss) is its own. Results go to
bench-results/scale.json and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "bench-results"
DATA_DIR = OUT / "scale-data"
DATABASE_URL = os.environ.get(
    "BENCH_SCALE_DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_scale"
)
PROJECT_NAME = "bench scale 100k"
IMAGES, LABELED, CLASSES = 100_000, 80_000, 10


def setup_django() -> None:
    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        STUDIO_DATA_DIR=str(DATA_DIR),
        DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver,127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("MEDIA_ROOT", None)
    (DATA_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise's STATIC_ROOT
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.conf import settings

    # Pages without collectstatic: plain static URLs (the manifest is a deployment step).
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": static}


def ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')


def tiny_jpeg() -> bytes:
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (120, 80, 40)).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


def build(log) -> dict:
    """The project (built if missing) and the ids the measurements use."""
    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage
    from django.db import connection, transaction

    from labeling import services
    from labeling.models import Category, Image, Project
    from training.models import DatasetVersion, PrelabelResult, TrainingRun

    user, _ = get_user_model().objects.get_or_create(username="bench-scale")
    project = Project.objects.filter(name=PROJECT_NAME).first()
    if project and Image.objects.filter(project=project).count() == IMAGES:
        log(f"reusing project {project.pk} ({IMAGES:,} images)")
        if not PrelabelResult.objects.filter(job__project=project).count() == IMAGES:
            TrainingRun.objects.filter(
                project=project, dataset_version__content_hash="bench"
            ).delete()
            DatasetVersion.objects.filter(project=project, content_hash="bench").delete()
            _prelabel_job(project, user, cursor_size=IMAGES)
            log("remade the pre-label job (over every image)")
        return _ids(project, user)
    if project:
        project.delete()
    start = time.perf_counter()
    data = tiny_jpeg()
    shared = "bench/shared.jpg"
    if default_storage.exists(shared):
        default_storage.delete(shared)
    default_storage.save(shared, __import__("io").BytesIO(data))
    with transaction.atomic():
        project = services.project_create(user=user, name=PROJECT_NAME)
        for i in range(CLASSES):
            Category.objects.create(project=project, name=f"class{i}", order=i)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO labeling_image (project_id, file, thumbnail, original_name, width,
                    height, sha256, bytes, format, split, status, no_objects,
                    annotation_version, review_comment, created_at)
                SELECT %s, %s, %s, 'frame_' || lpad(g::text, 6, '0') || '.jpg', 640, 480,
                    md5(g::text) || md5('x' || g::text), %s, 'jpeg',
                    CASE g %% 10 WHEN 0 THEN 'test' WHEN 1 THEN 'val' ELSE 'train' END,
                    CASE WHEN g <= %s THEN 'labeled' ELSE 'unlabeled' END,
                    false, CASE WHEN g <= %s THEN 1 ELSE 0 END, '', now()
                FROM generate_series(1, %s) g
                """,
                [project.pk, shared, shared, len(data), LABELED, LABELED, IMAGES],
            )
            categories = list(Category.objects.filter(project=project).values_list("pk", flat=True))
            cursor.execute(
                """
                INSERT INTO labeling_annotation (image_id, category_id, x, y, w, h, area,
                    created_at, updated_at)
                SELECT i.id, (%s::int[])[1 + (i.id * 7 + s) %% %s], b.x, b.y, b.w, b.h,
                    b.w * b.h, now(), now()
                FROM labeling_image i
                CROSS JOIN LATERAL generate_series(1, 12 + (i.id %% 2)) s
                CROSS JOIN LATERAL (SELECT random() * 500 + 0 * s AS x, random() * 380 AS y,
                    4 + random() * 130 AS w, 4 + random() * 90 AS h) b
                WHERE i.project_id = %s AND i.status = 'labeled'
                """,
                [categories, CLASSES, project.pk],
            )
        _prelabel_job(project, user, cursor_size=IMAGES)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE labeling_image; ANALYZE labeling_annotation;")
    log(f"built project {project.pk} in {time.perf_counter() - start:.0f} s")
    return _ids(project, user)


def _prelabel_job(project, user, cursor_size: int) -> None:
    """A finished pre-label job over the unlabeled images, with a fake model behind it."""
    from django.db import connection
    from django.utils import timezone

    from training.models import DatasetVersion, ModelVersion, PrelabelJob, TrainingRun

    version = DatasetVersion.objects.create(
        project=project, content_hash="bench", coco_file="bench/none.json", image_count=0,
        box_count=0, class_names=[f"class{i}" for i in range(CLASSES)],
    )  # fmt: skip
    run = TrainingRun.objects.create(project=project, dataset_version=version, status="succeeded")
    model = ModelVersion.objects.create(
        project=project, run=run, version=1, onnx_file="bench/none.onnx", onnx_sha256="0" * 64,
        checkpoint_file="bench/none.pt",
    )  # fmt: skip
    job = PrelabelJob.objects.create(
        project=project, model=model, status="succeeded", total=cursor_size,
        processed=cursor_size, finished_at=timezone.now(), created_by=user,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO training_prelabelresult (job_id, image_id, uncertainty, borderline,
                suggested, max_score)
            SELECT %s, i.id, random(), (random() * 4)::int, (random() * 6)::int, random()
            FROM labeling_image i WHERE i.project_id = %s
            """,
            [job.pk, project.pk],
        )


def _ids(project, user) -> dict:
    from labeling.models import Category, Image
    from training.models import PrelabelJob

    images = Image.objects.filter(project=project).order_by("id")
    job = PrelabelJob.objects.filter(project=project).order_by("-id").first()
    return {
        "project": project,
        "user": user,
        "category": Category.objects.filter(project=project).order_by("id")[3].pk,
        "editor_image": images.values_list("pk", flat=True)[IMAGES // 2],
        "job": job,
    }


def _prepare_ranking(ids: dict, log) -> None:
    """Order the pre-label job's results as the job's end does (when the code does)."""
    from training import prelabel

    rank = getattr(prelabel, "results_rank", None)
    if rank is not None and ids["job"] is not None:
        start = time.perf_counter()
        rank(job=ids["job"])
        elapsed = time.perf_counter() - start
        log(f"ranked the job's results (as the pre-label job's end does) in {elapsed:.2f} s")


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    status = None
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        times.append(time.perf_counter() - start)
        status = response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
    return {
        "url": url,
        "status": status,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "queries": len(queries),
    }


def pages(ids: dict, runs: int) -> dict:
    from django.test import Client

    project = ids["project"].pk
    client = Client()
    client.force_login(ids["user"])
    deep = IMAGES // 48 - 2
    urls = {
        "project page": f"/projects/{project}/",
        "image grid, page 1": f"/projects/{project}/images/",
        f"image grid, page {deep}": f"/projects/{project}/images/?page={deep}",
        "category filter, page 1": f"/projects/{project}/images/?category={ids['category']}",
        "category filter, page 200": (
            f"/projects/{project}/images/?category={ids['category']}&page=200"
        ),
        "editor page": f"/projects/{project}/annotate/{ids['editor_image']}/",
        "health page": f"/projects/{project}/health/",
        "health API": f"/api/v1/projects/{project}/health",
        "label next most useful (API)": f"/api/v1/projects/{project}/images/most-useful",
    }
    return {name: measure(client, url, runs) for name, url in urls.items()}


def freeze(ids: dict, runs: int) -> dict:
    """Freezing a version (the worker's job) and the Train request that asks for it."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from training import datasets
    from training.models import DatasetVersion, TrainingRun

    project = ids["project"]
    times, queries = [], 0
    for _ in range(runs):
        DatasetVersion.objects.filter(project=project).exclude(content_hash="bench").filter(
            runs__isnull=True
        ).delete()
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            version = datasets.dataset_version_freeze(project=project, user=None)
        times.append(time.perf_counter() - start)
        queries = len(captured)
    result = {
        "freeze a dataset version": {
            "median_ms": round(statistics.median(times) * 1000, 1),
            "min_ms": round(min(times) * 1000, 1),
            "queries": queries,
            "images": version.image_count,
            "boxes": version.box_count,
        }
    }
    client = Client()
    client.force_login(ids["user"])
    url = f"/api/v1/projects/{project.pk}/runs"
    before = set(TrainingRun.objects.filter(project=project).values_list("pk", flat=True))
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, {"epochs": 1}, content_type="application/json")
    elapsed = time.perf_counter() - start
    created = TrainingRun.objects.filter(project=project).exclude(pk__in=before)
    created.delete()
    result["Train request (POST runs)"] = {
        "url": url,
        "status": response.status_code,
        "median_ms": round(elapsed * 1000, 1),
        "min_ms": round(elapsed * 1000, 1),
        "queries": len(captured),
        "runs": 1,
    }
    return result


def export_probe() -> None:
    """In a child process: the COCO export through the API; its own peak memory."""
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from labeling.models import Project

    project = Project.objects.get(name=PROJECT_NAME)
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-scale"))
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    url = f"/api/v1/projects/{project.pk}/export/coco"
    start = time.perf_counter()
    first = None
    size = 0
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        for piece in response.streaming_content:
            if piece and first is None:
                first = time.perf_counter() - start
            size += len(piece)
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "url": url,
                "status": response.status_code,
                "first_byte_s": round(first or total, 2),
                "total_s": round(total, 1),
                "bytes": size,
                "rss_before_mb": round(rss_start / 1024),
                "peak_rss_mb": round(peak / 1024),
                "queries": len(captured),
            }
        )
    )


def export(runs: int) -> dict:
    figures = []
    for _ in range(runs):
        child = subprocess.run(
            [sys.executable, __file__, "--export-probe"],
            capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        )  # fmt: skip
        figures.append(json.loads(child.stdout.strip().splitlines()[-1]))
    middle = sorted(figures, key=lambda f: f["total_s"])[len(figures) // 2]
    middle["runs"] = runs
    middle["first_byte_s"] = statistics.median(f["first_byte_s"] for f in figures)
    return {"COCO export (API, zip with images)": middle}


def table(results: dict) -> str:
    lines = ["| what | median | queries | notes |", "|---|---:|---:|---|"]
    for name, r in results.items():
        if "first_byte_s" in r:
            notes = (
                f"first byte {r['first_byte_s']} s; {r['bytes'] / 1e6:.0f} MB; peak RSS "
                f"{r['peak_rss_mb']} MB (from {r['rss_before_mb']} MB)"
            )
            lines.append(f"| {name} | {r['total_s']} s | {r['queries']} | {notes} |")
        else:
            notes = f"HTTP {r['status']}" if "status" in r else f"{r['images']:,} images"
            if "boxes" in r:
                notes += f", {r['boxes']:,} boxes"
            lines.append(f"| {name} | {r['median_ms']:.0f} ms | {r['queries']} | {notes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="requests per page (median)")
    parser.add_argument("--freeze-runs", type=int, default=3)
    parser.add_argument("--export-runs", type=int, default=1)
    parser.add_argument("--label", default="", help="a name for this result file")
    parser.add_argument("--skip", default="", help="comma list: pages,freeze,export")
    parser.add_argument("--export-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_probe:
        return export_probe()
    ensure_database()
    setup_django()
    from django.core.management import call_command

    def log(message: str) -> None:
        print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", flush=True)

    call_command("migrate", verbosity=0)
    ids = build(log)
    _prepare_ranking(ids, log)
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {}
    if "pages" not in skip:
        log("pages...")
        results.update(pages(ids, args.runs))
    if "export" not in skip:
        log("COCO export...")
        results.update(export(args.export_runs))
    if "freeze" not in skip:
        log("freezing...")
        results.update(freeze(ids, args.freeze_runs))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    machine = f"{os.cpu_count()} cores; load average {load}; PostgreSQL"
    OUT.mkdir(exist_ok=True)
    name = f"scale-{args.label}.json" if args.label else "scale.json"
    (OUT / name).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(table(results))
    print(f"machine: {machine}; medians of {args.runs} requests (freeze {args.freeze_runs})")


if __name__ == "__main__":
    main()
