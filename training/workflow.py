"""The project page's workflow strip: images -> labeled -> trained -> reviewed -> deployed,
each with its count, and the next step to take (a link when the user's role may take it).

Read in a fixed handful of aggregate queries, whatever the project's size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.urls import reverse

from labeling.models import Image, Project
from labeling.permissions import Action, role_allows
from labeling.selectors import tagged_q
from training.models import ModelVersion, RunStatus, TrainingRun
from training.verdict import model_verdict

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)


def _step(key: str, label: str, detail: str, done: bool) -> dict[str, Any]:
    return {"key": key, "label": label, "detail": detail, "done": done}


def _reviewed(latest: ModelVersion | None, production: ModelVersion | None) -> str:
    """A model is chosen for production after its review; until then the newest waits."""
    if production is not None:
        return f"v{production.version} chosen"
    if latest is None:
        return "no model yet"
    map50 = (latest.metrics or {}).get("map50")
    score = f", mAP@0.5 {map50:.3f}" if isinstance(map50, int | float) else ""
    return f"v{latest.version} to review{score}"


def project_workflow(*, project: Project, role: str) -> dict[str, Any]:
    p = project.pk
    images = Image.objects.filter(project=project)
    counts = images.aggregate(total=Count("id"), tagged=Count("id", filter=tagged_q()))
    total, tagged = counts["total"], counts["tagged"]
    untagged = total - tagged
    models = ModelVersion.objects.filter(project=project).defer("evaluation", "label_audit")
    latest = models.select_related("run__dataset_version").order_by("-version").first()
    production = models.filter(is_production=True).first()
    model_count = models.count()
    active = (
        TrainingRun.objects.filter(project=project, status__in=ACTIVE)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    steps = [
        _step("images", "Images", f"{total} image{'s' * (total != 1)}", total > 0),
        _step("labeled", "Labeled", f"{tagged} of {total}", total > 0 and untagged == 0),
        _step(
            "trained",
            "Trained",
            f"{model_count} model{'s' * (model_count != 1)}"
            + (f", run #{active} in progress" if active else ""),
            model_count > 0,
        ),
        _step("reviewed", "Reviewed", _reviewed(latest, production), production is not None),
        _step(
            "deployed",
            "Deployed",
            f"v{production.version} in production" if production else "none in production",
            production is not None,
        ),
    ]
    can = {a: role_allows(role, a) for a in (Action.ANNOTATE, Action.TRAIN, Action.SERVE)}
    first_untagged = (
        images.exclude(tagged_q()).order_by("id").values_list("pk", flat=True).first()
        if untagged
        else None
    )
    label_url = (
        reverse("annotate", args=[p, first_untagged]) + "?tagged=false" if first_untagged else None
    )
    if total == 0:
        step = (
            "images",
            "Add images to label",
            reverse("project-upload", args=[p]),
            Action.ANNOTATE,
        )
    elif tagged == 0:
        step = ("labeled", f"Label the {untagged} untagged images", label_url, Action.ANNOTATE)
    elif active:
        step = (
            "trained",
            f"Follow training run #{active}",
            reverse("run-detail", args=[p, active]),
            None,
        )
    elif latest is None:
        step = (
            "trained",
            f"Train a model on the {tagged} labeled images",
            reverse("train", args=[p]),
            Action.TRAIN,
        )
    elif production is None and not (verdict := model_verdict(latest))["usable"]:
        # never lead to production with a model the studio judges not usable yet
        text = f"v{latest.version} is not usable yet: train again. {verdict['text']}"
        step = ("trained", text, reverse("train", args=[p]), Action.TRAIN)
    elif production is None:
        text = f"Review v{latest.version} (precision, recall, errors) and mark it production"
        step = ("reviewed", text, reverse("model-detail", args=[p, latest.pk]), Action.SERVE)
    elif untagged:
        text = f"Label the {untagged} untagged images, then train again"
        step = ("labeled", text, label_url, Action.ANNOTATE)
    else:
        text = f"Download v{production.version} or call it through the API"
        step = ("deployed", text, reverse("model-detail", args=[p, production.pk]), None)
    key, text, url, action = step
    allowed = action is None or can[action]
    if key == "reviewed" and not allowed:  # anyone may review; an owner marks production
        text, allowed = f"Review v{latest.version}: an owner marks the production model", True
    return {
        "steps": steps,
        "next": {
            "step": key,
            "text": text if allowed else f"{text} (your role cannot: ask an owner or annotator)",
            "url": url if allowed else None,
        },
    }
