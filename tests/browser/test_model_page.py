"""The model page in real Chromium: the threshold slider's numbers and the error gallery
equal a recomputation in Python from the stored detections; downloads; registry."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from tests.browser.conftest import log_in
from training.ml.data import read_image
from training.ml.evaluate import classify_detections, stored_row
from training.models import ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-Long-pass-12"
THRESHOLDS = [0.2, 0.35, 0.5, 0.63, 0.8]


def open_model_page(page, model, user) -> None:
    user.set_password(PASSWORD)
    user.save()
    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{model.project_id}/models/{model.pk}/")
    page.wait_for_function("document.body.dataset.renderedThreshold !== undefined")


def set_threshold(page, value: float) -> None:
    page.fill("#threshold-slider", str(value))
    page.wait_for_function(f"document.body.dataset.renderedThreshold === '{value}'")


def shown_row(page, selector: str) -> dict:
    return page.eval_on_selector_all(
        f"{selector} [data-field]",
        "cells => Object.fromEntries(cells.map(c => [c.dataset.field, Number(c.dataset.value)]))",
    )


def recompute(images, threshold, iou_threshold, category_id=None):
    """P/R/F1/TP/FP/FN from the stored detections, independently of the sweep's code."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    tp = fp = fn = 0
    for image in images:
        gts = [g for g in image["gt"] if category_id in (None, g[4])]
        dets = [d for d in image["det"] if d[4] >= threshold and category_id in (None, d[5])]
        used: set[int] = set()
        for d in sorted(dets, key=lambda d: -d[4]):
            options = [
                (iou(d, g), -j) for j, g in enumerate(gts)
                if j not in used and g[4] == d[5] and iou(d, g) >= iou_threshold
            ]  # fmt: skip
            if options:
                used.add(-max(options)[1])
                tp += 1
            else:
                fp += 1
        fn += len(gts) - len(used)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def assert_same(shown: dict, expected: dict, where) -> None:
    for key in ("tp", "fp", "fn"):
        assert shown[key] == expected[key], (where, key, shown, expected)
    for key in ("precision", "recall", "f1"):
        assert shown[key] == pytest.approx(expected[key], abs=1e-12), (where, key)


GALLERY_JS = """cards => cards.map(card => ({
  id: Number(card.dataset.imageId),
  counts: [card.dataset.fp, card.dataset.fn, card.dataset.wrongClass,
           card.dataset.poorLocalisation].map(Number),
  href: card.querySelector('a') ? card.querySelector('a').getAttribute('href') : null,
  boxes: [...card.querySelectorAll('rect')].map(r => [r.dataset.kind,
           r.dataset.det === undefined ? -1 : Number(r.dataset.det),
           r.dataset.gt === undefined ? -1 : Number(r.dataset.gt)]),
}))"""


def expected_gallery(images, threshold, *, kind=None, category_id=None):
    """What the gallery must show, from evaluate.py's rules, worst image first."""
    cards = []
    for image in images:
        found = classify_detections(stored_row(image), threshold)
        det_cat = [d[5] for d in image["det"]]
        gt_cat = [g[4] for g in image["gt"]]
        errors = [("fp", [det_cat[p]]) for p in found["fp"]]
        errors += [("fn", [gt_cat[g]]) for g in found["fn"]]
        for name in ("wrong_class", "poor_localisation"):
            errors += [(name, [det_cat[p], gt_cat[g]]) for p, g in found[name]]
        matching = [
            e for e in errors
            if kind in (None, e[0]) and (category_id is None or category_id in e[1])
        ]  # fmt: skip
        if not matching:
            continue
        boxes = [["fn" if g in found["fn"] else "gt", -1, g] for g in range(len(gt_cat))]
        boxes += [
            [k, p, g] for k in ("tp", "wrong_class", "poor_localisation") for p, g in found[k]
        ]
        boxes += [["fp", p, -1] for p in found["fp"]]
        counts = [len(found[k]) for k in ("fp", "fn", "wrong_class", "poor_localisation")]
        cards.append((len(matching), sum(counts), image["id"], counts, sorted(boxes)))
    cards.sort(key=lambda c: (-c[0], -c[1]))  # stable: ties keep the report's image order
    return cards


