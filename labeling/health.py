"""Dataset health: what a project's images and boxes look like, in a few aggregate queries.

Counts per split; boxes per class per split, with a warning for classes with fewer train
boxes than training needs (STUDIO_MIN_BOXES_PER_CLASS); images without boxes; image
sizes; box sizes by COCO's area rule (small < 32x32 <= medium < 96x96 <= large); box
aspect ratios.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q

from labeling.models import Annotation, Category, Image, ImageStatus, Project, Split

DEFAULT_MIN_TRAIN_EXAMPLES = 10  # the training check's STUDIO_MIN_BOXES_PER_CLASS wins
SMALL_AREA = 32 * 32
LARGE_AREA = 96 * 96
TOP_IMAGE_SIZES = 12

# (label, filter on the box's width/height): w/h below 1/4, ..., above 4.
ASPECT_BUCKETS = [
    ("tall < 1:4", Q(w__lt=F("h") * 0.25)),
    ("1:4 – 1:2", Q(w__gte=F("h") * 0.25, w__lt=F("h") * 0.5)),
    ("1:2 – 1:1", Q(w__gte=F("h") * 0.5, w__lt=F("h"))),
    ("1:1 – 2:1", Q(w__gte=F("h"), w__lt=F("h") * 2)),
    ("2:1 – 4:1", Q(w__gte=F("h") * 2, w__lt=F("h") * 4)),
    ("wide > 4:1", Q(w__gte=F("h") * 4)),
]


def min_train_examples() -> int:
    return getattr(settings, "STUDIO_MIN_BOXES_PER_CLASS", DEFAULT_MIN_TRAIN_EXAMPLES)


def project_health(*, project: Project) -> dict[str, object]:
    minimum = min_train_examples()
    images = Image.objects.filter(project=project)
    boxes = Annotation.objects.filter(image__project=project)
    splits = {s: 0 for s in Split.values}
    splits.update(dict(images.values_list("split").annotate(n=Count("id")).order_by()))
    statuses = {s: 0 for s in ImageStatus.values}
    statuses.update(dict(images.values_list("status").annotate(n=Count("id")).order_by()))
    empty = dict(
        images.filter(~Exists(Annotation.objects.filter(image=OuterRef("pk"))))
        .values_list("no_objects")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_class: dict[int, dict[str, int]] = {}
    for category_id, split, n in (
        boxes.values_list("category_id", "image__split").annotate(n=Count("id")).order_by()
    ):
        per_class.setdefault(category_id, {})[split] = n
    classes = []
    for category in Category.objects.filter(project=project):
        counts = {s: per_class.get(category.pk, {}).get(s, 0) for s in Split.values}
        classes.append(
            {
                "id": category.pk,
                "name": category.name,
                "color": category.color,
                **counts,
                "total": sum(counts.values()),
                "too_few_in_train": counts[Split.TRAIN] < minimum,
            }
        )
    box_sizes = boxes.aggregate(
        small=Count("id", filter=Q(area__lt=SMALL_AREA)),
        medium=Count("id", filter=Q(area__gte=SMALL_AREA, area__lt=LARGE_AREA)),
        large=Count("id", filter=Q(area__gte=LARGE_AREA)),
    )
    aspects = boxes.aggregate(
        **{f"b{i}": Count("id", filter=q) for i, (_, q) in enumerate(ASPECT_BUCKETS)}
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
        "box_sizes": box_sizes,
        "aspect_ratios": [
            {"label": label, "count": aspects[f"b{i}"]}
            for i, (label, _) in enumerate(ASPECT_BUCKETS)
        ],
        "image_sizes": image_sizes,
    }
