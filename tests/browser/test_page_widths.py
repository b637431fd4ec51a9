"""Every page at a phone's width (390x844) and a desktop's (1440x900): the page never
scrolls sideways and no card is wider than itself (a wide table scrolls inside its
own box); on the desktop no table cell of a card is cut short ("Sta…").

STUDIO_SHOTS=<folder> also saves a full-page screenshot of each page at each size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from labeling.models import Annotation, Category, Image
from tests.browser.editor_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"phone": (390, 844), "desktop": (1440, 900)}

OVERFLOW = """() => {
  const problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth) problems.push(`the page is ${page} px wide`);
  const name = (node) => node.id || node.querySelector("h1, h2")?.textContent.trim() || "?";
  for (const card of document.querySelectorAll(".card")) {
    if (card.scrollWidth > card.clientWidth + 1) {
      problems.push(`card ${name(card)}: ${card.scrollWidth} > ${card.clientWidth} px`);
    }
  }
  return problems;
}"""

# Cells whose text is cut (ellipsis or hidden overflow), or a short value wrapped over
# several lines (a date broken over three).
CUT_CELLS = """() => {
  const problems = [];
  for (const cell of document.querySelectorAll(".card td, .card th")) {
    if (cell.closest(".scroll")) continue;
    const text = cell.textContent.trim();
    if (!text) continue;
    const lines = Math.round(cell.getBoundingClientRect().height /
      parseFloat(getComputedStyle(cell).lineHeight || "22"));
    if (cell.scrollWidth > cell.clientWidth + 1 || (text.length < 24 && lines > 2)) {
      problems.push(`${cell.closest(".card").id || "card"}: "${text}"`);
    }
  }
  return problems;
}"""


def _pages(project, model, run, image) -> dict[str, str]:
    p = project.pk
    return {
        "projects": reverse("project-list"),
        "project": reverse("project-detail", args=[p]),
        "upload": reverse("project-upload", args=[p]),
        "images": reverse("project-images", args=[p]),
        "health": reverse("project-health", args=[p]),
        "editor": reverse("annotate", args=[p, image.pk]),
        # the editor opened from the model's error gallery (its detections drawn over)
        "editor-review": reverse("annotate", args=[p, image.pk])
        + f"?review={model.pk}&threshold=0.5&error_kind=fp",
        "train": reverse("train", args=[p]),
        "run": reverse("run-detail", args=[p, run.pk]),
        "models": reverse("model-list", args=[p]),
        "model": reverse("model-detail", args=[p, model.pk]),
        "compare": reverse("model-compare", args=[p]) + f"?a={model.pk}&b={model.pk}",
        "try": reverse("model-try", args=[p, model.pk]),
        "account": reverse("account"),
        "system": reverse("system"),
        "not-found": "/no-such-page/",
    }


def test_no_page_scrolls_sideways_on_a_phone_or_clips_on_a_desktop(
    page, studio_server, reviewed_model, project_team
):
    project = reviewed_model.project
    categories = list(Category.objects.filter(project=project))
    if not categories:
        categories = [Category.objects.create(project=project, name="RBC", shortcut="1")]
    image = Image.objects.filter(project=project).order_by("pk").first()
    Annotation.objects.create(image=image, category=categories[0], x=5, y=5, w=30, h=20, area=600)
    owner = project_team["users"]["owner"]
    owner.is_staff = True
    owner.save()
    shots = os.environ.get("STUDIO_SHOTS")
    pages = _pages(project, reviewed_model, reviewed_model.run, image)

    page.goto(reverse("login"))
    found = {}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(reverse("login"))
        found[f"login@{size}"] = page.evaluate(OVERFLOW)
    sign_in(page.context, studio_server.url, owner)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, url in pages.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            problems = page.evaluate(OVERFLOW)
            if size == "desktop":
                problems += page.evaluate(CUT_CELLS)
            found[f"{name}@{size}"] = problems
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{shots}/{name}-{size}.png", full_page=True)
    bad = [f"{key}: {'; '.join(value)}" for key, value in found.items() if value]
    assert not bad, "\n".join(bad)
