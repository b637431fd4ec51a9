"""Reads, always scoped to the projects the user belongs to."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from labeling.models import Annotation, Category, Image, Membership, Project


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

IMAGE_FILTERS = ("split", "category", "status", "no_objects")


def image_list(
    *,
    project: Project,
    split: str | None = None,
    category: int | None = None,
    status: str | None = None,
    no_objects: bool | None = None,
) -> QuerySet[Image]:
    """The project's images, filtered (each filter uses an index), in upload order."""
    images = Image.objects.filter(project=project)
    if split:
        images = images.filter(split=split)
    if status:
        images = images.filter(status=status)
    if no_objects is not None:
        images = images.filter(no_objects=no_objects)
    if category is not None:
        images = images.filter(
            Exists(Annotation.objects.filter(image=OuterRef("pk"), category_id=category))
        )
    return images.order_by("id")


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


def image_get(*, project: Project, image_id: int) -> Image:
    image = Image.objects.filter(project=project, pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


def image_neighbours(*, project: Project, image_id: int, **filters) -> dict:
    """The images before and after ``image_id`` in the grid's order under the grid's
    filters (the editor's previous/next), and its position among them.

    The image itself need not pass the filters (it may have just been labeled out of an
    "unlabeled" filter): its neighbours are still the nearest ones by id that do.
    """
    images = image_list(project=project, **filters)
    before = images.filter(pk__lt=image_id)
    return {
        "previous": before.order_by("-id").first(),
        "next": images.filter(pk__gt=image_id).order_by("id").first(),
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


def category_list(*, project: Project) -> QuerySet:
    return Category.objects.filter(project=project).annotate(box_count=Count("annotations"))
