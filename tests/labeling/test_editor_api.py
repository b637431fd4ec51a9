"""What the box editor needs from the server: its page, previous/next in the grid's order
and filter, and the classes' keyboard shortcuts set together with a conflict check."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from labeling import categories
from labeling.models import Category, ImageStatus
from tests.labeling.annotation_helpers import make_categories, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def grid(project_team):
    project = project_team["project"]
    images = [make_image(project) for _ in range(6)]
    for image in images[1::2]:  # 1, 3, 5 labeled
        image.status = ImageStatus.LABELED
        image.save()
    make_image(project_team["other"])
    return images


def _neighbours(client, project, image, **query):
    url = reverse("api-image-neighbours", args=[project.pk, image.pk])
    return client.get(url, query)


def test_neighbours_in_grid_order_under_the_grid_filter(project_team, api_client_for, grid):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["viewer"])
    body = _neighbours(client, project, grid[2]).json()
    assert (body["previous"]["id"], body["next"]["id"]) == (grid[1].pk, grid[3].pk)
    assert (body["position"], body["count"]) == (3, 6)
    assert body["next"]["file_url"].endswith(f"/images/{grid[3].pk}/file")

    body = _neighbours(client, project, grid[2], status="unlabeled").json()
    assert (body["previous"]["id"], body["next"]["id"]) == (grid[0].pk, grid[4].pk)
    assert (body["position"], body["count"]) == (2, 3)
    # An image out of the filter (just labeled) still has its neighbours in it.
    body = _neighbours(client, project, grid[3], status="unlabeled").json()
    assert (body["previous"]["id"], body["next"]["id"]) == (grid[2].pk, grid[4].pk)

    ends = _neighbours(client, project, grid[5]).json()
    assert ends["next"] is None and ends["previous"]["id"] == grid[4].pk
    assert _neighbours(client, project, grid[0]).json()["previous"] is None
    assert _neighbours(client, project, grid[0], status="nonsense").status_code == 400


def test_the_editor_page_carries_the_image_its_boxes_and_the_grid_filter(
    project_team, client, grid
):
    project = project_team["project"]
    [rbc] = make_categories(project, "RBC")
    client.force_login(project_team["users"]["annotator"])
    url = reverse("annotate", args=[project.pk, grid[0].pk])
    assert url == f"/projects/{project.pk}/annotate/{grid[0].pk}/"  # others link to it
    response = client.get(url, {"status": "unlabeled", "split": "", "page": "2"})
    assert response.status_code == 200
    data = json.loads(_page_data(response))
    assert data["filters"] == {"status": "unlabeled"}
    assert data["neighbours"]["next"]["id"] == grid[2].pk
    assert data["state"]["version"] == 0 and data["state"]["boxes"] == []
    assert data["image"]["width"] == 640
    assert data["categories"] == [
        {"id": rbc.pk, "name": "RBC", "color": rbc.color, "shortcut": rbc.shortcut}
    ]
    assert data["can"] == {"annotate": True, "review": False}
    assert data["api"]["annotations"] == f"/api/v1/projects/{project.pk}/images/{{id}}/annotations"

    other_image = project_team["other"].images.get()
    assert client.get(reverse("annotate", args=[project.pk, other_image.pk])).status_code == 404


def _page_data(response) -> str:
    html = response.content.decode()
    start = html.index('<script id="page-data" type="application/json">') + len(
        '<script id="page-data" type="application/json">'
    )
    return html[start : html.index("</script>", start)]


def test_grid_thumbnails_open_the_editor_with_the_grid_filter(project_team, client, grid):
    project = project_team["project"]
    client.force_login(project_team["users"]["viewer"])
    response = client.get(reverse("project-images", args=[project.pk]), {"status": "labeled"})
    editor = reverse("annotate", args=[project.pk, grid[1].pk])
    assert f'href="{editor}?status=labeled"' in response.content.decode()


def _put_shortcuts(client, project, pairs):
    url = reverse("api-category-shortcuts", args=[project.pk])
    body = {"shortcuts": [{"category_id": pk, "shortcut": key} for pk, key in pairs]}
    return client.put(url, body, format="json")


def _keys(project) -> dict[str, str]:
    return dict(Category.objects.filter(project=project).values_list("name", "shortcut"))


def test_shortcuts_swap_in_one_request(project_team, api_client_for):
    project = project_team["project"]
    rbc = categories.category_create(project=project, name="RBC")
    wbc = categories.category_create(project=project, name="WBC")
    client = api_client_for(project_team["users"]["annotator"])
    assert _keys(project) == {"RBC": "1", "WBC": "2"}

    response = _put_shortcuts(client, project, [(rbc.pk, "2"), (wbc.pk, "W")])
    assert response.status_code == 200, response.content
    assert _keys(project) == {"RBC": "2", "WBC": "w"}  # letters in lower case
    assert [c["shortcut"] for c in response.json()] == ["2", "w"]
    assert _put_shortcuts(client, project, [(wbc.pk, "")]).status_code == 200
    assert _keys(project) == {"RBC": "2", "WBC": ""}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("wbc", "1")], "would be the shortcut of 'RBC' and 'WBC'"),  # RBC keeps its 1
        ([("rbc", "3"), ("wbc", "3")], "would be the shortcut of"),
        ([("rbc", "d")], "one of the box editor's own keys"),
        ([("rbc", " ")], "space bar"),
        ([("rbc", "?")], "own keys"),
        ([("foreign", "5")], "This project has no class"),
        ([("rbc", "5"), ("rbc", "6")], "Name each class once"),
    ],
)
def test_shortcut_conflicts_are_refused_and_change_nothing(
    project_team, api_client_for, pairs, message
):
    project = project_team["project"]
    ids = {
        "rbc": categories.category_create(project=project, name="RBC").pk,
        "wbc": categories.category_create(project=project, name="WBC").pk,
        "foreign": categories.category_create(project=project_team["other"], name="X").pk,
    }
    client = api_client_for(project_team["users"]["owner"])
    response = _put_shortcuts(client, project, [(ids[name], key) for name, key in pairs])
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert _keys(project) == {"RBC": "1", "WBC": "2"}


def test_a_class_cannot_take_an_editor_key_on_the_project_page_either(project_team):
    project = project_team["project"]
    rbc = categories.category_create(project=project, name="RBC")
    with pytest.raises(categories.ValidationError, match="box editor's own keys"):
        categories.category_update(category=rbc, shortcut="a")
    with pytest.raises(categories.ValidationError, match="box editor's own keys"):
        categories.category_create(project=project, name="WBC", shortcut="N")
