"""A model version's name and notes, and deleting a version, on the model page in real
Chromium: who sees the controls, the confirmation, the production version refused."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from tests.browser.conftest import log_in
from training.models import ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"


def sign_in(page, user) -> None:
    page.context.clear_cookies()
    user.set_password(PASSWORD)
    user.save()
    log_in(page, user.username, PASSWORD)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def model_page(model) -> str:
    return f"/projects/{model.project_id}/models/{model.pk}/"


def test_name_notes_and_delete_with_confirmation(page, stored_model, project_team):
    users = project_team["users"]
    production, second, third = stored_model(1, production=True), stored_model(2), stored_model(3)
    second.notes = "Viewers <b>read</b> this."
    second.save()

    # Viewers read the notes and change nothing.
    sign_in(page, users["viewer"])
    page.goto(model_page(second))
    assert page.inner_text("#about [data-field=notes]") == "Viewers <b>read</b> this."
    assert page.locator("#about-form, #delete-model").count() == 0

    # An annotator names the version and writes notes, with the keyboard.
    sign_in(page, users["annotator"])
    page.goto(model_page(second))
    page.click("#about-form input[name=name]")
    page.keyboard.type("dusk cameras")
    page.click("#about-form textarea[name=notes]")
    page.keyboard.press("Control+a")
    page.keyboard.type("More night images.")
    page.click("#about-save")
    page.wait_for_selector("#about-status:has-text('Saved.')")
    assert page.inner_text("#model h1 [data-field=model-name]") == " · dusk cameras"
    second.refresh_from_db()
    assert (second.name, second.notes) == ("dusk cameras", "More night images.")
    page.goto(f"/projects/{second.project_id}/models/")
    assert page.inner_text(f"tr[data-model='{second.pk}'] [data-field=name]") == "dusk cameras"
    page.goto(f"/projects/{second.project_id}/")  # the project page's Models card too
    assert page.inner_text("[data-field=model-name]") == "dusk cameras"

    # The production version cannot be deleted: the button says why and is disabled.
    page.goto(model_page(production))
    assert page.is_disabled("#delete-model")
    assert page.is_visible("#delete-production-note")

    # Delete asks first; Cancel keeps the version.
    page.goto(model_page(second))
    page.click("#delete-model")
    assert page.is_visible("#delete-confirm")
    assert "ONNX file and checkpoint are removed" in page.inner_text("#delete-confirm")
    page.click("#delete-no")
    assert not page.is_visible("#delete-confirm")
    assert ModelVersion.objects.filter(pk=second.pk).exists()
    files = [second.onnx_file, second.checkpoint_file]
    page.click("#delete-model")
    page.click("#delete-yes")
    page.wait_for_url(lambda url: url.endswith("/models/?deleted=2"))
    assert page.inner_text("[data-testid=deleted]") == (
        "Model v2 was deleted, with its ONNX file and checkpoint."
    )
    assert page.locator(f"tr[data-model='{second.pk}']").count() == 0
    assert not ModelVersion.objects.filter(pk=second.pk).exists()
    assert not any(default_storage.exists(name) for name in files)

    # v3 became the production version meanwhile (an owner, elsewhere): the server's 409
    # is shown as it says, and nothing is deleted.
    page.goto(model_page(third))
    ModelVersion.objects.filter(pk=production.pk).update(is_production=False)
    ModelVersion.objects.filter(pk=third.pk).update(is_production=True)
    page.click("#delete-model")
    page.click("#delete-yes")
    page.wait_for_selector("#model .error:not([hidden])")
    assert page.inner_text("#model .error") == (
        "v3 is the production model: make another version the production one first."
    )
    assert ModelVersion.objects.filter(pk=third.pk).exists()
    assert default_storage.exists(third.onnx_file)
