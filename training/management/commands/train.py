"""`python manage.py train PROJECT`: start a training run from a script, optionally wait."""

from __future__ import annotations

import json
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from training import services
from training.models import RunStatus, TrainingRun


class Command(BaseCommand):
    help = "Start a training run of a project (by id or name); --wait follows it to the end."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--preset", default="fast", choices=["fast", "balanced", "accurate"])
        parser.add_argument("--time-budget", type=float, help="minutes")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--no-augment", action="store_true")
        parser.add_argument("--wait", action="store_true", help="wait for the run to end")
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args, **options):
        project = project_by_key(options["project"])
        try:
            config = services.run_config(
                preset=options["preset"],
                time_budget_minutes=options["time_budget"],
                epochs=options["epochs"],
                image_size=options["image_size"],
                augment=not options["no_augment"],
            )
            run = services.run_start(project=project, config=config, user=None)
        except ValidationError as exc:
            lines = [m for messages in exc.message_dict.values() for m in messages]
            raise CommandError("cannot start training:\n  " + "\n  ".join(lines)) from None
        self.stdout.write(f"run {run.pk} queued (project {project.pk}, preset {options['preset']})")
        if not options["wait"]:
            return
        last = None
        while True:
            run = TrainingRun.objects.get(pk=run.pk)
            state = (run.status, run.epoch, run.phase)
            if state != last:
                self.stdout.write(f"  {run.status}: epoch {run.epoch}/{run.epochs} {run.phase}")
                last = state
            if run.is_finished:
                break
            time.sleep(options["poll"])
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error or 'no error recorded'}")
        self.stdout.write(json.dumps(run.result, indent=2, sort_keys=True))


def project_by_key(key: str) -> Project:
    """A project by id or name, or a CommandError."""
    project = None
    if key.isdigit():
        project = Project.objects.filter(pk=int(key)).first()
    project = project or Project.objects.filter(name=key).first()
    if project is None:
        raise CommandError(f"no project with id or name {key!r}")
    return project
