"""The whole loop on a phone (390x844, touch), in one walk with a real worker: create a
project with its classes, upload images, set splits in the grid, draw boxes with a finger,
train, open the model's review and download the model.

STUDIO_SHOTS=<folder> also saves the project page, the editor and the model page at the
phone's and a desktop's size (loop-<page>-<size>.png).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labeling.models import Annotation, Category, Image, Project
from tests.browser.conftest import wait_for_function
from tests.browser.editor_pages import idle, sign_in, state, wait_ready
from tests.browser.test_phone_editor import PHONE, phone, touch_drag  # noqa: F401 - a fixture
from tests.labeling.imagefiles import image_bytes
from tests.training.conftest import WORKER_ENV
from training import registry
from training.models import ModelVersion, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1440, "height": 900}


DRAWER = "document.getElementById('editor-side').getBoundingClientRect()"


def _pick_class(page, category: Category) -> None:
    """The class from the side panel, a drawer on a phone (opened and shut again)."""
    page.get_by_test_id("side-toggle").click()
    wait_for_function(page, f"{DRAWER}.right <= window.innerWidth + 1")  # slid in
    page.locator(f"#classes li[data-category='{category.pk}'] .class-pick").click()
    page.get_by_test_id("side-close").click()
    wait_for_function(page, f"{DRAWER}.left >= window.innerWidth - 1")  # slid out
    assert state(page)["currentClass"] == category.pk


def _draw(page, category: Category, start, end) -> None:
    if state(page)["currentClass"] != category.pk:
        _pick_class(page, category)
    before = len(state(page)["boxes"])
    touch_drag(page, start, end)
    assert len(state(page)["boxes"]) == before + 1


def _set_split(page, images: list[Image], split: str) -> None:
    for image in images:
        page.locator(f"input.pick[value='{image.pk}']").tap()
    page.select_option("#split-choice", split)
    with page.expect_navigation():
        page.locator("#split-apply").tap()


def test_the_whole_loop_on_a_phone(
    phone,  # noqa: F811 - the fixture imported above
    browser,
    studio_server,
    make_user,
    settings,
    tmp_path,
    worker_factory,
):
    settings.STUDIO_MIN_BOXES_PER_CLASS = 1
    worker = worker_factory(**WORKER_ENV)
    owner = make_user("phone-owner")
    sign_in(phone.context, studio_server.url, owner)

    # A project with its classes.
    phone.goto("/projects/")
    phone.fill("#project-create input[name=name]", "Cells on a phone")
    phone.fill("#project-create textarea[name=classes]", "RBC, WBC")
    phone.locator("#project-create button[type=submit]").tap()
    phone.wait_for_url("**/projects/*/")
    project = Project.objects.get(name="Cells on a phone")
    rbc, wbc = Category.objects.filter(project=project).order_by("order")
    assert (rbc.name, wbc.name) == ("RBC", "WBC")
    project_url = f"/projects/{project.pk}/"

    # Upload three images.
    phone.locator("#next-step a").tap()
    phone.wait_for_url(f"**{project_url}upload/")
    files = []
    for i in range(3):
        path = tmp_path / f"cells-{i}.png"
        path.write_bytes(image_bytes(size=(800, 600), color=(60 + 50 * i, 120, 90)))
        files.append(str(path))
    phone.set_input_files("#file-input", files)
    phone.wait_for_selector("#upload-summary:has-text('3 added')", timeout=60_000)
    images = list(Image.objects.filter(project=project).order_by("id"))
    assert len(images) == 3

    # Splits in the grid: one image to validate on, two to train on.
    phone.goto(f"{project_url}images/")
    _set_split(phone, images[2:], "val")
    _set_split(phone, images[:2], "train")
    splits = Image.objects.filter(project=project).order_by("id").values_list("split", flat=True)
    assert list(splits) == ["train", "train", "val"]

    # Boxes drawn with a finger, image after image.
    phone.locator(f"li[data-image='{images[0].pk}'] a.frame").tap()
    phone.wait_for_url(f"**/annotate/{images[0].pk}/**")
    wait_ready(phone)
    for index, image in enumerate(images):
        if index:
            phone.locator("#next").tap()
            wait_for_function(phone, f"window.__editor.state()?.imageId === {image.pk}")
        _draw(phone, rbc, (100, 100), (300, 260))
        _draw(phone, wbc, (450, 250), (650, 450))
        idle(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for image in images:
        classes = sorted(
            Annotation.objects.filter(image=image).values_list("category__name", flat=True)
        )
        assert classes == ["RBC", "WBC"], image.original_name

    # The project page leads to Train.
    phone.goto(project_url)
    assert phone.locator("#workflow [data-step=labeled] .detail").inner_text() == "3 of 3"
    phone.locator("#next-step a:has-text('Train a model')").tap()
    phone.wait_for_url(f"**{project_url}train/")
    phone.check("input[name=preset][value=fast]")
    phone.locator("summary:has-text('Advanced settings')").tap()
    phone.fill("input[name=image_size]", "128")
    phone.fill("input[name=epochs]", "1")
    phone.locator("#train-form button[type=submit]").tap()
    phone.wait_for_url("**/runs/*/")
    run = TrainingRun.objects.get(project=project)
    try:
        phone.wait_for_selector("[data-field=status]:has-text('succeeded')", timeout=300_000)
    except Exception:
        run.refresh_from_db()
        raise AssertionError(
            f"{run.status} {run.error} | {worker.log_path.read_text()[-3000:]}"
        ) from None

    # The review, and the model downloaded.
    phone.locator("[data-field=model-link]").tap()
    phone.wait_for_url(f"**{project_url}models/*/")
    wait_for_function(phone, "document.body.dataset.renderedThreshold !== undefined")
    model = ModelVersion.objects.get(project=project)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with phone.expect_download() as download:
        phone.locator("#download-onnx").tap()
    saved = tmp_path / "model.onnx"
    download.value.save_as(saved)
    assert saved.read_bytes() == registry.onnx_bytes(model)  # with the studio's metadata
    assert abs(saved.stat().st_size - model.onnx_bytes) < 4096  # the size the page shows

    shots = os.environ.get("STUDIO_SHOTS")
    if shots:
        _screenshots(Path(shots), phone, browser, studio_server, owner, project, images[0], model)


def _screenshots(folder: Path, small, browser, studio_server, owner, project, image, model):
    folder.mkdir(parents=True, exist_ok=True)
    pages = {
        "project": f"/projects/{project.pk}/",
        "editor": f"/projects/{project.pk}/annotate/{image.pk}/",
        "model": f"/projects/{project.pk}/models/{model.pk}/",
    }
    desktop = browser.new_context(base_url=studio_server.url, viewport=DESKTOP)
    try:
        sign_in(desktop, studio_server.url, owner)
        wide = desktop.new_page()
        for size, page in (("phone", small), ("desktop", wide)):
            for name, url in pages.items():
                page.goto(url)
                page.wait_for_load_state("networkidle")
                if name == "editor":
                    wait_ready(page)
                page.screenshot(path=str(folder / f"loop-{name}-{size}.png"), full_page=True)
    finally:
        desktop.close()
