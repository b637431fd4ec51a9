"""Projects and members through the API: creation, validation, the last owner."""

from __future__ import annotations

import pytest

from labeling.models import Membership, Project


@pytest.mark.django_db
def test_create_project_makes_creator_owner(api_client_for, make_user):
    alice = make_user("alice")
    client = api_client_for(alice)
    response = client.post("/api/v1/projects", {"name": "  Cells  ", "description": "BCCD"})
    assert response.status_code == 201
    assert response.json()["name"] == "Cells" and response.json()["role"] == "owner"
    project = Project.objects.get(pk=response.json()["id"])
    assert Membership.objects.get(project=project).user == alice
    listed = client.get("/api/v1/projects").json()
    assert [p["name"] for p in listed] == ["Cells"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}])
def test_create_project_refuses_bad_names(api_client_for, make_user, body):
    client = api_client_for(make_user("alice"))
    response = client.post("/api/v1/projects", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("name:")
    assert Project.objects.count() == 0


@pytest.mark.django_db
def test_projects_list_only_mine(api_client_for, project_team):
    client = api_client_for(project_team["users"]["viewer"])
    names = [p["name"] for p in client.get("/api/v1/projects").json()]
    assert names == ["Cells"]
    assert client.get("/api/v1/projects").json()[0]["role"] == "viewer"


@pytest.mark.django_db
def test_last_owner_cannot_leave_or_be_demoted(api_client_for, project_team):
    project = project_team["project"]
    owner = project_team["users"]["owner"]
    client = api_client_for(owner)
    own = Membership.objects.get(project=project, user=owner)
    url = f"/api/v1/projects/{project.pk}/members/{own.pk}"
    response = client.patch(url, {"role": "viewer"}, format="json")
    assert response.status_code == 400
    assert "at least one owner" in response.json()["detail"]
    assert client.delete(url).status_code == 400
    own.refresh_from_db()
    assert own.role == "owner"
    # With a second owner, the first may step down.
    annotator = Membership.objects.get(project=project, role="annotator")
    members = f"/api/v1/projects/{project.pk}/members/{annotator.pk}"
    assert client.patch(members, {"role": "owner"}, format="json").status_code == 200
    assert client.patch(url, {"role": "viewer"}, format="json").status_code == 200


@pytest.mark.django_db
def test_add_member_errors(api_client_for, project_team):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    url = f"/api/v1/projects/{project.pk}/members"
    response = client.post(url, {"username": "nobody", "role": "viewer"}, format="json")
    assert response.status_code == 400 and "no user named" in response.json()["detail"]
    response = client.post(url, {"username": "viewer", "role": "viewer"}, format="json")
    assert response.status_code == 400 and "already a member" in response.json()["detail"]
    response = client.post(url, {"username": "outsider", "role": "admin"}, format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("role:")
    assert project.memberships.count() == 3


@pytest.mark.django_db
def test_delete_project_removes_it(api_client_for, project_team):
    project = project_team["project"]
    client = api_client_for(project_team["users"]["owner"])
    assert client.delete(f"/api/v1/projects/{project.pk}").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert Project.objects.filter(pk=project_team["other"].pk).exists()
