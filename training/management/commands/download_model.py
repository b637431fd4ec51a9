"""`python manage.py download_model PROJECT --out DIR`: a model version's files for scripts."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studio import media
from training import registry
from training.management.commands.train import project_by_key
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Write a model version's model.onnx, model.json, classes.txt and MODEL_CARD.md "
        "(and, with --blueonyx, its Blue Onyx variant)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version names the model version; it replaces Django's --version.
        kwargs["conflict_handler"] = "resolve"
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument(
            "--version", default="production", help="a version number, production or latest"
        )
        parser.add_argument("--out", required=True, help="folder to write the files into")
        parser.add_argument("--checkpoint", action="store_true", help="also the PyTorch file")
        parser.add_argument(
            "--blueonyx",
            action="store_true",
            help="also blueonyx/model.onnx and blueonyx/model.yaml, for Blue Onyx (rt-detrv2)",
        )

    def handle(
        self,
        *args,
        project: str,
        version: str,
        out: str,
        checkpoint: bool,
        blueonyx: bool = False,
        **options,
    ):
        model = self._model(project_by_key(project), version)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "model.onnx": registry.onnx_bytes(model),
            "model.json": json.dumps(registry.sidecar(model), indent=2).encode(),
            "classes.txt": registry.labels_text(model).encode(),
            "MODEL_CARD.md": registry.model_card(model).encode(),
        }
        if blueonyx:
            with zipfile.ZipFile(io.BytesIO(registry.blueonyx_zip(model))) as archive:
                for name in ("model.onnx", "model.yaml"):
                    files[f"blueonyx/{name}"] = archive.read(name)
            (folder / "blueonyx").mkdir(exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        if checkpoint:  # streamed to disk: a checkpoint may be large
            media.copy_to_local(model.checkpoint_file, folder / "checkpoint.pt")
        written = [*files, *(["checkpoint.pt"] if checkpoint else [])]
        self.stdout.write(
            f"model v{model.version} of {model.project.name!r} written to {folder}: "
            + ", ".join(written)
        )

    def _model(self, project, version: str) -> ModelVersion:
        models = ModelVersion.objects.filter(project=project).select_related(
            "project", "run__dataset_version"
        )
        if version == "production":
            model = models.filter(is_production=True).first()
            if model is None:
                raise CommandError(
                    f"project {project.name!r} has no production model: "
                    "pass --version N or --version latest, or mark one as production"
                )
            return model
        if version == "latest":
            model = models.order_by("-version").first()
        elif version.isdigit():
            model = models.filter(version=int(version)).first()
        else:
            raise CommandError("--version must be a number, production or latest")
        if model is None:
            raise CommandError(f"project {project.name!r} has no model version {version}")
        return model
