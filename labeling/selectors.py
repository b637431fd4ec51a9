"""Reads, always scoped to the projects the user belongs to."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from labeling.box_counts import box_counts
from labeling.health_alerts import BOX_FILTERS
from labeling.models import (
    Annotation,
    Category,
    Image,
    ImageStatus,
    Membership,
    Project,
)


def project_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).annotate(
        member_count=Count("memberships", distinct=True)
    )


def project_get_with_role(
    *, user: AbstractBaseUser | AnonymousUser, project_id: int
) -> tuple[Project, str]:
    """The project and the user's role in it; Http404 when the user is not a member."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        Membership.objects.select_related("project")
        .filter(project_id=project_id, user=user)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    return membership.project, membership.role


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")


# --- Images -------------------------------------------------------------------------------

IMAGE_FILTERS = (
    "split", "category", "status", "no_objects", "q", "tagged", "boxes", "assignee", "sort",
)  # fmt: skip

# The grid's orders: (field, descending) pairs, the image id last (a total order, so
# previous/next in the editor walk the images exactly as the grid shows them).
IMAGE_SORTS: dict[str, tuple[str, list[tuple[str, bool]]]] = {
    "oldest": ("oldest first", [("id", False)]),
    "newest": ("newest first", [("id", True)]),
    "name": ("name A–Z", [("original_name", False), ("id", False)]),
    "-name": ("name Z–A", [("original_name", True), ("id", False)]),
    "status": ("status", [("status_rank", False), ("id", False)]),
    "boxes": ("most boxes", [("box_n", True), ("id", False)]),
    "-boxes": ("fewest boxes", [("box_n", False), ("id", False)]),
}
STATUS_ORDER = [s.value for s in ImageStatus]


def _annotated(images: QuerySet[Image], sort: str) -> QuerySet[Image]:
    fields = {field for field, _ in IMAGE_SORTS[sort][1]}
    if "status_rank" in fields:
        images = images.annotate(
            status_rank=Case(
                *(When(status=s, then=Value(i)) for i, s in enumerate(STATUS_ORDER)),
                default=Value(len(STATUS_ORDER)),
                output_field=IntegerField(),
            )
        )
    if "box_n" in fields:
        images = images.annotate(box_n=Count("annotations"))
    return images


def tagged_q() -> Q:
    """An image is tagged when it has a box or is marked as having no objects (whether
    it has a box: the box counts the database keeps, labeling/box_counts.py)."""
    return Q(no_objects=True) | Q(box_tally__isnull=False)


def image_list(
    *,
    project: Project,
    split: str | None = None,
    category: int | None = None,
    status: str | None = None,
    no_objects: bool | None = None,
    q: str | None = None,
    tagged: bool | None = None,
    boxes: str | None = None,
    assignee: int | None = None,
    sort: str | None = None,
) -> QuerySet[Image]:
    """The project's images, filtered, in the order ``sort`` names (upload order by
    default). ``q`` finds file names containing it (any case); ``boxes`` ("tiny" or
    "huge") those with such a box (labeling/health_alerts.py)."""
    images = Image.objects.filter(project=project)
    if split:
        images = images.filter(split=split)
    if status:
        images = images.filter(status=status)
    if no_objects is not None:
        images = images.filter(no_objects=no_objects)
    if q:
        images = images.filter(original_name__icontains=q)
    if tagged is not None:
        images = images.filter(tagged_q() if tagged else ~tagged_q())
    if category is not None:
        images = images.filter(
            Exists(Annotation.objects.filter(image=OuterRef("pk"), category_id=category))
        )
    if assignee is not None:
        images = images.filter(assigned_to_id=assignee)
    if boxes in BOX_FILTERS:
        images = images.filter(
            Exists(Annotation.objects.filter(BOX_FILTERS[boxes], image=OuterRef("pk")))
        )
    sort = sort if sort in IMAGE_SORTS else "oldest"
    keys = IMAGE_SORTS[sort][1]
    return _annotated(images, sort).order_by(
        *(f"-{field}" if descending else field for field, descending in keys)
    )


