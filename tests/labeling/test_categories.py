"""Classes: create, rename (boxes kept), delete with box-count confirmation, merge."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labeling import categories
from labeling.models import Annotation, Category, Image

pytestmark = pytest.mark.django_db


def _image(project, n: int) -> Image:
    return Image.objects.create(
        project=project,
        file=f"x/{n}.png",
        thumbnail=f"x/{n}.jpg",
        original_name=f"{n}.png",
        width=100,
        height=80,
        sha256=f"{n:064d}",
        bytes=10,
        format="png",
    )


def _box(image, category, x=1.0) -> Annotation:
    return Annotation.objects.create(image=image, category=category, x=x, y=2, w=10, h=10, area=100)


def test_create_picks_colour_shortcut_and_order(project_team):
    project = project_team["project"]
    first = categories.category_create(project=project, name=" RBC ")
    second = categories.category_create(project=project, name="WBC", shortcut="w")
    third = categories.category_create(project=project, name="Platelets")
    assert first.name == "RBC"
    assert (first.shortcut, second.shortcut, third.shortcut) == ("1", "w", "2")
    assert [c.order for c in (first, second, third)] == [0, 1, 2]
    assert first.color != second.color


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "RBC"}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "New", "shortcut": "1"}, "shortcut"),
        ({"name": "New", "shortcut": "ab"}, "shortcut"),
        ({"name": "New", "color": "red"}, "color"),
    ],
)
def test_create_refuses_bad_input(project_team, fields, field):
    project = project_team["project"]
    categories.category_create(project=project, name="RBC")
    with pytest.raises(ValidationError) as error:
        categories.category_create(project=project, **fields)
    assert field in error.value.message_dict


def test_same_name_in_another_project_is_fine(project_team):
    categories.category_create(project=project_team["project"], name="RBC")
    categories.category_create(project=project_team["other"], name="RBC")


def test_rename_keeps_boxes(project_team):
    project = project_team["project"]
    rbc = categories.category_create(project=project, name="RBC")
    image = _image(project, 1)
    _box(image, rbc)
    categories.category_update(category=rbc, name="Red blood cell", shortcut="r")
    box = Annotation.objects.get()
    assert box.category.name == "Red blood cell"
    assert box.category.shortcut == "r"


def test_delete_with_boxes_needs_the_count(project_team):
    project = project_team["project"]
    rbc = categories.category_create(project=project, name="RBC")
    image = _image(project, 1)
    _box(image, rbc)
    _box(image, rbc, x=20)
    with pytest.raises(categories.BoxDeletionNotConfirmed) as refusal:
        categories.category_delete(category=rbc)
    assert refusal.value.box_count == 2
    with pytest.raises(categories.BoxDeletionNotConfirmed):
        categories.category_delete(category=rbc, confirm_box_count=1)
    assert Annotation.objects.count() == 2
    assert categories.category_delete(category=rbc, confirm_box_count=2) == 2
    assert Annotation.objects.count() == 0
    assert not Category.objects.filter(pk=rbc.pk).exists()
    image.refresh_from_db()
    assert image.annotation_version == 1


def test_merge_moves_boxes(project_team):
    project = project_team["project"]
    rbc = categories.category_create(project=project, name="RBC")
    red = categories.category_create(project=project, name="red cell")
    image = _image(project, 1)
    _box(image, rbc)
    _box(image, red)
    assert categories.category_merge(source=red, target=rbc) == 1
    assert list(Category.objects.filter(project=project)) == [rbc]
    assert Annotation.objects.filter(category=rbc).count() == 2


def test_merge_across_projects_is_refused(project_team):
    mine = categories.category_create(project=project_team["project"], name="RBC")
    theirs = categories.category_create(project=project_team["other"], name="RBC")
    with pytest.raises(ValidationError):
        categories.category_merge(source=mine, target=theirs)


def test_api_delete_asks_then_deletes(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    url = reverse("api-categories", args=[project.pk])
    created = client.post(url, {"name": "RBC", "color": "#112233"}, format="json")
    assert created.status_code == 201, created.json()
    category = Category.objects.get(pk=created.json()["id"])
    _box(_image(project, 1), category)
    listed = client.get(url).json()
    assert listed == [
        {"id": category.pk, "name": "RBC", "color": "#112233", "shortcut": "1", "order": 0,
         "box_count": 1}
    ]  # fmt: skip
    detail = reverse("api-category", args=[project.pk, category.pk])
    asked = client.delete(detail)
    assert asked.status_code == 409
    assert asked.json()["box_count"] == 1
    assert "1 box" in asked.json()["detail"]
    assert client.delete(f"{detail}?confirm_box_count=1").status_code == 204
    assert not Annotation.objects.exists()


def test_api_merge_and_foreign_target(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    a = categories.category_create(project=project, name="a")
    b = categories.category_create(project=project, name="b")
    foreign = categories.category_create(project=project_team["other"], name="c")
    url = reverse("api-category-merge", args=[project.pk, a.pk])
    assert client.post(url, {"into": foreign.pk}, format="json").status_code == 404
    response = client.post(url, {"into": b.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "b"


def test_api_validation_error_shape(project_team, api_client_for):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    url = reverse("api-categories", args=[project.pk])
    client.post(url, {"name": "RBC"}, format="json")
    response = client.post(url, {"name": "RBC"}, format="json")
    assert response.status_code == 400
    assert "already a class" in response.json()["detail"]