def test_slider_numbers_and_gallery_match_python(page, reviewed_model, project_team):
    report = reviewed_model.evaluation
    images = report["per_image"]["images"]
    sweep = report["confidence_sweep"]
    classes = {c["name"]: c["category_id"] for c in report["per_class"]}
    open_model_page(page, reviewed_model, project_team["users"]["owner"])
    before = shown_row(page, "#overall")
    seen = set()
    for threshold in THRESHOLDS:
        set_threshold(page, threshold)
        i = sweep["thresholds"].index(threshold)
        overall = shown_row(page, "#overall")
        expected = recompute(images, threshold, 0.5)
        assert_same(overall, expected, threshold)
        # ... which is also the stored sweep, and the text shows it to 3 decimals.
        assert overall["precision"] == sweep["iou_0.5"]["overall"]["precision"][i]
        text = page.inner_text("#overall [data-field=recall]")
        assert text == f"{expected['recall']:.3f}"
        seen.add((overall["precision"], overall["recall"]))
        for name, category_id in classes.items():
            row = shown_row(page, f"#per-class tr[data-class={name}]")
            assert_same(row, recompute(images, threshold, 0.5, category_id), (threshold, name))
        # The error gallery and the confusion matrix at this threshold.
        shown = page.eval_on_selector_all(".gallery li", GALLERY_JS)
        want = expected_gallery(images, threshold)
        assert [(c["id"], c["counts"], sorted(c["boxes"])) for c in shown] == [
            (c[2], c[3], c[4]) for c in want
        ], threshold
        assert sum(shown[0]["counts"]) == max(c[1] for c in want)  # worst first
    assert len(seen) >= 3, "moving the slider should change precision and recall"
    assert before != shown_row(page, "#overall")

    # IoU 0.75: stricter matching, same detections.
    page.check("input[name=iou][value='iou_0.75']")
    page.wait_for_function(
        "Number(document.querySelector('#overall [data-field=tp]').dataset.value) <= "
        f"{recompute(images, 0.8, 0.5)['tp']}"
    )
    assert_same(shown_row(page, "#overall"), recompute(images, 0.8, 0.75), "iou 0.75")


def test_gallery_filters_links_and_confusion_matrix(page, reviewed_model, project_team):
    report = reviewed_model.evaluation
    images = report["per_image"]["images"]
    open_model_page(page, reviewed_model, project_team["users"]["viewer"])
    set_threshold(page, 0.5)
    page.select_option("#error-kind", "fp")
    shown = page.eval_on_selector_all(".gallery li", GALLERY_JS)
    want = expected_gallery(images, 0.5, kind="fp")
    assert [c["id"] for c in shown] == [c[2] for c in want]
    assert all(c["counts"][0] > 0 for c in shown)
    page.select_option("#error-kind", "")
    blue = next(c["category_id"] for c in report["per_class"] if c["name"] == "blue")
    page.select_option("#error-class", str(blue))
    shown = page.eval_on_selector_all(".gallery li", GALLERY_JS)
    assert [c["id"] for c in shown] == [
        c[2] for c in expected_gallery(images, 0.5, category_id=blue)
    ]
    project = reviewed_model.project_id
    assert shown[0]["href"].startswith(f"/projects/{project}/annotate/{shown[0]['id']}/?")
    # The thumbnail (a members-only file view) loads under the drawn boxes.
    href = page.get_attribute(".gallery li image", "href")
    assert href.startswith(f"/api/v1/projects/{project}/images/")
    assert page.request.get(href).status == 200
    # Confusion matrix: the diagonal is the true positives at the threshold.
    tp = page.eval_on_selector_all(
        "#confusion td[data-row][data-column]",
        "cells => cells.filter(c => c.dataset.row === c.dataset.column && c.dataset.value)"
        ".reduce((n, c) => n + Number(c.dataset.value), 0)",
    )
    assert tp == recompute(images, 0.5, 0.5)["tp"]
    assert page.locator("#save-threshold").count() == 0  # viewers do not save


