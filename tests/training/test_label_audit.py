"""The label audit in the studio (training/label_audit.py): a run stores its model's
possible missing labels, the model page and the API list them for members only, and a
click makes one a suggestion of its image that the annotation save accepts."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from labeling import ingest
from labeling.models import Annotation, Category, Image, Suggestion, SuggestionStatus
from labeling.suggestions import ProposedBox, SuggestionSource, suggestions_replace
from tests.labeling.annotation_helpers import put
from tests.labeling.imagefiles import image_bytes
from training import label_audit
from training.ml.evaluate import evaluate_predictions

pytestmark = pytest.mark.django_db


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def test_a_run_stores_the_audit_of_its_test_images(reviewed_model):
    """The pipeline's own evaluate-and-export step (a real tiny model) audits the report:
    the stored candidates are exactly the detections scoring >= 0.5 that overlap no
    labelled box by 0.3, recomputed here from the report's detections."""
    audit = reviewed_model.label_audit
    images = reviewed_model.evaluation["per_image"]["images"]
    expected = sorted(
        (
            (image["id"], d[:4], d[4])
            for image in images
            for d in image["det"]
            if d[4] >= 0.5 and all(_iou(d, g) < 0.3 for g in image["gt"])
        ),
        key=lambda c: -c[2],
    )
    assert audit["status"] == "done"
    assert (audit["split"], audit["images"], audit["min_score"], audit["max_iou"]) == (
        "test",
        12,
        0.5,
        0.3,
    )
    assert audit["count"] == len(expected)
    assert [(c["image_id"], c["box"], c["score"]) for c in audit["candidates"]] == expected
    assert sum(audit["by_class"].values()) == len(expected)
    assert audit["metrics"]["map50"] == reviewed_model.metrics["map50"]
    assert audit["seconds"] < 5  # numpy on the report and one pycocotools pass


@pytest.fixture
def audited(project_team, stored_model):
    """Two 100 x 100 images of the project with one labelled "cell" each, a model whose
    report finds the labelled cells and, on the first image, a cell nobody labelled."""
    project = project_team["project"]
    cell = Category.objects.create(project=project, name="cell")
    sources = [
        ingest.Source(name, io.BytesIO(image_bytes(size=(100, 100), color=colour)))
        for name, colour in (("a.png", (200, 50, 50)), ("b.png", (50, 50, 200)))
    ]
    results = ingest.images_ingest(project=project, sources=sources)
    first, second = (Image.objects.get(pk=r.image_id) for r in results)
    coco = {
        "images": [
            {"id": image.pk, "file_name": image.file.name, "width": 100, "height": 100}
            for image in (first, second)
        ],
        "annotations": [
            {"id": 1, "image_id": first.pk, "category_id": 1, "bbox": [0, 0, 20, 20]},
            {"id": 2, "image_id": second.pk, "category_id": 1, "bbox": [10, 10, 30, 30]},
        ],
        "categories": [{"id": 1, "name": "cell", "studio_id": cell.pk}],
    }
    predictions = [
        {
            "image_id": first.pk,
            "boxes": [[60, 60, 80, 80], [0, 0, 20, 20], [70, 0, 90, 10]],
            "scores": [0.9, 0.8, 0.3],  # the unlabelled cell first; an unsure far box
            "category_ids": [1, 1, 1],
        },
        {"image_id": second.pk, "boxes": [[10, 10, 40, 40]], "scores": [0.7], "category_ids": [1]},
    ]
    report = evaluate_predictions(coco, predictions)
    model = stored_model(1)
    model.evaluation = report
    model.metrics = report["metrics"]
    model.label_audit = label_audit.audit_report(report=report, coco=coco, split="test")
    model.save()
    return {"model": model, "images": (first, second), "cell": cell, "coco": coco}


def test_the_audit_of_a_report_in_image_pixels_and_the_studio_s_class(audited):
    model, (first, _), cell = audited["model"], audited["images"], audited["cell"]
    audit = model.label_audit
    assert audit["count"] == 1
    assert audit["by_class"] == {"cell": 1}
    assert audit["candidates"] == [
        {
            "image_id": first.pk,
            "box": [60.0, 60.0, 80.0, 80.0],
            "class": "cell",
            "category_id": cell.pk,
            "score": 0.9,
        }
    ]
    assert audit["metrics"]["map50"] < 0.9  # the unlabelled cell ranks first: an "error"
    assert audit["without"]["map50"] == pytest.approx(1.0)
    shown = label_audit.model_audit(model=model)
    [candidate] = shown["candidates"]
    assert candidate == {
        "index": 0,
        "image_id": first.pk,
        "image_name": "a.png",
        "image_size": [100, 100],
        "bbox": [60.0, 60.0, 20.0, 20.0],  # COCO [x, y, w, h], as the editor's boxes
        "class": "cell",
        "score": 0.9,
        "suggestion": None,
    }
    assert (shown["listed"], shown["on_deleted_images"]) == (1, 0)


