from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from labeling.models import Membership, Project, Role

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def pytest_report_header(config):
    database = os.environ.get("DATABASE_URL", "SQLite (embedded default)")
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem (embedded default)")
    return [f"studio database: {database}", f"studio broker: {broker}"]


@pytest.fixture(scope="session", autouse=True)
def _static_files(django_db_blocker):
    """Hashed static files (WhiteNoise's manifest), as production serves them."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, password: str | None = None, **extra):
        # No password unless asked: hashing one costs ~0.3 s, and force_login needs none.
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def project_team(make_user):
    """Project A with an owner, an annotator and a viewer; project B owned by an outsider."""
    owner, annotator, viewer = make_user("owner"), make_user("annotator"), make_user("viewer")
    outsider = make_user("outsider")
    project = Project.objects.create(name="Cells", created_by=owner)
    for user, role in ((owner, Role.OWNER), (annotator, Role.ANNOTATOR), (viewer, Role.VIEWER)):
        Membership.objects.create(project=project, user=user, role=role)
    other = Project.objects.create(name="Other team's project", created_by=outsider)
    Membership.objects.create(project=other, user=outsider, role=Role.OWNER)
    return {
        "project": project,
        "other": other,
        "users": {
            "owner": owner,
            "annotator": annotator,
            "viewer": viewer,
            "outsider": outsider,
        },
    }


@pytest.fixture
def api_client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)
