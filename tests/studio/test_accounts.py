"""Log in, wrong logins, lock-out, API tokens."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

PASSWORD = "correct-Horse-battery-9"


@pytest.fixture
def alice(make_user):
    return make_user("alice", password=PASSWORD)


@pytest.mark.django_db
def test_login_page_and_successful_login(client, alice):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/projects/"
    assert client.get("/projects/").status_code == 200


@pytest.mark.django_db
def test_wrong_login_says_so(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"Wrong username or password" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_five_failures_lock_the_client_out(alice):
    client = Client(REMOTE_ADDR="10.1.2.3")
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "alice", "password": "bad"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "bad"})
    assert response.status_code == 429
    # Even the right password is refused while locked out...
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed" in response.content
    assert "_auth_user_id" not in client.session
    # ...but another client is not affected.
    other = Client(REMOTE_ADDR="10.9.9.9")
    response = other.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_success_resets_the_failure_count(alice):
    client = Client(REMOTE_ADDR="10.1.2.4")
    for _ in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": "bad"})
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    client.post("/accounts/logout/")
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "alice", "password": "bad"})
    assert response.status_code == 200  # the count started again after the success


@pytest.mark.django_db
def test_api_token_authenticates_scripts(alice):
    anon = APIClient()
    assert anon.get("/api/v1/me").status_code == 401
    response = anon.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    key = response.json()["token"]
    script = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/api/v1/me").json()["username"] == "alice"
    # A new token replaces the old one.
    newer = anon.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD})
    assert script.get("/api/v1/me").status_code == 401
    fresh = APIClient(HTTP_AUTHORIZATION=f"Token {newer.json()['token']}")
    assert fresh.get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_api_token_wrong_password_and_lockout(alice):
    client = APIClient(REMOTE_ADDR="10.3.3.3")
    for _ in range(4):
        response = client.post("/api/v1/auth/token", {"username": "alice", "password": "x"})
        assert response.status_code == 400
        assert response.json()["detail"] == "Wrong username or password."
    response = client.post("/api/v1/auth/token", {"username": "alice", "password": "x"})
    assert response.status_code == 429
    response = client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429


@pytest.mark.django_db
def test_account_page_creates_a_token(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/")
    assert response.status_code == 200
    key = response.context["new_key"]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_password_change(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-Long-pass-42",
            "new_password2": "another-Long-pass-42",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another-Long-pass-42")


@pytest.mark.django_db
def test_admin_can_create_users(client, make_user, django_user_model):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "bob",
            "password1": "bobs-Long-pass-77",
            "password2": "bobs-Long-pass-77",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert django_user_model.objects.get(username="bob").check_password("bobs-Long-pass-77")
