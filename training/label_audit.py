"""The label audit of a model version: its confident detections far from every labelled
box of its test images, which are often objects nobody labelled (training/ml/audit.py).

The worker audits the evaluation report right after the evaluation (training/pipeline.py,
inside the run's time budget: pure numpy on the report and one pycocotools pass) and the
model version keeps the result in ``label_audit``::

    {"status": "done", "split": "test", "images": 36, "min_score": 0.5, "max_iou": 0.3,
     "count": 352, "by_class": {"RBC": 340, ...}, "seconds": 0.4,
     "metrics": {"map50": 0.81, "map": 0.55}, "without": {"map50": 0.9, "map": 0.6, ...},
     "candidates": [{"image_id": 5, "box": [x1, y1, x2, y2], "class": "RBC",
                     "category_id": 3, "score": 0.97}, ...]}      # highest score first

(``box`` in the image's pixels, ``category_id`` the studio's class), or ``{"status":
"unavailable", "reason": "..."}`` when it could not run; the run succeeds either way.

A click on a candidate (the model page's gallery) proposes it to the image as a model
suggestion (labeling's ``suggestion_propose``), which the box editor shows to accept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404

from labeling.models import Category, Image, Suggestion
from labeling.suggestions import suggestion_propose, suggestions_proposed
from training.models import ModelVersion

logger = logging.getLogger(__name__)
LISTED = 1000  # candidates kept on the model version (the most confident; "count" has all)


def _unavailable(reason: str) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason}


def audit_report(*, report: dict[str, Any], coco: dict[str, Any], split: str) -> dict[str, Any]:
    """The audit of an evaluation report of ``coco`` (the evaluated split, with the studio's
    class of each category as ``studio_id``). Never raises: a failure is the result's
    ``reason``, so a run that trained a good model never fails for its audit."""
    started = time.monotonic()
    try:
        result = _audit(report, coco)
    except Exception as exc:  # noqa: BLE001 - the audit is extra: the model stands anyway
        logger.exception("the label audit failed")
        return _unavailable(f"the audit failed after the evaluation ({type(exc).__name__}: {exc})")
    if result["status"] == "done":
        result.update(split=split, seconds=round(time.monotonic() - started, 3))
        logger.info(
            "label audit: %d possible missing labels on %d %s images in %.2f s",
            result["count"],
            result["images"],
            split,
            result["seconds"],
        )
    return result


def _audit(report: dict[str, Any], coco: dict[str, Any]) -> dict[str, Any]:
    from training.ml.audit import MAX_IOU, MIN_SCORE, metrics_without, unlabelled_candidates

    images = (report.get("per_image") or {}).get("images")
    if not images:
        return _unavailable("the evaluation kept no detections of the test images")
    found = sorted(unlabelled_candidates(report), key=lambda c: -c["score"])
    names = {c["category_id"]: c["name"] for c in report["per_class"]}
    studio_ids = {c["id"]: c.get("studio_id") for c in coco["categories"]}
    by_class = dict.fromkeys(names.values(), 0)
    for candidate in found:
        by_class[names[candidate["category_id"]]] += 1
    metrics = report.get("metrics") or {}
    return {
        "status": "done",
        "images": len(images),
        "min_score": MIN_SCORE,
        "max_iou": MAX_IOU,
        "count": len(found),
        "by_class": by_class,
        "metrics": {"map50": metrics.get("map50"), "map": metrics.get("map")},
        "without": metrics_without(report, coco, found) if found else None,
        "candidates": [
            {
                "image_id": c["image_id"],
                "box": [float(v) for v in c["box"]],
                "class": names[c["category_id"]],
                "category_id": studio_ids.get(c["category_id"]),
                "score": c["score"],
            }
            for c in found[:LISTED]
        ],
    }


def _bbox(box: list[float]) -> list[float]:
    """XYXY to COCO ``[x, y, w, h]`` at the report's 0.1 px."""
    x1, y1, x2, y2 = box
    return [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)]


def _class_of(project_id: int):
    """``class_of(candidate)``: the candidate's class in the project now (its pk), the same
    class, else one of its name (the class was deleted and added again); None without."""
    rows = list(Category.objects.filter(project_id=project_id).values_list("pk", "name"))
    pks, by_name = {pk for pk, _ in rows}, {name: pk for pk, name in rows}

    def class_of(candidate: dict[str, Any]) -> int | None:
        pk = candidate.get("category_id")
        return pk if pk in pks else by_name.get(candidate["class"])

    return class_of


def model_audit(*, model: ModelVersion) -> dict[str, Any]:
    """The model's audit as its page and the API show it: the stored figures and the
    candidates on images still in the project, each with ``index`` (its place in the
    stored list), ``bbox`` (COCO, image pixels), its image's name and size (``[w, h]``)
    and the suggestion made of it if any
    (``status``: pending, accepted or rejected; None before a click)."""
    audit = model.label_audit or {}
    if audit.get("status") != "done":
        return {
            "status": audit.get("status", "not_run"),
            "reason": audit.get("reason", ""),
            "candidates": [],
        }
    stored = audit["candidates"]
    image_ids = sorted({c["image_id"] for c in stored})
    rows = Image.objects.filter(project_id=model.project_id, pk__in=image_ids)
    present = {pk: (name, [w, h]) for pk, name, w, h in rows.values_list(
        "pk", "original_name", "width", "height"
    )}  # fmt: skip
    class_of = _class_of(model.project_id)
    proposed = suggestions_proposed(model_id=model.pk, image_ids=sorted(present))
    candidates = []
    for index, c in enumerate(stored):
        if c["image_id"] not in present:
            continue
        bbox = _bbox(c["box"])
        suggestion = proposed.get((c["image_id"], class_of(c), *bbox))
        candidates.append(
            {
                "index": index,
                "image_id": c["image_id"],
                "image_name": present[c["image_id"]][0],
                "image_size": present[c["image_id"]][1],
                "bbox": bbox,
                "class": c["class"],
                "score": c["score"],
                "suggestion": None
                if suggestion is None
                else {"id": suggestion.pk, "status": suggestion.status},
            }
        )
    return {
        **{k: v for k, v in audit.items() if k != "candidates"},
        "listed": len(stored),
        "on_deleted_images": len(stored) - len(candidates),
        "candidates": candidates,
    }


def audit_candidate_propose(*, model: ModelVersion, index: int) -> Suggestion:
    """The suggestion made of the model's audit candidate ``index`` (made now, pending,
    unless made before: then as it stands, perhaps accepted or rejected since).

    Http404 for no such candidate (or its image deleted since); ValidationError when its
    class is no longer a class of the project."""
    stored = (model.label_audit or {}).get("candidates") or []
    if not 0 <= index < len(stored):
        raise Http404("No such candidate of the label audit.")
    candidate = stored[index]
    image = Image.objects.filter(project_id=model.project_id, pk=candidate["image_id"]).first()
    if image is None:
        raise Http404("The candidate's image was deleted.")
    category_id = _class_of(model.project_id)(candidate)
    if category_id is None:
        raise ValidationError(
            f"The class {candidate['class']!r} is no longer a class of this project: add it "
            "again to label this box."
        )
    return suggestion_propose(
        image=image,
        category_id=category_id,
        bbox=_bbox(candidate["box"]),
        score=candidate["score"],
        model_id=model.pk,
        model_version=model.version,
    )
