"""The box counts the database keeps on write (labeling/box_counts.py): whatever writes
the boxes or the splits, the health report says what a count of the rows says."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef
from django.test.utils import CaptureQueriesContext

from labeling import box_counts, categories, health, services, splits
from labeling.health_alerts import HUGE, TINY
from labeling.models import Annotation, BoxCount, Category, Image, ImageBoxCount
from tests.labeling.test_image_grid import _images

pytestmark = pytest.mark.django_db


def counted(project) -> dict:
    """The figures counted from the rows themselves (what the report must match)."""
    boxes = Annotation.objects.filter(image__project=project)
    per_class = {
        (c, s): n
        for c, s, n in boxes.values_list("category_id", "image__split")
        .annotate(n=Count("id"))
        .order_by()
    }
    images = Image.objects.filter(project=project)
    without = images.filter(~Exists(Annotation.objects.filter(image=OuterRef("pk"))))
    return {
        "classes": {
            c.pk: {s: per_class.get((c.pk, s), 0) for s in ("train", "val", "test")}
            for c in Category.objects.filter(project=project)
        },
        "small": boxes.filter(area__lt=32 * 32).count(),
        "large": boxes.filter(area__gte=96 * 96).count(),
        "wide": boxes.filter(w__gte=F("h") * 4).count(),
        "without": without.filter(no_objects=False).count(),
        "marked": without.filter(no_objects=True).count(),
        "box_count": boxes.count(),
        "tiny": boxes.filter(TINY).count(),
        "tiny_images": boxes.filter(TINY).values("image").distinct().count(),
        "huge": boxes.filter(HUGE).count(),
        "huge_images": boxes.filter(HUGE).values("image").distinct().count(),
    }


def reported(project) -> dict:
    report = health.project_health(project=project)
    return {
        "classes": {
            c["id"]: {s: c[s] for s in ("train", "val", "test")} for c in report["classes"]
        },
        "small": report["box_sizes"]["small"],
        "large": report["box_sizes"]["large"],
        "wide": report["aspect_ratios"][-1]["count"],
        "without": report["images_without_boxes"],
        "marked": report["images_marked_no_objects"],
        "box_count": report["box_count"],
        **report["odd_boxes"],
    }


def add_boxes(images, classes, rng, n):
    Annotation.objects.bulk_create(
        Annotation(image=image, category=rng.choice(classes), x=0, y=0, w=w, h=h, area=w * h)
        for image, w, h in (
            (rng.choice(images), rng.uniform(2, 70), rng.uniform(2, 50)) for _ in range(n)
        )
    )


def test_every_write_keeps_the_counts_true(project_team, monkeypatch):
    monkeypatch.setattr(box_counts, "COMPACT_AFTER", 5)  # compaction happens on the way
    project = project_team["project"]
    rng = random.Random(1)
    a, b, c = (Category.objects.create(project=project, name=n, order=i) for i, n in
               enumerate("abc"))  # fmt: skip
    images = _images(project, 12)
    theirs = _images(project_team["other"], 2, start=100)
    add_boxes(images[:9], [a, b, c], rng, 60)
    add_boxes(theirs, [Category.objects.create(project=project_team["other"], name="x")], rng, 5)
    Image.objects.filter(pk=images[10].pk).update(no_objects=True)
    assert reported(project) == counted(project)

    steps = [
        # The editor: delete some, change some (class, size), add some.
        lambda: Annotation.objects.filter(image=images[0]).delete(),
        lambda: Annotation.objects.filter(image=images[1]).update(category=c, w=500, area=500 * 40),
        lambda: add_boxes(images[9:10], [a], rng, 3),
        # Splits: a resplit and a selection.
        lambda: splits.project_resplit(project=project, train=50, val=25, test=25, seed="z"),
        lambda: splits.images_set_split(
            project=project, image_ids=[i.pk for i in images[:6]], split="test"
        ),
        # Classes: merge, delete (their boxes cascade).
        lambda: categories.category_merge(source=b, target=a),
        lambda: categories.category_delete(
            category=c, confirm_box_count=Annotation.objects.filter(category=c).count()
        ),
        # Images deleted with their boxes.
        lambda: services.image_delete(image=Image.objects.get(pk=images[2].pk)),
    ]
    for step in steps:
        step()
        assert reported(project) == counted(project)
    assert BoxCount.objects.filter(project_id=project.pk).count() <= 5 + 4 * 3  # compacted
    # Nothing kept for images without boxes; the other project's counts never moved.
    assert not ImageBoxCount.objects.filter(boxes__lte=0).exists()
    assert reported(project_team["other"]) == counted(project_team["other"])


@pytest.mark.parametrize("images", [3, 30])
def test_the_health_report_takes_the_same_queries_at_any_size(project_team, images):
    project = project_team["project"]
    classes = [Category.objects.create(project=project, name=n) for n in "ab"]
    add_boxes(_images(project, images), classes, random.Random(2), images * 4)
    with CaptureQueriesContext(connection) as queries:
        health.project_health(project=project)
    assert len(queries) == 4


def test_the_health_report_and_the_project_page_never_count_the_boxes(project_team, client):
    project = project_team["project"]
    classes = [Category.objects.create(project=project, name=n) for n in "ab"]
    add_boxes(_images(project, 5), classes, random.Random(3), 20)
    client.force_login(project_team["users"]["owner"])
    for url in (f"/projects/{project.pk}/health/", f"/projects/{project.pk}/"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert not [q["sql"] for q in queries if '"labeling_annotation"' in q["sql"]], url
