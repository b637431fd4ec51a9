"""Starting a project in Chromium: with its classes, or straight from a dataset import
(a real worker runs the import); the project page's workflow strip says what is next."""

from __future__ import annotations

import shutil

import pytest

from labeling.models import Category, DatasetImport, Image, Project
from tests.browser.editor_pages import sign_in
from tests.training.conftest import WORKER_ENV, bccd_subset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_project_with_its_classes_and_see_the_next_step(page, studio_server, make_user):
    sign_in(page.context, studio_server.url, make_user("maker"))
    page.goto("/projects/")
    page.fill("#project-create input[name=name]", "Blood cells")
    page.fill("#project-create textarea[name=classes]", "RBC, WBC\nPlatelets")
    page.click("#project-create button[type=submit]")
    page.wait_for_url("**/projects/*/")
    project = Project.objects.get(name="Blood cells")
    assert page.url.endswith(f"/projects/{project.pk}/")
    names = list(Category.objects.filter(project=project).values_list("name", flat=True))
    assert names == ["RBC", "WBC", "Platelets"]
    assert page.locator("#classes tr[data-category]").count() == 3
    assert page.locator("#workflow li").all_inner_texts()[0].startswith("Images")
    assert page.locator("#workflow li.current").get_attribute("data-step") == "images"
    page.click("#next-step a:has-text('Add images to label')")
    page.wait_for_url(f"**/projects/{project.pk}/upload/")


def test_a_project_from_a_dataset_import(page, studio_server, make_user, tmp_path, worker_factory):
    worker_factory(**WORKER_ENV)
    sign_in(page.context, studio_server.url, make_user("importer"))
    root = bccd_subset(tmp_path / "voc", {"train": 2, "val": 1})
    archive = shutil.make_archive(str(tmp_path / "bccd-small"), "zip", root)
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": "not a list"}')
    page.goto("/projects/")

    page.set_input_files("#project-import input[name=file]", str(broken))
    page.click("#project-import button[type=submit]")
    error = page.locator("#project-import .error")
    error.wait_for(state="visible", timeout=60_000)
    assert error.inner_text().startswith("Import failed:")
    assert error.inner_text().endswith('The project "broken" was removed again.')
    assert not Project.objects.filter(name="broken").exists()

    page.set_input_files("#project-import input[name=file]", archive)
    page.click("#project-import button[type=submit]")
    page.wait_for_url("**/projects/*/", timeout=60_000)
    project = Project.objects.get(name="bccd-small")
    assert page.url.endswith(f"/projects/{project.pk}/")
    assert DatasetImport.objects.get(project=project).status == "succeeded"
    assert Image.objects.filter(project=project).count() == 3
    assert set(Category.objects.filter(project=project).values_list("name", flat=True)) >= {"RBC"}
    assert page.locator("#workflow [data-step=labeled] .detail").inner_text() == "3 of 3"
    assert page.locator("#workflow li.current").get_attribute("data-step") == "trained"
    assert "Train a model on the 3 labeled images" in page.inner_text("#next-step")
