"""Every page works under the Content-Security-Policy: Chromium reports no violation.

A blocked inline script or style, or a resource from elsewhere, shows up in the console
as "Refused to ... because it violates the following Content Security Policy directive".
"""

from __future__ import annotations

from labeling.models import Annotation, Category, Image
from tests.browser.conftest import log_in
from tests.security.pages import EXTRA_URLS, admin_urls, page_urls, uncovered_routes

PASSWORD = "a long enough password 1"


def _violations(page, url: str) -> list[str]:
    seen: list[str] = []

    def listen(message) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", listen)
    try:
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # scripts that run after load (charts, the editor)
    finally:
        page.remove_listener("console", listen)
    return seen


def _inline_script_refused(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text))
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = 1'; document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None, "an inline script ran"
    return [text for text in seen if "Content Security Policy" in text]


def test_every_page_runs_without_a_policy_violation(page, reviewed_model, project_team):
    owner = project_team["users"]["owner"]
    owner.is_staff = owner.is_superuser = True
    owner.set_password(PASSWORD)
    owner.save()
    project = reviewed_model.project
    image = Image.objects.filter(project=project).first()
    # A class with a box, so colour swatches and charts are drawn.
    category = Category.objects.create(project=project, name="cell", color="#c0392b")
    Annotation.objects.create(image=image, category=category, x=1, y=1, w=20, h=20, area=400)
    urls = page_urls(project=project, image=image, run=reviewed_model.run, model=reviewed_model)
    assert uncovered_routes(urls) == set()
    log_in(page, owner.username, PASSWORD)
    page.wait_for_url("**/projects/")
    violations = {}
    for name, url in {**urls, **EXTRA_URLS, **admin_urls(project=project)}.items():
        found = _violations(page, url)
        if found:
            violations[name] = found
    page.goto(EXTRA_URLS["api docs"])  # Swagger UI really starts under the policy
    page.wait_for_selector(".swagger-ui .info")
    # A viewer's pages differ (swatches instead of colour inputs, a read-only editor).
    viewer = project_team["users"]["viewer"]
    viewer.set_password(PASSWORD)
    viewer.save()
    page.context.clear_cookies()
    log_in(page, viewer.username, PASSWORD)
    page.wait_for_url("**/projects/")
    for name in (
        "projects/<int:project_id>/",
        "projects/<int:project_id>/annotate/<int:image_id>/",
    ):
        found = _violations(page, urls[name])
        if found:
            violations[f"{name} (viewer)"] = found
    # The policy is really on: an inline script is refused, and reported like the above.
    assert _inline_script_refused(page), "an inline script was refused without a message"
    assert violations == {}
