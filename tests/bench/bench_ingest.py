"""Benchmark: ingest the 364 BCCD JPEGs (checks, hash, thumbnails, storage, rows).

    make bench-ingest        (or: .venv/bin/python tests/bench/bench_ingest.py [--runs N])

Each run ingests all images into a new project of a scratch database; the figure is the
median images per second. Target: at least 40 images/s on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import time

from _django import DATASETS, machine_note, median, scratch_django

TARGET = 40.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch_django():
        from django.contrib.auth import get_user_model

        from labeling import ingest, services

        files = sorted((DATASETS / "bccd-voc" / "BCCD" / "JPEGImages").glob("*.jpg"))
        user = get_user_model().objects.create_user("bench")
        rates = []
        for run in range(args.runs):
            project = services.project_create(user=user, name=f"bench {run}")
            sources = [ingest.Source(path.name, path) for path in files]
            start = time.perf_counter()
            results = ingest.images_ingest(project=project, sources=sources, user=user)
            elapsed = time.perf_counter() - start
            added = sum(1 for r in results if r.status == "added")
            assert added == len(files), [r for r in results if r.status != "added"][:3]
            rates.append(added / elapsed)
            print(
                f"run {run + 1}: {added} images in {elapsed:.2f} s = {added / elapsed:.1f} images/s"
            )
        rate = median(rates)
        print(f"median: {rate:.1f} images/s (target >= {TARGET:.0f}) -- {machine_note()}")
        return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
