"""Playwright driving Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import time
from types import SimpleNamespace

import pytest
from django.test.testcases import LiveServerThread
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread for the whole session; the
    # ORM calls the tests make between browser steps are still plain synchronous calls.
    # (Subprocesses that run `check --deploy` remove this variable again.)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class _NoStaticHandler:
    """Let the studio's own middleware (WhiteNoise, hashed names) serve static files,
    as in production, instead of the test server's finder-based static handler."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        return self.application(environ, start_response)


@pytest.fixture
def studio_server(transactional_db):
    thread = LiveServerThread("localhost", _NoStaticHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield SimpleNamespace(url=f"http://localhost:{thread.port}")
    thread.terminate()


DEFAULT_TIMEOUT_MS = 15_000


def wait_for_function(page, expression: str, *, arg=None, timeout: float | None = None, **_):
    """`page.wait_for_function` under the studio's Content-Security-Policy.

    Playwright's own version runs its string through `eval()` inside the page, which a CSP
    without 'unsafe-eval' refuses. This one polls `page.evaluate` (run through the DevTools
    protocol, which the page's CSP does not govern), so the pages are tested under the CSP
    they are served with. Same contract: returns the first truthy value, or times out.
    """
    limit = (DEFAULT_TIMEOUT_MS if timeout is None else timeout) / 1000
    deadline = time.monotonic() + limit
    while True:
        try:
            value = page.evaluate(expression, arg)
        except PlaywrightError as error:  # the page navigated (a reload) while it was asked
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"wait_for_function: {expression!r} still false after {limit} s")
        time.sleep(0.03)


@pytest.fixture
def page(browser, studio_server):
    context = browser.new_context(base_url=studio_server.url)
    page = context.new_page()
    page.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page.wait_for_function = lambda expression, **kwargs: wait_for_function(
        page, expression, **kwargs
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


from tests.training.conftest import make_bccd_project  # noqa: E402, F401 - shared fixture
from tests.training.model_fixtures import (  # noqa: E402, F401 - shared fixtures
    reviewed_model,
    stored_model,
    trained_for_review,
)
