"""A person logs in, creates a project, adds a member, and logs out, in a real Chromium."""

from __future__ import annotations

import pytest

from labeling.models import Membership, Project
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-11"


def test_wrong_password_then_login_create_project_and_add_member(page, make_user):
    make_user("alice", password=PASSWORD)
    make_user("bob")

    log_in(page, "alice", "wrong")
    assert page.get_by_role("alert").inner_text().startswith("Wrong username or password")

    log_in(page, "alice", PASSWORD)
    page.wait_for_url("**/projects/")
    assert "No projects yet" in page.content()

    page.fill("#project-create input[name=name]", "Blood cells")
    page.fill("#project-create textarea[name=description]", "BCCD smears")
    page.click("#project-create button[type=submit]")
    page.wait_for_url("**/projects/*/")
    project = Project.objects.get(name="Blood cells")
    assert page.url.endswith(f"/projects/{project.pk}/")
    assert page.get_by_test_id("role").inner_text() == "owner"

    page.fill("#member-add input[name=username]", "bob")
    page.select_option("#member-add select[name=role]", "viewer")
    page.click("#member-add button[type=submit]")
    page.wait_for_selector("#members tr:has-text('bob')")
    assert Membership.objects.get(project=project, user__username="bob").role == "viewer"

    # A bad request shows the server's message and changes nothing.
    page.fill("#member-add input[name=username]", "nobody")
    page.click("#member-add button[type=submit]")
    alert = page.locator("#members .error")
    alert.wait_for(state="visible")
    assert "no user named 'nobody'" in alert.inner_text()
    assert project.memberships.count() == 2

    page.click("button:has-text('Log out')")
    page.wait_for_url("**/accounts/login/")


def test_viewer_sees_no_management_controls(page, make_user):
    owner = make_user("olga")
    make_user("vera", password=PASSWORD)
    project = Project.objects.create(name="Parts", created_by=owner)
    Membership.objects.create(project=project, user=owner, role="owner")
    Membership.objects.create(
        project=project,
        user=project.created_by.__class__.objects.get(username="vera"),
        role="viewer",
    )

    log_in(page, "vera", PASSWORD)
    page.wait_for_url("**/projects/")
    page.click("text=Parts")
    page.wait_for_url(f"**/projects/{project.pk}/")
    assert page.get_by_test_id("role").inner_text() == "viewer"
    assert page.locator("#member-add").count() == 0
    assert page.locator("#project-delete").count() == 0
