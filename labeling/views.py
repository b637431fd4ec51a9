"""Pages of projects. Writes go through the JSON API (labeling/api.py).

The project page itself, which shows runs and models too, is training/views_project.py.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling import annotations, editor_review, health, notifications, selectors
from labeling.api_images import ImageSerializer, neighbours_data
from labeling.categories import EDITOR_KEYS
from labeling.formats import FORMATS
from labeling.forms import ImageFilterForm
from labeling.health_alerts import health_alerts
from labeling.models import Category
from labeling.permissions import Action, role_allows
from labeling.suggestions import suggestion_dict, suggestion_list


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    page_data = {
        "api": {
            "projects": reverse("api-projects"),
            "project": _project_url_template("api-project"),
            "imports": _project_url_template("api-imports"),
        },
        "urls": {"project": _project_url_template("project-detail")},
    }
    context = {"projects": projects, "page_data": page_data, "import_formats": ["auto", *FORMATS]}
    return render(request, "labeling/project_list.html", context)


def _project_url_template(name: str) -> str:
    return reverse(name, args=[_ID]).replace(str(_ID), "{id}")


def _members(project) -> list[tuple[int, str]]:
    return list(selectors.membership_list(project=project).values_list("user_id", "user__username"))


def _page_project(request: HttpRequest, project_id: int, action: Action):
    """The project and role for a page; 404 for non-members, 403 when the role falls short."""
    project, role = selectors.project_get_with_role(user=request.user, project_id=project_id)
    if not role_allows(role, action):
        raise PermissionDenied("Your role in this project does not allow this.")
    return project, role


@login_required
@require_GET
def project_upload(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _page_project(request, project_id, Action.ANNOTATE)
    page_data = {
        "project": {"id": project.pk, "name": project.name},
        "api": {"images": reverse("api-images", args=[project.pk])},
        "limits": {"max_image_bytes": settings.STUDIO_MAX_IMAGE_BYTES},
    }
    return render(
        request,
        "labeling/upload.html",
        {"project": project, "role": role, "page_data": page_data},
    )


IMAGES_PER_PAGE = 48


@login_required
@require_GET
def project_images(request: HttpRequest, project_id: int) -> HttpResponse:
    """The image grid: thumbnails, filters, pages; a constant number of queries per page."""
    project, role = _page_project(request, project_id, Action.VIEW)
    categories = list(Category.objects.filter(project=project))
    form = ImageFilterForm(request.GET, categories=categories, members=_members(project))
    images = selectors.image_list(project=project, **form.filters())
    page = Paginator(images, IMAGES_PER_PAGE).get_page(request.GET.get("page"))
    page_images = list(page.object_list)
    boxes = selectors.boxes_of(page_images)  # and their box counts
    query = request.GET.copy()
    query.pop("page", None)
    can_edit = role_allows(role, Action.EDIT_PROJECT)
    page_data = {
        "project": {"id": project.pk},
        "can_edit": can_edit,
        "thumbnails": {
            image.pk: {"width": image.width, "height": image.height, "boxes": boxes[image.pk]}
            for image in page_images
        },
        "api": {
            "delete": reverse("api-images-delete", args=[project.pk]),
            "split": reverse("api-images-split", args=[project.pk]),
            "resplit": reverse("api-project-resplit", args=[project.pk]),
        },
    }
    return render(
        request,
        "labeling/images.html",
        {
            "project": project,
            "role": role,
            "form": form,
            "page": page,
            "images": page_images,
            "query": query.urlencode(),
            "can_edit": can_edit,
            "can_annotate": role_allows(role, Action.ANNOTATE),
            "page_data": page_data,
        },
    )


@login_required
@require_GET
def project_health(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _page_project(request, project_id, Action.VIEW)
    report = health.project_health(project=project)
    report["alerts"] = health_alerts(project=project, report=report)
    return render(
        request,
        "labeling/health.html",
        {"project": project, "role": role, "health": report, "page_data": {"health": report}},
    )


@login_required
@require_GET
def annotate(request: HttpRequest, project_id: int, image_id: int) -> HttpResponse:
    """The box editor of one image; the grid's filters (query string) give previous/next.

    Everything it shows comes in the page data (with the image's pending model
    suggestions), so the first image draws without an API call; later images, saves,
    history and review go through the JSON API. Viewers get it read-only.
    """
    project, role = _page_project(request, project_id, Action.VIEW)
    image = selectors.image_get(project=project, image_id=image_id)
    categories = list(Category.objects.filter(project=project))
    review = editor_review.review_data(project=project, model_id=request.GET.get("review"))
    # From a model's error gallery, next/previous walk its errors, not the grid's filter.
    filters = (
        {}
        if review
        else ImageFilterForm(
            request.GET, categories=categories, members=_members(project)
        ).filters()
    )
    [image] = selectors.with_box_counts([image])
    page_data = {
        "project": {"id": project.pk, "name": project.name},
        "user": request.user.get_username(),
        "role": role,
        "can": {
            "annotate": role_allows(role, Action.ANNOTATE),
            "review": role_allows(role, Action.REVIEW),
        },
        "image": ImageSerializer(image).data,
        "state": annotations.annotation_state(image=image),
        "suggestions": [suggestion_dict(s) for s in suggestion_list(image=image)],
        "neighbours": neighbours_data(project=project, image=image, filters=filters),
        "filters": {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in filters.items()
        },
        "categories": [
            {"id": c.pk, "name": c.name, "color": c.color, "shortcut": c.shortcut}
            for c in categories
        ],
        "review": review,
        "editor_keys": sorted(EDITOR_KEYS),
        "per_page": IMAGES_PER_PAGE,
        "api": {
            "image": image_url_template("api-image", project),
            "annotations": image_url_template("api-image-annotations", project),
            "suggestions": image_url_template("api-image-suggestions", project),
            "history": image_url_template("api-image-annotations-history", project),
            "revert": image_url_template("api-image-annotations-revert", project),
            "review": image_url_template("api-image-review", project),
            "neighbours": image_url_template("api-image-neighbours", project),
            "file": image_url_template("api-image-file", project),
            "shortcuts": reverse("api-category-shortcuts", args=[project.pk]),
        },
        "urls": {
            "annotate": image_url_template("annotate", project),
            "grid": reverse("project-images", args=[project.pk]),
        },
    }
    return render(
        request,
        "labeling/annotate.html",
        {
            "project": project,
            "role": role,
            "image": image,
            "review": review,
            "page_data": page_data,
        },
    )


_ID = 2_147_483_647  # stands for the image id in URL templates ("{id}" in the page data)


def image_url_template(name: str, project) -> str:
    return reverse(name, args=[project.pk, _ID]).replace(str(_ID), "{id}")


@login_required
@require_GET
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Open a notification from the bell: it is read now; go to what it is about."""
    notification = notifications.notification_open(
        user=request.user, notification_id=notification_id
    )
    # The studio's own pages only (they are written so; this keeps it so).
    return redirect(notification.url if notification.url.startswith("/") else "/")
