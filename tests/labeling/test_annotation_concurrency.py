"""Two saves at the same moment, each in its own thread and database connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from labeling import annotations
from labeling.models import Annotation, AnnotationChange
from tests.labeling.annotation_helpers import make_categories, make_image


def _race(image, users, bodies) -> list:
    """Run annotations_save for each body at once; the result or exception of each."""
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def save(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = annotations.annotations_save(image=image, user=users[i], **bodies[i])
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_saves_on_the_same_version_exactly_one_wins(project_team):
    project = project_team["project"]
    [rbc] = make_categories(project, "RBC")
    image = make_image(project)
    users = [project_team["users"]["owner"], project_team["users"]["annotator"]]
    bodies = [
        {
            "base_version": 0,
            "request_id": f"r{i}",
            "boxes": [{"category_id": rbc.pk, "bbox": [i, i, 5, 5]}],
        }
        for i in range(2)
    ]
    results = _race(image, users, bodies)
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, annotations.AnnotationConflict)]
    assert (len(wins), len(losses)) == (1, 1), results
    assert losses[0].state["version"] == 1
    assert losses[0].state["boxes"] == wins[0]["boxes"]
    image.refresh_from_db()
    assert image.annotation_version == 1
    assert AnnotationChange.objects.filter(image=image).count() == 1
    assert [a.bbox for a in Annotation.objects.filter(image=image)] == [wins[0]["boxes"][0]["bbox"]]


@pytest.mark.django_db(transaction=True)
def test_the_same_request_twice_at_once_is_applied_once(project_team):
    project = project_team["project"]
    [rbc] = make_categories(project, "RBC")
    image = make_image(project)
    user = project_team["users"]["annotator"]
    body = {
        "base_version": 0,
        "request_id": "same",
        "boxes": [{"category_id": rbc.pk, "bbox": [1, 1, 5, 5]}],
    }
    results = _race(image, [user, user], [body, body])
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["replayed"] for r in results) == [False, True]
    assert results[0]["boxes"] == results[1]["boxes"]
    assert Annotation.objects.filter(image=image).count() == 1
    assert AnnotationChange.objects.filter(image=image).count() == 1