def test_a_candidate_becomes_one_suggestion_and_the_save_accepts_it(audited, project_team):
    model, (first, _), cell = audited["model"], audited["images"], audited["cell"]
    suggestion = label_audit.audit_candidate_propose(model=model, index=0)
    assert (suggestion.image_id, suggestion.category_id, suggestion.bbox) == (
        first.pk,
        cell.pk,
        [60.0, 60.0, 20.0, 20.0],
    )
    assert (suggestion.status, suggestion.job_id, suggestion.model_id) == (
        "pending",
        None,
        model.pk,
    )
    assert suggestion.model_version == model.version and suggestion.score == 0.9
    # Proposed once: a second click finds the same suggestion.
    assert label_audit.audit_candidate_propose(model=model, index=0).pk == suggestion.pk
    assert Suggestion.objects.count() == 1
    [shown] = label_audit.model_audit(model=model)["candidates"]
    assert shown["suggestion"] == {"id": suggestion.pk, "status": "pending"}

    # The editor's ordinary save accepts it: a normal box, the suggestion accepted.
    client = Client()
    client.force_login(project_team["users"]["annotator"])
    box = {"category_id": cell.pk, "bbox": suggestion.bbox, "suggestion_id": suggestion.pk}
    response = put(client, first, {"base_version": 0, "boxes": [box]})
    assert response.status_code == 200, response.content
    [saved] = response.json()["boxes"]
    assert saved["origin"]["job"] is None and saved["origin"]["model_id"] == model.pk
    annotation = Annotation.objects.get(image=first, x=60.0, y=60.0, w=20.0, h=20.0)
    assert annotation.category_id == cell.pk
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.annotation_id) == ("accepted", annotation.pk)
    [shown] = label_audit.model_audit(model=model)["candidates"]
    assert shown["suggestion"] == {"id": suggestion.pk, "status": "accepted"}
    # Once decided, a click opens the same (accepted) suggestion: no second box offered.
    assert label_audit.audit_candidate_propose(model=model, index=0).pk == suggestion.pk


def test_a_later_prelabel_job_supersedes_it_and_a_click_proposes_it_again(audited):
    model, (first, _), cell = audited["model"], audited["images"], audited["cell"]
    old = label_audit.audit_candidate_propose(model=model, index=0)
    source = SuggestionSource(job_id=77, model_id=model.pk, model_version=model.version)
    box = ProposedBox(image_id=first.pk, category_id=cell.pk, bbox=(1, 1, 5, 5), score=0.4)
    suggestions_replace(source=source, image_ids=[first.pk], boxes=[box])
    old.refresh_from_db()
    assert old.status == SuggestionStatus.SUPERSEDED
    assert label_audit.model_audit(model=model)["candidates"][0]["suggestion"] is None
    again = label_audit.audit_candidate_propose(model=model, index=0)
    assert again.pk != old.pk and again.status == SuggestionStatus.PENDING


def test_a_class_deleted_and_added_again_by_name_is_found(audited):
    model = audited["model"]
    audited["cell"].delete()
    with pytest.raises(Exception, match="'cell' is no longer a class of this project"):
        label_audit.audit_candidate_propose(model=model, index=0)
    again = Category.objects.create(project=model.project, name="cell")
    assert label_audit.audit_candidate_propose(model=model, index=0).category_id == again.pk


def test_zero_candidates_and_an_audit_that_could_not_run(audited):
    coco = audited["coco"]
    labelled = [  # each labelled box found, nothing else
        {"image_id": a["image_id"], "boxes": [[x, y, x + w, y + h]], "scores": [0.9],
         "category_ids": [1]}
        for a in coco["annotations"]
        for x, y, w, h in [a["bbox"]]
    ]  # fmt: skip
    report = evaluate_predictions(coco, labelled)
    none = label_audit.audit_report(report=report, coco=coco, split="val")
    assert (none["status"], none["count"], none["candidates"], none["without"]) == (
        "done",
        0,
        [],
        None,
    )
    assert none["split"] == "val"
    old = label_audit.audit_report(report={"metrics": {}}, coco=coco, split="test")
    assert old == {
        "status": "unavailable",
        "reason": "the evaluation kept no detections of the test images",
    }
    # A report the audit cannot read (a candidate of no class): it never raises.
    broken = {**audited["model"].evaluation, "per_class": []}
    failed = label_audit.audit_report(report=broken, coco=coco, split="test")
    assert failed["status"] == "unavailable"
    assert failed["reason"].startswith("the audit failed after the evaluation (KeyError: 1)")


# --- The page and the API -----------------------------------------------------------------


def _page(model, user):
    client = Client()
    client.force_login(user)
    return client.get(reverse("model-detail", args=[model.project_id, model.pk]))


def _page_data(response) -> dict:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>',
                      response.content.decode(), re.S)  # fmt: skip
    return json.loads(found.group(1))


