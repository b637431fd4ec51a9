"""Readiness before Train: every data problem at once, on the real database, with the
link that fixes each; the same list refuses the Train API and draws the Train page."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, Category, Image
from training.checks import dataset_problems
from training.datasets import project_coco
from training.models import TrainingRun
from training.readiness import project_readiness

pytestmark = pytest.mark.django_db(transaction=True)


def codes(readiness) -> dict[str, str]:
    return {p["code"]: p["level"] for p in readiness["problems"]}


def break_everything(project, settings) -> dict[str, object]:
    """One project with every kind of problem, and what each should point at."""
    settings.STUDIO_MIN_BOXES_PER_CLASS = 20
    empty = Category.objects.create(project=project, name="Empty", order=9)
    Image.objects.filter(project=project).exclude(split="train").update(split="train")
    wbc = Category.objects.get(project=project, name="WBC")
    keep = list(Annotation.objects.filter(category=wbc).order_by("id").values_list("pk")[:2])
    Annotation.objects.filter(category=wbc).exclude(pk__in=[k[0] for k in keep]).delete()
    unlabeled = Image.objects.filter(project=project).order_by("id").last()
    unlabeled.annotations.all().delete()
    return {"empty": empty, "wbc": wbc, "unlabeled": unlabeled}


def test_a_ready_project_has_no_blocking_problem(make_bccd_project, django_assert_num_queries):
    project = make_bccd_project()
    with django_assert_num_queries(4):  # images per split, boxes, classes, left out
        readiness = project_readiness(project=project)
    assert not readiness["blocked"]
    assert all(p["level"] == "warning" for p in readiness["problems"])
    assert {c["name"] for c in readiness["classes"]} == {"RBC", "WBC", "Platelets"}
    assert readiness["images"] == {"train": 8, "val": 3, "test": 3}


def test_every_kind_of_problem_is_listed_together(make_bccd_project, settings, client):
    project = make_bccd_project()
    made = break_everything(project, settings)
    readiness = project_readiness(project=project)
    assert readiness["blocked"]
    assert codes(readiness) == {
        "class_empty": "blocking",  # Empty: no boxes at all
        "class_few_train": "blocking",  # WBC: 2 boxes, and Platelets: under 20
        "val_missing": "blocking",
        "test_missing": "warning",
        "imbalance": "warning",  # RBC vs WBC's 2 boxes
        "left_out": "warning",  # the image whose boxes were deleted
    }
    levels = [p["level"] for p in readiness["problems"]]
    assert levels == sorted(levels)  # blocking ones first
    by_code = {p["code"]: p for p in readiness["problems"]}
    images = f"/projects/{project.pk}/images/"
    assert by_code["class_empty"]["link"] == f"{images}?category={made['empty'].pk}"
    assert "'Empty' has no boxes" in by_code["class_empty"]["message"]
    few = [p for p in readiness["problems"] if p["code"] == "class_few_train"]
    wbc = next(p for p in few if "'WBC'" in p["message"])
    assert "2 boxes in the train split" in wbc["message"]
    assert wbc["link"] == f"{images}?category={made['wbc'].pk}"
    assert by_code["val_missing"]["link"] == f"{images}#resplit"
    assert by_code["test_missing"]["link"] == f"{images}#resplit"
    assert by_code["imbalance"]["link"] == f"{images}?category={made['wbc'].pk}"
    assert "1 image is not labeled" in by_code["left_out"]["message"]
    assert by_code["left_out"]["link"] == f"{images}?status=unlabeled"
    # The links open the pages that fix them.
    client.force_login(project.created_by)
    for problem in readiness["problems"]:
        assert client.get(problem["link"]).status_code == 200, problem

    # The worker's check of a frozen version finds the same blocking problems.
    worker = dataset_problems(
        project_coco(project=project), min_boxes_per_class=20, min_val_images=1
    )
    blocking = [p["message"] for p in readiness["problems"] if p["level"] == "blocking"]
    assert worker == blocking


def test_a_class_missing_from_val_is_a_warning(make_bccd_project):
    project = make_bccd_project()
    Annotation.objects.filter(image__split="val", category__name="Platelets").delete()
    readiness = project_readiness(project=project)
    assert not readiness["blocked"]
    [problem] = [p for p in readiness["problems"] if p["code"] == "class_no_val"]
    assert "'Platelets' has no boxes in the val split" in problem["message"]


def test_train_api_refuses_with_every_problem(make_bccd_project, settings, api_client_for):
    project = make_bccd_project()
    break_everything(project, settings)
    response = api_client_for(project.created_by).post(
        f"/api/v1/projects/{project.pk}/runs", {"preset": "fast"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    expected = project_readiness(project=project)["problems"]
    assert body["errors"]["problems"] == expected
    assert body["errors"]["dataset"] == [p["message"] for p in expected if p["level"] == "blocking"]
    assert body["detail"] == "dataset: " + body["errors"]["dataset"][0]
    assert len(body["errors"]["dataset"]) >= 4
    assert TrainingRun.objects.count() == 0


def test_warnings_do_not_refuse_a_run(make_bccd_project, api_client_for):
    project = make_bccd_project({"train": 8, "val": 3})  # no test split: a warning
    assert codes(project_readiness(project=project))["test_missing"] == "warning"
    response = api_client_for(project.created_by).post(
        f"/api/v1/projects/{project.pk}/runs", {"preset": "fast"}, format="json"
    )
    assert response.status_code == 201, response.json()


def test_train_page_lists_problems_and_disables_the_button(make_bccd_project, settings, client):
    project = make_bccd_project()
    break_everything(project, settings)
    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.pk}/train/").content.decode()
    assert page.count('data-level="blocking"') == 4
    assert 'data-code="left_out"' in page
    assert '<button type="submit" disabled aria-describedby="train-blocked">' in page
    assert 'id="train-blocked"' in page

    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    Category.objects.filter(project=project, name="Empty").delete()
    Image.objects.filter(pk=Image.objects.filter(project=project).first().pk).update(split="val")
    page = client.get(f"/projects/{project.pk}/train/").content.decode()
    assert 'data-level="blocking"' not in page
    assert '<button type="submit">' in page
