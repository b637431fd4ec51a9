"""Dataset health: what a project's images and boxes look like, in four queries whatever
its size (the box figures come from the counts the database keeps on write).

Counts per split; boxes per class per split, with a warning for classes with fewer train
boxes than training needs (STUDIO_MIN_BOXES_PER_CLASS); images without boxes; image
sizes; box sizes by COCO's area rule (small < 32x32 <= medium < 96x96 <= large); box
aspect ratios.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q

from labeling.box_counts import BUCKETS, box_counts
from labeling.models import Category, Image, ImageStatus, Project, Split

DEFAULT_MIN_TRAIN_EXAMPLES = 10  # the training check's STUDIO_MIN_BOXES_PER_CLASS wins
SMALL_AREA = 32 * 32
LARGE_AREA = 96 * 96
TOP_IMAGE_SIZES = 12

# The box's width/height below 1/4, ..., above 4 (labeling/box_counts.py counts them).
ASPECT_LABELS = ["tall < 1:4", "1:4 – 1:2", "1:2 – 1:1", "1:1 – 2:1", "2:1 – 4:1", "wide > 4:1"]


def min_train_examples() -> int:
    return getattr(settings, "STUDIO_MIN_BOXES_PER_CLASS", DEFAULT_MIN_TRAIN_EXAMPLES)


def project_health(*, project: Project) -> dict[str, object]:
    """The report, in four queries whatever the project's size: the images by split,
    status and mark with whether each has boxes (one pass over the images), the images
    with tiny or huge boxes, the image sizes, the classes, and the box counts the
    database keeps on write (labeling/box_counts.py)."""
    minimum = min_train_examples()
    images = Image.objects.filter(project=project)
    splits = {s: 0 for s in Split.values}
    statuses = {s: 0 for s in ImageStatus.values}
    empty = {False: 0, True: 0}
    flagged = {"tiny_images": 0, "huge_images": 0}
    # One pass over the images, joined with the boxes' counts kept per image.
    for split, status, no_objects, n, without, tiny, huge in (
        images.values_list("split", "status", "no_objects")
        .annotate(
            n=Count("id"),
            without=Count("id", filter=Q(box_tally__isnull=True)),
            tiny=Count("id", filter=Q(box_tally__tiny__gt=0)),
            huge=Count("id", filter=Q(box_tally__huge__gt=0)),
        )
        .order_by()
    ):
        splits[split] = splits.get(split, 0) + n
        statuses[status] = statuses.get(status, 0) + n
        empty[no_objects] += without
        flagged["tiny_images"] += tiny
        flagged["huge_images"] += huge
    counts = box_counts(project_id=project.pk)
    classes = []
    totals = dict.fromkeys(BUCKETS, 0)
    for category in Category.objects.filter(project=project):
        per_split = {s: counts.get((category.pk, s), {}).get("boxes", 0) for s in Split.values}
        for (category_id, _split), values in counts.items():
            if category_id == category.pk:
                for name in BUCKETS:
                    totals[name] += values[name]
        classes.append(
            {
                "id": category.pk,
                "name": category.name,
                "color": category.color,
                **per_split,
                "total": sum(per_split.values()),
                "too_few_in_train": per_split[Split.TRAIN] < minimum,
            }
        )
    sizes = list(images.values("width", "height").annotate(n=Count("id")).order_by("-n", "-width"))
    top = sizes[:TOP_IMAGE_SIZES]
    image_sizes = [{"size": f"{s['width']}×{s['height']}", "count": s["n"]} for s in top]
    rest = sum(s["n"] for s in sizes[TOP_IMAGE_SIZES:])
    if rest:
        image_sizes.append({"size": "other sizes", "count": rest})
    return {
        "image_count": sum(splits.values()),
        "box_count": sum(c["total"] for c in classes),
        "splits": splits,
        "statuses": statuses,
        "images_without_boxes": empty.get(False, 0),
        "images_marked_no_objects": empty.get(True, 0),
        "classes": classes,
        "min_train_examples": minimum,
        "warnings": [
            f"{c['name']}: {c['train']} box(es) in train, fewer than {minimum}"
            for c in classes
            if c["too_few_in_train"]
        ],
        "box_sizes": {name: totals[name] for name in ("small", "medium", "large")},
        "aspect_ratios": [
            {"label": label, "count": totals[f"a{i}"]} for i, label in enumerate(ASPECT_LABELS)
        ],
        "image_sizes": image_sizes,
        # labeling/health_alerts.py's tiny and huge boxes, and the images that have them
        "odd_boxes": {"tiny": totals["tiny"], "huge": totals["huge"], **flagged},
    }
