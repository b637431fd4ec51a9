"""From an error in the model's gallery to the editor and back, in real Chromium: file
names in the captions, the model's detections over the image (dashed, with scores,
toggleable), the clicked error highlighted, next/previous through the gallery's errors
only, and the way back to the review at the same threshold and filter."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from labeling.models import Image
from tests.browser.editor_pages import wait_ready
from tests.browser.test_model_page import expected_gallery, open_model_page, set_threshold

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
THRESHOLD = 0.35

# Pixels drawn on the boxes layer (the image has no labels: only the model's overlay).
DRAWN_JS = """() => {
  const c = document.getElementById('layer-boxes');
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i]) n += 1;
  return n;
}"""


def as_xywh(box):
    return pytest.approx([box[0], box[1], box[2] - box[0], box[3] - box[1]])


def test_error_gallery_to_editor_and_back(page, reviewed_model, project_team):
    report = reviewed_model.evaluation
    images = {image["id"]: image for image in report["per_image"]["images"]}
    page.set_viewport_size({"width": 1440, "height": 900})
    open_model_page(page, reviewed_model, project_team["users"]["annotator"])
    set_threshold(page, THRESHOLD)
    page.select_option("#error-kind", "fp")
    want = [c[2] for c in expected_gallery(list(images.values()), THRESHOLD, kind="fp")]
    assert len(want) >= 3, "the synthetic model should have false positives on 3+ images"
    assert (
        page.eval_on_selector_all(
            ".gallery li", "cards => cards.map(c => Number(c.dataset.imageId))"
        )
        == want
    )

    # Captions name the files, not internal ids.
    names = dict(Image.objects.filter(pk__in=want).values_list("pk", "original_name"))
    for image_id in want:
        caption = page.inner_text(f".gallery li[data-image-id='{image_id}'] .meta")
        assert caption.startswith(names[image_id]), caption
        assert f"#{image_id}" not in caption

    # Click one false positive's box (the mouse, on the box's edge) of the second card.
    second = want[1]
    rect = page.locator(f".gallery li[data-image-id='{second}'] rect[data-kind=fp]").first
    det = int(rect.get_attribute("data-det"))
    rect.scroll_into_view_if_needed()
    box = rect.bounding_box()
    page.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)
    page.wait_for_url(lambda url: f"/annotate/{second}/?" in url)
    wait_ready(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["review"] == [str(reviewed_model.pk)] and query["threshold"] == [str(THRESHOLD)]
    review = page.evaluate("window.__editor.review()")
    assert review["walk"] == want  # the gallery's images, in its order
    kept = [d for d in images[second]["det"] if d[4] >= THRESHOLD]
    assert [d["bbox"] for d in review["detections"]] == [as_xywh(d) for d in kept]
    assert review["detections"][0]["label"].endswith(f"{kept[0][4]:.2f}")  # with scores
    assert review["focus"]["bbox"] == as_xywh(images[second]["det"][det])
    assert review["focus"]["label"].startswith("false positive")
    assert page.inner_text("[data-field=review-focus]").startswith("Highlighted: false positive")
    assert page.inner_text("#position") == f"error image 2 / {len(want)}"
    drawn = page.evaluate(DRAWN_JS)
    assert drawn > 0

    # The overlay is toggled off and on by the checkbox.
    page.click("#review-show")
    page.wait_for_function(f"({DRAWN_JS})() === 0")
    assert page.evaluate("window.__editor.review()")["detections"] == []
    page.click("#review-show")
    page.wait_for_function(f"({DRAWN_JS})() === {drawn}")

    # Next and previous walk the false positives only (keyboard and buttons).
    page.focus("#stage")
    page.keyboard.press("d")
    page.wait_for_function(f"window.__editor.state().imageId === {want[2]}")
    assert page.inner_text("#position") == f"error image 3 / {len(want)}"
    focus = page.evaluate("window.__editor.review()")["focus"]
    assert focus["label"].startswith("false positive")  # the image's first false positive
    page.click("#prev")
    page.click("#prev")
    page.wait_for_function(f"window.__editor.state().imageId === {want[0]}")
    assert page.is_disabled("#prev")
    assert parse_qs(urlparse(page.url).query)["review"] == [str(reviewed_model.pk)]

    # Back to the review at the same threshold and filter.
    page.click("#review-back")
    page.wait_for_url(lambda url: f"/models/{reviewed_model.pk}/?" in url)
    page.wait_for_function(f"document.body.dataset.renderedThreshold === '{THRESHOLD}'")
    assert page.input_value("#threshold-slider") == str(THRESHOLD)
    assert page.input_value("#error-kind") == "fp"
    assert (
        page.eval_on_selector_all(
            ".gallery li", "cards => cards.map(c => Number(c.dataset.imageId))"
        )
        == want
    )
