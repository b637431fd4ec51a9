"""python manage.py export_dataset --project NAME --format FORMAT --out FILE.zip"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling import formats
from labeling.dataset_export import export_zip_file
from labeling.management.commands._common import project_lookup


class Command(BaseCommand):
    help = "Export a project's images and boxes as a dataset zip in the given format."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project id or exact name")
        parser.add_argument("--format", required=True, choices=list(formats.FORMATS))
        parser.add_argument("--out", required=True, type=Path, help="the zip file to write")

    def handle(self, *args, project: str, format: str, out: Path, **options):
        target = project_lookup(project)
        if out.exists():
            raise CommandError(f"{out} exists already: choose another file name.")
        partial = out.with_name(out.name + ".partial")
        try:
            size = export_zip_file(project=target, format=format, path=partial)
        except formats.FormatError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Export failed: {error}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.rename(out)
        self.stdout.write(f"{target.name}: wrote {out} ({size:,} bytes, {format}).")
