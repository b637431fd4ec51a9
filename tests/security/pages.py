"""Every HTML page of the studio, as URLs to open (tests of headers and of the browser).

``page_urls`` fills each page route's parameters from one project that has an image, a
finished run and a model version; ``uncovered_routes`` names the page routes it misses,
so a new page cannot go untested.
"""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

# Routes that are no HTML page: the API, the DeepStack endpoint, a health probe, the
# POST-only logout, a notification's link (a redirect to its page), and the admin's own
# pages past its index (the index stands for them).
_NOT_PAGES = re.compile(r"^(api/|v1/|healthz$|accounts/logout/$|notifications/|admin/.)")


def page_routes() -> set[str]:
    return {route for route in _routes(get_resolver()) if not _NOT_PAGES.match(route)}


def page_urls(*, project, image, run, model) -> dict[str, str]:
    """Route pattern -> URL of that page, for a logged-in staff member of ``project``."""
    p = project.pk
    return {
        "": "/",
        "accounts/login/": "/accounts/login/",
        "accounts/password/": "/accounts/password/",
        "accounts/password/done/": "/accounts/password/done/",
        "accounts/": "/accounts/",
        "system/": "/system/",
        "admin/": "/admin/",
        "projects/": "/projects/",
        "projects/<int:project_id>/": f"/projects/{p}/",
        "projects/<int:project_id>/upload/": f"/projects/{p}/upload/",
        "projects/<int:project_id>/images/": f"/projects/{p}/images/",
        "projects/<int:project_id>/health/": f"/projects/{p}/health/",
        "projects/<int:project_id>/annotate/<int:image_id>/": f"/projects/{p}/annotate/{image.pk}/",
        "projects/<int:project_id>/train/": f"/projects/{p}/train/",
        "projects/<int:project_id>/runs/<int:run_id>/": f"/projects/{p}/runs/{run.pk}/",
        "projects/<int:project_id>/runs/table/": f"/projects/{p}/runs/table/",
        "projects/<int:project_id>/models/": f"/projects/{p}/models/",
        "projects/<int:project_id>/models/compare/": (
            f"/projects/{p}/models/compare/?a={model.pk}&b={model.pk}"
        ),
        "projects/<int:project_id>/models/<int:model_id>/": f"/projects/{p}/models/{model.pk}/",
        "projects/<int:project_id>/models/<int:model_id>/try/": (
            f"/projects/{p}/models/{model.pk}/try/"
        ),
    }


# Pages that are HTML too but no route of their own: the API docs and an error page.
EXTRA_URLS = {"api docs": "/api/v1/docs", "404 page": "/projects/999999999/"}


def admin_urls(*, project) -> dict[str, str]:
    """A few of the admin's own pages: a list with filters, a change form, an add form."""
    return {
        "admin project list": "/admin/labeling/project/",
        "admin image list": "/admin/labeling/image/?split=train",
        "admin project change": f"/admin/labeling/project/{project.pk}/change/",
        "admin user add": "/admin/auth/user/add/",
    }


def uncovered_routes(urls: dict[str, str]) -> set[str]:
    return page_routes() - set(urls)


def _routes(resolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith("admin/"):
                yield "admin/"
                continue
            yield from _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route