def _section(response) -> str:
    html = response.content.decode()
    start = html.index('id="missing-labels"')
    return re.sub(r"\s+", " ", html[start : html.index("</section>", start)])


def test_the_model_page_lists_the_candidates(audited, project_team):
    model = audited["model"]
    response = _page(model, project_team["users"]["annotator"])
    section = _section(response)
    assert "Possible missing labels" in section
    assert (
        "<strong>1</strong> confident detection (score at least 0.50) overlaps no labelled box "
        "(IoU under 0.30) on the 2 test images"
    ) in section
    assert "By class: cell 1." in section
    assert "Without them, test mAP@0.5 would be <strong>1.000</strong>" in section
    assert f"(it is {model.metrics['map50']:.3f} with them counted as false positives)" in section
    assert "Click one to open its image in the editor" in section
    data = _page_data(response)
    assert data["can_annotate"] is True
    assert [c["bbox"] for c in data["audit"]["candidates"]] == [[60.0, 60.0, 20.0, 20.0]]
    assert (
        data["api"]["audit_suggestion"] == f"/api/v1/models/{model.pk}/audit/{{index}}/suggestion"
    )
    viewer = _page(model, project_team["users"]["viewer"])
    assert _page_data(viewer)["can_annotate"] is False
    assert "Annotators and owners open each in the editor" in _section(viewer)
    assert _page(model, project_team["users"]["outsider"]).status_code == 404


def test_the_page_says_when_there_is_nothing_or_no_audit(audited, project_team):
    model, owner = audited["model"], project_team["users"]["owner"]
    model.label_audit = {**model.label_audit, "count": 0, "candidates": [], "without": None}
    model.save()
    assert (
        "No possible missing labels: on the 2 test images, every detection scoring at least "
        "0.50 overlaps a labelled box."
    ) in _section(_page(model, owner))
    model.label_audit = {"status": "unavailable", "reason": "the audit failed (KeyError: 1)"}
    model.save()
    assert (
        "The label audit is unavailable for this model: the audit failed (KeyError: 1). The "
        "model itself is not affected."
    ) in _section(_page(model, owner))
    model.label_audit = {}
    model.save()
    assert "it was trained before the studio audited labels" in _section(_page(model, owner))
    assert _page_data(_page(model, owner))["audit"] == {
        "status": "not_run",
        "reason": "",
        "candidates": [],
    }


def test_candidates_on_deleted_images_are_left_out(audited, project_team):
    model, (first, _) = audited["model"], audited["images"]
    first.delete()
    shown = label_audit.model_audit(model=model)
    assert (shown["count"], shown["candidates"], shown["on_deleted_images"]) == (1, [], 1)
    assert "1 on images deleted since are not shown" in _section(
        _page(model, project_team["users"]["owner"])
    )
    with pytest.raises(Exception, match="The candidate's image was deleted"):
        label_audit.audit_candidate_propose(model=model, index=0)


def test_the_audit_api_for_members_only(audited, project_team, api_client_for):
    model, (first, _) = audited["model"], audited["images"]
    users = project_team["users"]
    audit_url = reverse("api-model-audit", args=[model.pk])
    suggest_url = reverse("api-model-audit-suggestion", args=[model.pk, 0])
    got = api_client_for(users["viewer"]).get(audit_url)
    assert got.status_code == 200
    assert got.json()["count"] == 1 and got.json()["candidates"][0]["index"] == 0
    assert api_client_for(users["outsider"]).get(audit_url).status_code == 404
    assert api_client_for(users["outsider"]).post(suggest_url).status_code == 404
    assert api_client_for(users["viewer"]).post(suggest_url).status_code == 403
    assert Suggestion.objects.count() == 0
    made = api_client_for(users["annotator"]).post(suggest_url)
    assert made.status_code == 200, made.content
    [suggestion] = Suggestion.objects.all()
    assert made.json() == {
        "suggestion": {"id": suggestion.pk, "status": "pending"},
        "image": first.pk,
        "editor": f"/projects/{model.project_id}/annotate/{first.pk}/?suggestion={suggestion.pk}",
    }
    # The editor's own list of the image's suggestions has it, like a pre-label job's.
    listed = api_client_for(users["annotator"]).get(
        reverse("api-image-suggestions", args=[model.project_id, first.pk])
    )
    assert [(s["id"], s["bbox"], s["job"]) for s in listed.json()["suggestions"]] == [
        (suggestion.pk, [60.0, 60.0, 20.0, 20.0], None)
    ]
    missing = reverse("api-model-audit-suggestion", args=[model.pk, 1])
    assert api_client_for(users["annotator"]).post(missing).status_code == 404
    audited["cell"].delete()
    refused = api_client_for(users["annotator"]).post(suggest_url)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("The class 'cell' is no longer a class")


def test_the_audit_json_is_not_loaded_where_it_is_not_shown(audited):
    from training import selectors

    [listed] = selectors.model_list(project=audited["model"].project)
    assert "label_audit" in listed.get_deferred_fields()
