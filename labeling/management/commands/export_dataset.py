"""python manage.py export_dataset --project NAME --format FORMAT --out FILE.zip
[--all-images] [--single-file]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling import formats
from labeling.dataset_export import ExportOptions, export_zip_file
from labeling.management.commands._common import project_lookup


class Command(BaseCommand):
    help = "Export a project's images and boxes as a dataset zip in the given format."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project id or exact name")
        parser.add_argument("--format", required=True, choices=list(formats.FORMATS))
        parser.add_argument("--out", required=True, type=Path, help="the zip file to write")
        parser.add_argument(
            "--all-images",
            action="store_true",
            help="also export unlabeled images (by default only images with boxes or "
            "marked 'no objects': the others would read as confirmed negatives)",
        )
        parser.add_argument(
            "--single-file",
            action="store_true",
            help="COCO: one annotations.json + images/ instead of "
            "annotations/instances_<split>.json + images/<split>/",
        )

    def handle(
        self, *args, project: str, format: str, out: Path, all_images, single_file, **options
    ):
        target = project_lookup(project)
        if single_file and format != "coco":
            raise CommandError("--single-file applies to a COCO export only.")
        if out.exists():
            raise CommandError(f"{out} exists already: choose another file name.")
        partial = out.with_name(out.name + ".partial")
        try:
            size = export_zip_file(
                project=target,
                format=format,
                path=partial,
                options=ExportOptions(include_unlabeled=all_images, single_file=single_file),
            )
        except formats.FormatError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Export failed: {error}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.rename(out)
        self.stdout.write(f"{target.name}: wrote {out} ({size:,} bytes, {format}).")