def with_box_counts(images: list[Image]) -> list[Image]:
    """Set ``box_count`` on a page of images, in one query over those images only.

    (Counting in the page query itself would make the database count the boxes of every
    image before a deep page's offset.)
    """
    counts = dict(
        Annotation.objects.filter(image_id__in=[image.pk for image in images])
        .values_list("image_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for image in images:
        image.box_count = counts.get(image.pk, 0)
    return images


def boxes_of(images: list[Image]) -> dict[int, list[dict]]:
    """The boxes of a page of images (for their thumbnails), in one query; sets each
    image's ``box_count`` too (as ``with_box_counts`` does)."""
    boxes: dict[int, list[dict]] = {image.pk: [] for image in images}
    rows = Annotation.objects.filter(image_id__in=list(boxes)).values_list(
        "image_id", "category__color", "x", "y", "w", "h"
    )
    for image_id, color, x, y, w, h in rows.order_by("image_id", "id"):
        boxes[image_id].append({"color": color, "bbox": [x, y, w, h]})
    for image in images:
        image.box_count = len(boxes[image.pk])
    return boxes


def image_get(*, project: Project, image_id: int) -> Image:
    image = Image.objects.filter(project=project, pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


def _before(keys: list[tuple[str, bool]], values: dict, *, after: bool = False) -> Q:
    """Rows before (or after) the row with ``values`` in the order ``keys``."""
    condition = Q(pk__in=[])
    equal = Q()
    for field, descending in keys:
        lookup = "gt" if descending != after else "lt"
        condition |= equal & Q(**{f"{field}__{lookup}": values[field]})
        equal &= Q(**{field: values[field]})
    return condition


def image_neighbours(*, project: Project, image_id: int, **filters) -> dict:
    """The images before and after ``image_id`` in the grid's order under the grid's
    filters (the editor's previous/next), and its position among them.

    The image itself need not pass the filters (it may have just been labeled out of an
    "unlabeled" filter): its neighbours are still the nearest ones in the grid's order
    that do.
    """
    sort = filters.get("sort") if filters.get("sort") in IMAGE_SORTS else "oldest"
    keys = IMAGE_SORTS[sort][1]
    fields = [field for field, _ in keys]
    images = image_list(project=project, **filters)
    values = (
        _annotated(Image.objects.filter(project=project, pk=image_id), sort).values(*fields).first()
    )
    if values is None:
        raise Http404("No such image.")
    before = images.filter(_before(keys, values))
    backwards = [field if descending else f"-{field}" for field, descending in keys]
    return {
        "previous": before.order_by(*backwards).first(),
        "next": images.filter(_before(keys, values, after=True)).first(),
        "position": before.count() + 1,
        "count": images.count(),
    }


def image_summary(*, project: Project) -> dict[str, int]:
    """Image counts for the project page, in one query."""
    return Image.objects.filter(project=project).aggregate(
        total=Count("id"),
        train=Count("id", filter=Q(split="train")),
        val=Count("id", filter=Q(split="val")),
        test=Count("id", filter=Q(split="test")),
        unlabeled=Count("id", filter=Q(status="unlabeled")),
    )


def category_list(*, project: Project) -> list[Category]:
    """The project's classes with ``box_count`` set, from the counts the database keeps
    on write (labeling/box_counts.py): two queries, never a count of every box."""
    totals: dict[int, int] = {}
    for (category_id, _split), counts in box_counts(project_id=project.pk).items():
        totals[category_id] = totals.get(category_id, 0) + counts["boxes"]
    classes = list(Category.objects.filter(project=project))
    for category in classes:
        category.box_count = totals.get(category.pk, 0)
    return classes


def assignment_progress(*, project: Project) -> list[dict]:
    """Per annotator: the images assigned to them and how many of those are tagged (one
    aggregate query)."""
    rows = (
        Image.objects.filter(project=project, assigned_to__isnull=False)
        .values("assigned_to", "assigned_to__username")
        .annotate(assigned=Count("id"), tagged=Count("id", filter=tagged_q()))
        .order_by("assigned_to__username")
    )
    return [
        {
            "user_id": row["assigned_to"],
            "username": row["assigned_to__username"],
            "assigned": row["assigned"],
            "tagged": row["tagged"],
        }
        for row in rows
    ]
