"""python manage.py import_dataset PATH --project NAME [--format F] [--owner USERNAME]"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from labeling import formats, services
from labeling.dataset_import import DatasetImportFailed, dataset_import
from labeling.models import Project

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Import a labeled dataset (an annotation file, a folder or a zip) into a project, "
        "creating the project (and its classes) when it does not exist. All or nothing: on "
        "a fatal error (or when no image can be added) nothing is kept, not even the new "
        "project. Re-running it adds no duplicates."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--format", default="auto", choices=["auto", *formats.FORMATS])
        parser.add_argument("--owner", help="owner of a new project (default: the first superuser)")
        parser.add_argument("--report", type=Path, help="also write the import report (JSON)")

    def handle(self, *args, path: Path, project: str, format: str, owner, report, **options):
        if not path.exists():
            raise CommandError(f"Not found: {path}")
        target, created = self._project(project, owner)
        try:
            record = dataset_import(project=target, path=path, format=format, user=None)
        except DatasetImportFailed as failure:
            if created:  # a failed import leaves no empty project behind
                services.project_delete(project=target)
                self.stderr.write(f"Removed the project {target.name!r} created for it.")
            raise CommandError(f"Import failed, nothing was kept: {failure}") from None
        for line in record.report.get("layout", []):
            self.stdout.write(f"Used {line}")
        problems = record.report.get("problems", [])
        for problem in problems[:SHOWN_PROBLEMS]:
            self.stderr.write(f"{problem['kind']}: {problem['item']}: {problem['message']}")
        if len(problems) > SHOWN_PROBLEMS:
            self.stderr.write(f"... and {len(problems) - SHOWN_PROBLEMS} more problem(s)")
        if report:
            report.write_text(json.dumps(record.report, indent=2), encoding="utf-8")
        summary = ", ".join(f"{k} {v}" for k, v in record.report.get("summary", {}).items())
        self.stdout.write(
            f"{target.name} (project {target.pk}): imported {record.format}: "
            f"{record.images_added} images added, {record.images_updated} updated, "
            f"{record.images_skipped} skipped, {record.boxes_added} boxes, "
            f"{record.categories_added} new classes. Problems: {summary or 'none'}."
        )

    def _project(self, name: str, owner: str | None) -> tuple[Project, bool]:
        """The project, and whether it was created for this import."""
        found = Project.objects.filter(name=name).order_by("id")
        if name.isdigit() and not found.exists():
            found = Project.objects.filter(pk=int(name))
        if found.count() > 1:
            raise CommandError(f"Several projects are named {name!r}: give its id instead.")
        if found.exists():
            return found.get(), False
        users = get_user_model().objects
        if owner:
            user = users.filter(username=owner).first()
            if user is None:
                raise CommandError(f"There is no user named {owner!r}.")
        else:
            user = users.filter(is_superuser=True).order_by("id").first()
            if user is None:
                raise CommandError("No superuser exists: name the owner with --owner USERNAME.")
        self.stdout.write(f"Creating the project {name!r}, owned by {user.username}.")
        return services.project_create(user=user, name=name), True
