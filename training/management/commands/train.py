"""`python manage.py train PROJECT`: start a training run from a script, optionally wait."""

from __future__ import annotations

import json
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from training import services
from training.models import ModelVersion, RunStatus, TrainingRun
from training.start_from import origin_text, start_point


class Command(BaseCommand):
    help = "Start a training run of a project (by id or name); --wait follows it to the end."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument(
            "--preset",
            choices=["fast", "balanced", "accurate"],
            help="default: fast, or the preset of the model in --start-from",
        )
        parser.add_argument(
            "--start-from",
            type=int,
            metavar="MODEL_VERSION_ID",
            help="fine-tune from this model version (its id, as in the model API) instead of "
            "the ImageNet backbone",
        )
        parser.add_argument("--time-budget", type=float, help="minutes")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--no-augment", action="store_true")
        parser.add_argument("--wait", action="store_true", help="wait for the run to end")
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args, **options):
        project = project_by_key(options["project"])
        start_model, started_from, preset = None, None, options["preset"] or "fast"
        try:
            if options["start_from"] is not None:
                start_model = ModelVersion.objects.filter(pk=options["start_from"]).first()
                if start_model is None:
                    raise CommandError(f"no model version with id {options['start_from']}")
                preset, started_from = start_point(
                    model=start_model, project=project, preset=options["preset"]
                )
            config = services.run_config(
                preset=preset,
                time_budget_minutes=options["time_budget"],
                epochs=options["epochs"],
                image_size=options["image_size"],
                augment=not options["no_augment"],
                fine_tune=start_model is not None,
            )
            run = services.run_start(
                project=project,
                config=config,
                user=None,
                start_model=start_model,
                started_from=started_from,
            )
        except ValidationError as exc:
            lines = [m for messages in exc.message_dict.values() for m in messages]
            raise CommandError("cannot start training:\n  " + "\n  ".join(lines)) from None
        self.stdout.write(
            f"run {run.pk} queued (project {project.pk}, preset {preset}, "
            f"started from {origin_text(started_from)})"
        )
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