def test_save_thresholds_production_and_download(page, reviewed_model, project_team, tmp_path):
    open_model_page(page, reviewed_model, project_team["users"]["annotator"])
    set_threshold(page, 0.35)
    page.fill("#per-class tr[data-class=red] input.class-threshold", "0.6")
    page.click("#save-threshold")
    page.wait_for_selector("#save-status:has-text('Saved')")
    reviewed_model.refresh_from_db()
    assert reviewed_model.threshold == 0.35
    assert reviewed_model.class_thresholds == {"red": 0.6}
    assert page.locator("#make-production").count() == 0  # serving is the owner's decision
    page.context.clear_cookies()  # log out the annotator
    open_model_page(page, reviewed_model, project_team["users"]["owner"])
    page.once("dialog", lambda dialog: dialog.accept())  # not usable yet: confirmed
    page.click("#make-production")
    page.wait_for_selector("[data-field=production]:not([hidden])")
    reviewed_model.refresh_from_db()
    assert reviewed_model.is_production

    page.reload()  # the saved values come back
    page.wait_for_function("document.body.dataset.renderedThreshold === '0.35'")
    assert page.input_value("#per-class tr[data-class=red] input.class-threshold") == "0.60"

    with page.expect_download() as download:
        page.click("#download-onnx")
    path = tmp_path / "model.onnx"
    download.value.save_as(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["score_threshold"] == "0.35"
    from labeling.models import Image
    from tests.conftest import media_root

    [first] = reviewed_model.evaluation["per_image"]["images"][:1]
    pixels = read_image(media_root() / Image.objects.get(pk=first["id"]).file.name).numpy()
    boxes, scores, labels, _ = session.run(None, {"images": pixels[None]})
    shown = [d for d in first["det"] if d[4] >= 0.35]
    assert sum(scores >= 0.35 + 1e-3) <= len(shown) <= sum(scores >= 0.35 - 1e-3)


def test_old_models_registry_and_compare(page, reviewed_model, project_team):
    """A model evaluated before per-image detections were kept still renders (no JS
    error; the gallery says it is unavailable); the registry marks production; compare."""
    old = ModelVersion.objects.get(pk=reviewed_model.pk)
    old.pk, old.version = None, 2
    old.run = old.run.__class__.objects.create(
        project=old.project, dataset_version=old.run.dataset_version, status="succeeded"
    )
    old.evaluation = {k: v for k, v in old.evaluation.items() if k != "per_image"}
    old.export = {"metadata": old.export["metadata"]}
    old.save()
    open_model_page(page, old, project_team["users"]["owner"])
    assert page.is_visible("#gallery-unavailable")
    assert page.locator("#confusion td[data-value]").count() > 0  # the stored matrix
    set_threshold(page, 0.5)
    ModelVersion.objects.filter(pk=old.pk).update(evaluation={}, metrics={})
    page.reload()  # no evaluation at all: the page still works
    page.wait_for_function("document.body.dataset.renderedThreshold === ''")
    assert page.is_visible("#no-sweep") and page.is_visible("#gallery-unavailable")

    page.goto(f"/projects/{old.project_id}/models/")
    assert page.locator("#models tbody tr").count() == 2
    page.once("dialog", lambda dialog: dialog.accept())  # not usable yet: confirmed
    page.click(f"tr[data-model='{old.pk}'] button.make-production")
    page.wait_for_selector(f"tr[data-model='{old.pk}'] .status:has-text('production')")
    old.refresh_from_db()
    assert old.is_production
    page.check(f"tr[data-model='{old.pk}'] input.pick")
    page.check(f"tr[data-model='{reviewed_model.pk}'] input.pick")
    page.click("#compare-button")
    page.wait_for_url("**/models/compare/?a=*")
    assert page.locator("#compare-metrics tbody tr").count() > 10
    assert page.locator("#compare-classes tbody tr").count() == 2
    assert page.inner_text("#compare-metrics thead").split() == ["v1", "v2", "B", "−", "A"]
