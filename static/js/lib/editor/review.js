// The editor opened from a model's error gallery (?review=<model id>&threshold=...; the
// query: lib/review_query.js). It overlays the model's detections of the image shown
// (dashed, with their scores, toggleable), highlights the error clicked in the gallery
// (or the image's first error under the gallery's filter), walks the gallery's images
// with next/previous (its filter and order: lib/evaluation.js gallery()), and links back
// to the review at the same threshold and filter.
// `page` is the editor page's context (pages/annotate.js): {data, editor}.
import * as ev from "../evaluation.js";
import { fromQuery, toQuery } from "../review_query.js";

const $ = (id) => document.getElementById(id);
const field = (name) => document.querySelector(`[data-field="${name}"]`);
export const KIND_LABELS = {
  fp: "false positive",
  fn: "missed",
  wrong_class: "wrong class",
  poor_localisation: "poor localisation",
};
const FOCUS_COLOUR = "#ff9f1c";

const toBox = (b) => ({ x: b[0], y: b[1], w: b[2] - b[0], h: b[3] - b[1] });

export class Review {
  constructor(page) {
    this.page = page;
    const review = page.data.review;
    this.active = Boolean(review);
    this.show = true;
    if (!this.active) return;
    const asked = fromQuery(window.location.search);
    this.asked = asked;
    this.names = new Map(review.classes.map((c) => [c.category_id, c.name]));
    this.threshold = asked.threshold ?? review.model.threshold;
    const thresholdOf = (cat) => asked.classThresholds[this.names.get(cat)] ?? this.threshold;
    this.thresholdOf = thresholdOf;
    const classified = review.images.map(ev.prepareImage)
      .map((image) => ({ image, found: ev.classify(image, thresholdOf) }));
    this.byId = new Map(classified.map((entry) => [entry.image.id, entry]));
    this.filter = { kind: asked.kind, categoryId: asked.categoryId };
    this.walk = ev.gallery(classified, this.filter).map((entry) => entry.image.id);
    this.clicked = { imageId: page.data.image.id, error: asked.error };
    const back = toQuery({ ...asked, threshold: this.threshold, error: null });
    $("review-back").href = `${review.urls.model}?${back}`;
    // the editor's own URL keeps the review (without the error clicked: it was this image's)
    const own = new URLSearchParams(back);
    own.set("review", String(review.model.id));
    this.query = own.toString();
    const what = asked.kind ? KIND_LABELS[asked.kind] : "any error";
    const cls = asked.categoryId === null ? "all classes" : this.names.get(asked.categoryId);
    field("review-summary").textContent = `${this.walk.length} test image(s) with ${what} ` +
      `(${cls}) at threshold ${this.threshold.toFixed(2)}, as evaluated against the boxes of ` +
      "its dataset version (edits made since do not change them); ‹ › walk them, worst first.";
    $("review-show").addEventListener("change", (event) => {
      this.show = event.target.checked;
      page.editor.redraw({ boxes: true });
      page.editor.focusStage();
    });
  }

  // {position, count, previous, next} of an image in the gallery's walk (records: {id}).
  neighbours(imageId) {
    const at = this.walk.indexOf(imageId);
    const near = (i) => (i >= 0 && i < this.walk.length ? { id: this.walk[i] } : null);
    if (at < 0) return { position: 0, count: this.walk.length, previous: null, next: near(0) };
    return { position: at + 1, count: this.walk.length, previous: near(at - 1), next: near(at + 1) };
  }

  // The error highlighted on an image: the one clicked (on the image it was clicked on),
  // else the image's first error under the filter; null for none.
  focusOf(imageId) {
    const entry = this.byId.get(imageId);
    if (!entry) return null;
    const errors = ev.errorsOf(entry.image, entry.found);
    const { error } = this.clicked;
    if (error && imageId === this.clicked.imageId) {
      const same = errors.find((e) => e.kind === error.kind && e.det === error.det && e.gt === error.gt);
      if (same) return same;
    }
    return errors.find((e) => ev.errorMatches(e, this.filter)) || null;
  }

  // The highlighted error's box ({x, y, w, h, label, color}: the detection, or the gt box
  // missed), or null.
  focusBox(imageId) {
    const entry = this.byId.get(imageId);
    const error = entry ? this.focusOf(imageId) : null;
    if (!error) return null;
    const { image } = entry;
    const source = error.det >= 0 ? image.det[error.det] : image.gt[error.gt];
    const score = error.det >= 0 ? ` ${source[4].toFixed(2)}` : "";
    const cat = error.det >= 0 ? source[5] : source[4];
    const label = `${KIND_LABELS[error.kind]}: ${this.nameOf(cat)}${score}`;
    return { ...toBox(source), label, color: FOCUS_COLOUR };
  }

  nameOf(cat) {
    return this.names.get(cat) || `class ${cat}`;
  }

  // What to draw on an image: the detections kept at the threshold ({x, y, w, h, c,
  // label}) and the highlighted error; null when the overlay is off or the image is not
  // one of the model's test images.
  overlay(imageId) {
    const entry = this.active && this.show ? this.byId.get(imageId) : null;
    if (!entry) return null;
    const detections = entry.image.det
      .filter((d) => d[4] >= this.thresholdOf(d[5]))
      .map((d) => ({ ...toBox(d), c: d[5], label: `${this.nameOf(d[5])} ${d[4].toFixed(2)}` }));
    return { detections, focus: this.focusBox(imageId), colorOf: (c) => this.colourOf(this.nameOf(c)) };
  }

  colourOf(name) {
    const category = this.page.editor.categories.find((c) => c.name === name);
    return category ? category.color : "#e3e6ec";
  }

  // The side panel's line about the error highlighted on the image shown.
  describe(imageId) {
    if (!this.active) return;
    const focus = this.focusBox(imageId);
    let text = "No error here at this threshold.";
    if (!this.byId.has(imageId)) text = "This image is not one of the model's test images.";
    else if (focus) text = `Highlighted: ${focus.label}`;
    field("review-focus").textContent = text;
  }

  // For the test hook: what is drawn on an image.
  snapshot(imageId) {
    if (!this.active) return null;
    const overlay = this.overlay(imageId);
    const plain = (b) => ({ bbox: [b.x, b.y, b.w, b.h], label: b.label });
    return {
      walk: [...this.walk],
      threshold: this.threshold,
      shown: this.show,
      detections: overlay ? overlay.detections.map(plain) : [],
      focus: overlay && overlay.focus ? plain(overlay.focus) : null,
    };
  }
}
