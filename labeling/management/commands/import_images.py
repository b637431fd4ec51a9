"""python manage.py import_images PROJECT PATH... : add image files, folders and zips."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling import ingest
from labeling.management.commands._common import project_lookup


class Command(BaseCommand):
    help = (
        "Add images to a project (by id or name) from files, folders (walked recursively) "
        "and zip archives. Duplicates are skipped; refused files are listed with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, project: str, paths: list[Path], **options):
        target = project_lookup(project)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"Not found: {', '.join(missing)}")
        results = ingest.images_ingest(
            project=target, sources=ingest.sources_from_paths(paths), user=None
        )
        counts = {"added": 0, "duplicate": 0, "refused": 0}
        for result in results:
            counts[result.status] += 1
            if result.status != "added":
                self.stderr.write(f"{result.status}: {result.name}: {result.reason}")
        self.stdout.write(
            f"{target.name}: {counts['added']} added, {counts['duplicate']} duplicate(s) "
            f"skipped, {counts['refused']} refused."
        )
