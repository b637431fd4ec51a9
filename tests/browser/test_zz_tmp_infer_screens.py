# ruff: noqa
import pytest
from tests.browser.conftest import log_in
from tests.training.conftest import model_version, tiny_trained
from tests.training.prelabel_helpers import add_categories, add_images
from training import inference
from training.models import PrelabelJob
from training.prelabel import prelabel_execute, prelabel_start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_screens(page, model_version, tiny_trained, project_team):
    inference.session_cache().clear()
    project = project_team["project"]
    add_categories(project)
    add_images(project, tiny_trained, indices=(1, 2, 3, 4, 5, 6))
    job = prelabel_start(project=project, model=model_version, user=None, threshold=0.06)
    prelabel_execute(job.pk)
    user = project_team["users"]["owner"]
    user.set_password("browser-Long-pass-12"); user.save()
    log_in(page, user.username, "browser-Long-pass-12")
    page.set_viewport_size({"width": 1200, "height": 1000})
    page.goto(f"/projects/{project.pk}/")
    page.locator("#most-useful li").first.wait_for()
    page.screenshot(path="/tmp/infer/project.png", full_page=True)
    page.goto(f"/projects/{project.pk}/models/{model_version.pk}/try/")
    _, images, _ = tiny_trained
    page.set_input_files("#file-input", str(images / "img_001.png"))
    page.wait_for_function("document.getElementById('stats').textContent.includes('server')")
    page.fill("#threshold", "0.075")
    page.click("#pick-toggle")
    page.locator("#picker-thumbs li").first.wait_for()
    page.screenshot(path="/tmp/infer/try.png", full_page=True)
