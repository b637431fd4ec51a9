"""Image management: delete one or many images, sort, search by name, tagged or not.

Deleting takes an image's boxes, history and files; a frozen dataset version keeps its
COCO file and the image files it names, and a run on it still trains.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from labeling import annotations
from labeling.models import Annotation, AnnotationChange, Category, Image
from labeling.services import images_delete
from tests.browser.editor_pages import make_images
from tests.labeling.test_image_grid import _images
from tests.training.conftest import TINY_CONFIG, make_bccd_project  # noqa: F401 - a fixture
from training import pipeline
from training.datasets import dataset_version_coco, dataset_version_freeze
from training.models import RunStatus, TrainingRun
from training.services import run_start

pytestmark = pytest.mark.django_db


def _delete(client, project, ids):
    return client.post(
        reverse("api-images-delete", args=[project.pk]), {"image_ids": ids}, format="json"
    )


def test_deleting_images_takes_their_boxes_history_and_files(
    project_team, api_client_for, django_capture_on_commit_callbacks
):
    project, owner = project_team["project"], project_team["users"]["owner"]
    cell = Category.objects.create(project=project, name="cell")
    images = make_images(project, 3)
    for image in images:
        annotations.annotations_save(
            image=image, user=owner, base_version=0,
            boxes=[{"category_id": cell.pk, "bbox": [10, 10, 40, 40]}],
        )  # fmt: skip
    files = [(image.file.name, image.thumbnail.name) for image in images]
    assert all(default_storage.exists(name) for pair in files for name in pair)
    other = make_images(project_team["other"], 1)[0]

    with django_capture_on_commit_callbacks(execute=True):
        response = _delete(api_client_for(owner), project, [images[0].pk, images[2].pk, other.pk])

    assert response.status_code == 200, response.content
    assert response.json() == {"deleted": 2}  # another project's image is not touched
    assert list(Image.objects.filter(project=project)) == [images[1]]
    assert Image.objects.filter(pk=other.pk).exists()
    assert set(Annotation.objects.values_list("image_id", flat=True)) == {images[1].pk}
    assert set(AnnotationChange.objects.values_list("image_id", flat=True)) == {images[1].pk}
    for index, (file, thumbnail) in enumerate(files):
        assert default_storage.exists(file) == (index == 1)
        assert default_storage.exists(thumbnail) == (index == 1)


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_only_owners_delete_images(project_team, api_client_for, role):
    project = project_team["project"]
    [image] = _images(project, 1)
    response = _delete(api_client_for(project_team["users"][role]), project, [image.pk])
    assert response.status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()


@pytest.mark.django_db(transaction=True)  # the run's heartbeat thread has its own connection
def test_a_frozen_version_keeps_its_images_and_still_trains(
    make_bccd_project,  # noqa: F811 - the fixture imported above
    settings,
    tmp_path,
):
    settings.DATA_DIR = tmp_path
    project = make_bccd_project({"train": 4, "val": 2, "test": 2})
    extra = make_images(project, 1)[0]  # unlabeled: in no version
    run = run_start(project=project, config={**TINY_CONFIG, "epochs": 1}, user=None)
    # The run's worker froze the data (its first phase), then the images are deleted: a
    # resumed run, or one retried, trains on that version.
    version = dataset_version_freeze(project=project, user=None)
    TrainingRun.objects.filter(pk=run.pk).update(dataset_version=version)
    held = Image.objects.filter(project=project, split="train").exclude(pk=extra.pk).first()
    coco_before = dataset_version_coco(version)

    assert images_delete(project_id=project.pk, image_ids=[held.pk, extra.pk]) == 2

    assert default_storage.exists(held.file.name)  # the version names it
    assert not default_storage.exists(held.thumbnail.name)
    assert not default_storage.exists(extra.file.name)  # no version holds it
    assert dataset_version_coco(version) == coco_before
    assert held.pk in {image["id"] for image in coco_before["images"]}
    # The data as it is now is another version, without the deleted image.
    now = dataset_version_freeze(project=project, user=None)
    assert now.pk != version.pk
    assert held.pk not in {image["id"] for image in dataset_version_coco(now)["images"]}

    pipeline.execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error


def _names(client, project, **query) -> list[str]:
    response = client.get(reverse("api-images", args=[project.pk]), query)
    assert response.status_code == 200, response.content
    return [image["original_name"] for image in response.json()["results"]]


def test_sort_search_and_tagged_filter(project_team, api_client_for):
    project = project_team["project"]
    cell = Category.objects.create(project=project, name="cell")
    images = _images(project, 5)  # 0.png .. 4.png
    names = ["b-cat.png", "A-dog.png", "c-cat.png", "d.png", "e.png"]
    for image, name in zip(images, names, strict=True):
        Image.objects.filter(pk=image.pk).update(original_name=name)
    for image, count in zip(images, [1, 3, 0, 2, 0], strict=True):
        Annotation.objects.bulk_create(
            Annotation(image=image, category=cell, x=1, y=1, w=5, h=5, area=25)
            for _ in range(count)
        )
    Image.objects.filter(pk=images[4].pk).update(no_objects=True, status="labeled")
    Image.objects.filter(pk=images[0].pk).update(status="reviewed")
    client = api_client_for(project_team["users"]["viewer"])

    assert _names(client, project) == names
    assert _names(client, project, sort="newest") == names[::-1]
    assert _names(client, project, sort="name") == ["A-dog.png", "b-cat.png", "c-cat.png",
                                                    "d.png", "e.png"]  # fmt: skip
    assert _names(client, project, sort="boxes") == ["A-dog.png", "d.png", "b-cat.png",
                                                     "c-cat.png", "e.png"]  # fmt: skip
    assert _names(client, project, sort="-boxes")[:2] == ["c-cat.png", "e.png"]
    # status in the order of the work: unlabeled, ..., labeled, reviewed
    assert _names(client, project, sort="status") == ["A-dog.png", "c-cat.png", "d.png",
                                                      "e.png", "b-cat.png"]  # fmt: skip
    assert _names(client, project, q="CAT") == ["b-cat.png", "c-cat.png"]
    assert _names(client, project, tagged="false") == ["c-cat.png"]
    assert _names(client, project, tagged="true", sort="name") == ["A-dog.png", "b-cat.png",
                                                                  "d.png", "e.png"]  # fmt: skip


def _around(found: dict) -> tuple[str, str]:
    return found["previous"]["original_name"], found["next"]["original_name"]


def test_editor_neighbours_walk_the_grid_in_its_sort_order(project_team, api_client_for):
    project = project_team["project"]
    images = _images(project, 4)
    for image, name in zip(images, ["d", "b", "a", "c"], strict=True):
        Image.objects.filter(pk=image.pk).update(original_name=f"{name}.png")
    client = api_client_for(project_team["users"]["viewer"])
    # by name: a(2) b(1) c(3) d(0)
    url = reverse("api-image-neighbours", args=[project.pk, images[1].pk])
    found = client.get(url, {"sort": "name"}).json()
    assert (found["previous"]["original_name"], found["next"]["original_name"]) == (
        "a.png",
        "c.png",
    )
    assert (found["position"], found["count"]) == (2, 4)
    found = client.get(url, {"sort": "-name"}).json()
    assert (found["previous"]["original_name"], found["next"]["original_name"]) == (
        "c.png",
        "a.png",
    )
    assert found["position"] == 3
    found = client.get(url, {"sort": "name", "q": "a"}).json()  # b is not in it
    assert found["previous"]["original_name"] == "a.png" and found["next"] is None


def test_grid_page_sorts_searches_and_marks_tagged(project_team, client):
    project = project_team["project"]
    images = _images(project, 3)
    Image.objects.filter(pk=images[1].pk).update(no_objects=True)
    client.force_login(project_team["users"]["viewer"])
    url = reverse("project-images", args=[project.pk])
    response = client.get(url, {"sort": "newest", "q": ".png"})
    assert [image.pk for image in response.context["images"]] == [i.pk for i in images[::-1]]
    html = response.content.decode()
    assert html.count('data-tagged="true"') == 1 and html.count('data-tagged="false"') == 2
    assert 'data-testid="delete-selected"' not in html  # a viewer cannot delete


def test_images_deleted_while_a_run_freezes_the_data_keep_their_files(
    project_team, django_capture_on_commit_callbacks
):
    """A run's worker may have read the images in its freeze query before the deletion
    committed, and its version names them once it is saved: while a live run has no
    version yet, deleted images keep their files (their thumbnails go)."""
    project = project_team["project"]
    images = make_images(project, 2)
    freezing = TrainingRun.objects.create(
        project=project, status=RunStatus.RUNNING, phase="freezing dataset"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert images_delete(project_id=project.pk, image_ids=[images[0].pk]) == 1
    assert default_storage.exists(images[0].file.name)
    assert not default_storage.exists(images[0].thumbnail.name)

    TrainingRun.objects.filter(pk=freezing.pk).update(status=RunStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert images_delete(project_id=project.pk, image_ids=[images[1].pk]) == 1
    assert not default_storage.exists(images[1].file.name)  # no freeze in flight now
