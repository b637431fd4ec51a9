from __future__ import annotations

import io

import pytest
from django.urls import reverse

from labeling import ingest
from tests.labeling.imagefiles import image_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["category", "image", "datasetimport"])
def test_admin_lists_and_shows(model, admin_client, project_team):
    [result] = ingest.images_ingest(
        project=project_team["project"], sources=[ingest.Source("a.png", io.BytesIO(image_bytes()))]
    )
    assert admin_client.get(reverse(f"admin:labeling_{model}_changelist")).status_code == 200
    if model == "image":
        url = reverse("admin:labeling_image_change", args=[result.image_id])
        assert admin_client.get(url).status_code == 200
