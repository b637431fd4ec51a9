// One model version: threshold slider, per-class table, curves, confusion matrix and the
// error gallery, all recomputed in the browser from the stored sweep and detections; the
// label audit's gallery of possible missing labels (lib/audit_gallery.js).
import { api, pageData } from "../lib/api.js";
import { auditGallery } from "../lib/audit_gallery.js";
import * as ev from "../lib/evaluation.js";
import { fromQuery, toQuery } from "../lib/review_query.js";

const data = pageData();
const report = data.evaluation || {};
const sweep = report.confidence_sweep;
const thresholds = sweep ? sweep.thresholds : [];
const classes = (report.per_class || []).map((c) => ({ ...c }));
const nameOf = new Map(classes.map((c) => [c.category_id, c.name]));
const categoryIds = classes.map((c) => c.category_id);
const images = report.per_image ? report.per_image.images.map(ev.prepareImage) : null;
const present = new Set(data.images_present || []);
const imageNames = data.image_names || {}; // image id -> file name (the images still there)
const PAGE = 48;
const KIND_LABELS = {
  tp: "correct",
  fp: "false positive",
  fn: "missed",
  wrong_class: "wrong class",
  poor_localisation: "poor localisation",
};

// data-fp, data-fn, data-wrong-class, data-poor-localisation on each gallery card
const DATA_ATTRIBUTES = { fp: "fp", fn: "fn", wrong_class: "wrong-class", poor_localisation: "poor-localisation" };

const $ = (selector, root = document) => root.querySelector(selector);
const field = (name, root = document) => root.querySelector(`[data-field="${name}"]`);
const errorBox = $("#model .error");

const state = {
  index: ev.nearestIndex(thresholds, data.model.threshold),
  iou: "iou_0.5",
  overrides: {}, // class name -> sweep index
  errorClass: "",
  errorKind: "",
  shown: PAGE,
};
// Come back from the editor: the threshold and filter of the link it was opened from.
const asked = fromQuery(window.location.search);
const known = (name) => nameOf.size && classes.some((c) => c.name === name);
const ownThresholds = asked.threshold === null ? data.model.class_thresholds || {} : asked.classThresholds;
for (const [name, value] of Object.entries(ownThresholds)) {
  if (known(name)) state.overrides[name] = ev.nearestIndex(thresholds, value);
}
if (asked.threshold !== null) state.index = ev.nearestIndex(thresholds, asked.threshold);
if (asked.kind) state.errorKind = asked.kind;
if (asked.categoryId !== null && nameOf.has(asked.categoryId)) state.errorClass = String(asked.categoryId);

// The link into the editor: the image, with this threshold and filter (error: the one clicked).
function editorLink(imageId, error = null) {
  const classThresholds = {};
  for (const [name, index] of Object.entries(state.overrides)) classThresholds[name] = thresholds[index];
  const query = toQuery({
    threshold: thresholds[state.index],
    classThresholds,
    kind: state.errorKind,
    categoryId: state.errorClass === "" ? null : Number(state.errorClass),
    error,
  });
  query.set("review", String(data.model.id));
  return `${data.urls.editor.replace("{id}", imageId)}?${query}`;
}

function showError(error) {
  errorBox.textContent = error.message;
  errorBox.hidden = false;
}

function classIndex(name) {
  return name in state.overrides ? state.overrides[name] : state.index;
}

function thresholdOf(categoryId) {
  return thresholds[classIndex(nameOf.get(categoryId))];
}

function setCell(cell, value, digits) {
  cell.dataset.value = String(value);
  cell.textContent = digits === undefined ? String(value) : ev.fmt(value, digits);
}

function fillRow(row, figures) {
  for (const key of ["precision", "recall", "f1"]) setCell(field(key, row), figures[key], 3);
  for (const key of ["tp", "fp", "fn"]) setCell(field(key, row), figures[key]);
}

// --- numbers -----------------------------------------------------------------------------

function classRows(iouKey) {
  return classes.map((c) => ev.rowAt(sweep[iouKey].per_class[c.name], classIndex(c.name)));
}

function overallRow(iouKey) {
  if (!Object.keys(state.overrides).length) return ev.rowAt(sweep[iouKey].overall, state.index);
  return ev.combine(classRows(iouKey));
}

function buildClassTable() {
  const body = $("#per-class tbody");
  for (const c of classes) {
    const tr = document.createElement("tr");
    tr.dataset.class = c.name;
    tr.innerHTML = `<th></th><td data-field="gt"></td><td data-field="ap50"></td><td data-field="ap"></td>
      <td><input type="number" class="class-threshold" min="0" max="1" step="0.01" placeholder="—"></td>
      <td data-field="precision"></td><td data-field="recall"></td><td data-field="f1"></td>
      <td data-field="tp"></td><td data-field="fp"></td><td data-field="fn"></td>`;
    tr.querySelector("th").textContent = c.name;
    setCell(field("gt", tr), c.num_ground_truth);
    setCell(field("ap50", tr), c.ap50, 3);
    setCell(field("ap", tr), c.ap, 3);
    const input = tr.querySelector("input");
    input.setAttribute("aria-label", `Own threshold of ${c.name}`);
    if (c.name in state.overrides) input.value = thresholds[state.overrides[c.name]].toFixed(2);
    input.disabled = !sweep;
    input.addEventListener("input", () => {
      if (input.value === "" || Number.isNaN(Number(input.value))) delete state.overrides[c.name];
      else state.overrides[c.name] = ev.nearestIndex(thresholds, Number(input.value));
      render();
    });
    body.append(tr);
  }
}

function renderNumbers() {
  const t = thresholds[state.index];
  field("threshold").textContent = ev.fmt(t, 2);
  $("#threshold-slider").setAttribute("aria-valuetext", ev.fmt(t, 2));
  fillRow($("#overall tbody tr"), overallRow(state.iou));
  const rows = classRows(state.iou);
  classes.forEach((c, i) => {
    const tr = $(`#per-class tr[data-class="${CSS.escape(c.name)}"]`);
    fillRow(tr, rows[i]);
    tr.classList.toggle("overridden", c.name in state.overrides);
  });
}

// --- charts ------------------------------------------------------------------------------

let prChart = null;
let f1Chart = null;

function curve(table, x, y) {
  return thresholds
    .map((t, k) => ({ x: x === "t" ? t : table[x][k], y: table[y][k], k }))
    .filter(({ k }) => table.tp[k] + table.fp[k] > 0) // no detection kept: no precision
    .map(({ x: px, y: py }) => ({ x: px, y: py }));
}

function lineSet(label, points, color, width) {
  return {
    label,
    data: points,
    borderColor: color,
    backgroundColor: color,
    borderWidth: width,
    pointRadius: 0,
    showLine: true,
  };
}

function chartData() {
  const s = sweep[state.iou];
  const pr = [lineSet("all classes", curve(s.overall, "recall", "precision"), "#1d2330", 3)];
  const f1 = [lineSet("all classes", curve(s.overall, "t", "f1"), "#1d2330", 3)];
  classes.forEach((c, i) => {
    const colour = (data.class_colours || {})[c.name] || ev.colour(i);
    pr.push(lineSet(c.name, curve(s.per_class[c.name], "recall", "precision"), colour, 1.5));
    f1.push(lineSet(c.name, curve(s.per_class[c.name], "t", "f1"), colour, 1.5));
  });
  const overall = overallRow(state.iou);
  const marks = [{ x: overall.recall, y: overall.precision }];
  classRows(state.iou).forEach((row) => marks.push({ x: row.recall, y: row.precision }));
  pr.push({
    label: "current threshold",
    data: marks,
    showLine: false,
    pointRadius: 6,
    pointStyle: "crossRot",
    borderColor: "#c0392b",
    borderWidth: 2,
  });
  const t = thresholds[state.index];
  const rec = report.recommended_threshold;
  f1.push({ ...lineSet("current threshold", [{ x: t, y: 0 }, { x: t, y: 1 }], "#c0392b", 2), borderDash: [6, 4] });
  if (typeof rec === "number") {
    f1.push({ ...lineSet("recommended", [{ x: rec, y: 0 }, { x: rec, y: 1 }], "#98a2b3", 1), borderDash: [2, 3] });
  }
  return { pr, f1 };
}

function makeChart(id, xLabel, yLabel, datasets) {
  const canvas = document.getElementById(id);
  if (!window.Chart || !canvas) return null;
  const axis = (title) => ({ type: "linear", min: 0, max: 1, title: { display: true, text: title } });
  return new window.Chart(canvas, {
    type: "scatter",
    data: { datasets },
    options: {
      animation: false,
      parsing: false,
      scales: { x: axis(xLabel), y: axis(yLabel) },
      plugins: { legend: { labels: { boxWidth: 12 } } },
    },
  });
}

function renderCharts() {
  const { pr, f1 } = chartData();
  if (!prChart) {
    prChart = makeChart("pr-chart", "recall", "precision", pr);
    f1Chart = makeChart("f1-chart", "confidence threshold", "F1", f1);
    return;
  }
  prChart.data.datasets = pr;
  f1Chart.data.datasets = f1;
  prChart.update("none");
  f1Chart.update("none");
}

// --- confusion matrix and error gallery ----------------------------------------------------

function renderConfusion(matrix, note) {
  const labels = [...classes.map((c) => c.name), "background"];
  const table = $("#confusion table");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  head.insertCell().outerHTML = "<th>ground truth ↓ · predicted →</th>";
  for (const label of labels) {
    const th = document.createElement("th");
    th.textContent = label;
    head.append(th);
  }
  const body = table.createTBody();
  matrix.forEach((values, r) => {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = labels[r];
    tr.append(th);
    const total = values.reduce((a, b) => a + b, 0) || 1;
    values.forEach((value, c) => {
      const td = tr.insertCell();
      td.dataset.row = labels[r];
      td.dataset.column = labels[c];
      if (r === labels.length - 1 && c === labels.length - 1) {
        td.textContent = "—";
        return;
      }
      td.textContent = String(value);
      td.dataset.value = String(value);
      const share = value / total;
      td.style.background = `rgba(${r === c ? "30, 158, 74" : "192, 57, 43"}, ${(0.08 + 0.8 * share).toFixed(3)})`;
      if (value === 0) td.style.background = "";
      if (share > 0.55) td.style.color = "#fff";
    });
  });
  field("confusion-note").textContent = note;
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// A drawn box; data-kind, data-det and data-gt say what it is (the tests read them).
function rect(box, kind, title, det, gt) {
  const ids = `${det === undefined ? "" : ` data-det="${det}"`}${gt === undefined ? "" : ` data-gt="${gt}"`}`;
  return `<rect class="box ${kind}" data-kind="${kind}"${ids} x="${box[0]}" y="${box[1]}" ` +
    `width="${Math.max(box[2] - box[0], 0)}" height="${Math.max(box[3] - box[1], 0)}">` +
    `<title>${escape(title)}</title></rect>`;
}

// One gallery card, as HTML (building thousands of boxes as strings is several times
// faster than element by element).
function card({ image, found, matching }) {
  const counts = {
    fp: found.fp.length,
    fn: found.fn.length,
    wrong_class: found.wrong_class.length,
    poor_localisation: found.poor_localisation.length,
  };
  const width = image.width || Math.max(1, ...image.gt.map((g) => g[2]), ...image.det.map((d) => d[2]));
  const height = image.height || Math.max(1, ...image.gt.map((g) => g[3]), ...image.det.map((d) => d[3]));
  const here = present.has(image.id);
  const boxes = [];
  const missed = new Set(found.fn);
  image.gt.forEach((g, j) => {
    const kind = missed.has(j) ? "fn" : "gt";
    boxes.push(rect(g, kind, `${nameOf.get(g[4])} (ground truth${kind === "fn" ? ", missed" : ""})`, undefined, j));
  });
  for (const kind of ["tp", "wrong_class", "poor_localisation"]) {
    for (const [p, g] of found[kind]) {
      const d = image.det[p];
      boxes.push(rect(d, kind, `${nameOf.get(d[5])} ${d[4].toFixed(2)} (${KIND_LABELS[kind]})`, p, g));
    }
  }
  for (const p of found.fp) {
    const d = image.det[p];
    boxes.push(rect(d, "fp", `${nameOf.get(d[5])} ${d[4].toFixed(2)} (false positive)`, p));
  }
  const thumbnail = escape(data.urls.thumbnail.replace("{id}", image.id));
  const picture = here
    ? `<image href="${thumbnail}" width="${width}" height="${height}" preserveAspectRatio="none"></image>`
    : "";
  let frame = `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Test image ${image.id}">` +
    `${picture}${boxes.join("")}</svg>`;
  if (here) {
    const editor = escape(editorLink(image.id));
    frame = `<a href="${editor}" title="Open in the editor">${frame}</a>`;
  }
  const parts = Object.entries(counts).filter(([, n]) => n).map(([kind, n]) => `${n} ${KIND_LABELS[kind]}`);
  const attrs = Object.entries(counts).map(([kind, n]) => ` data-${DATA_ATTRIBUTES[kind]}="${n}"`).join("");
  const name = here ? imageNames[image.id] : (image.file_name || "").split("/").pop();
  const caption = `<span class="file-name" data-field="file-name">${escape(name || `image ${image.id}`)}</span>`;
  const meta = `${caption} · ${escape(parts.join(" · "))}${here ? "" : " · image deleted"}`;
  return `<li class="error-card" data-image-id="${image.id}" data-errors="${ev.errorCount(found)}" ` +
    `data-matching="${matching}"${attrs}>${frame}<div class="meta">${meta}</div></li>`;
}

function renderGallery() {
  if (!images) {
    $("#gallery-unavailable").hidden = false;
    $("#gallery-ui").hidden = true;
    const stored = report.confusion_matrix;
    if (stored && stored.matrix) {
      const at = ev.fmt(stored.threshold, 2);
      renderConfusion(stored.matrix, `At the recommended threshold ${at} and IoU 0.5 (computed at evaluation).`);
    } else {
      field("confusion-note").textContent = "No confusion matrix for this model.";
    }
    return;
  }
  const classified = images.map((image) => ({ image, found: ev.classify(image, thresholdOf) }));
  const t = thresholds[state.index];
  const own = Object.keys(state.overrides).length ? " (and the classes' own)" : "";
  renderConfusion(
    ev.confusion(classified, categoryIds),
    `At threshold ${ev.fmt(t, 2)}${own}, IoU 0.5: rows are the ground truth, columns the predictions; ` +
      '"background" is a missed box (last column) or a spurious one (last row).',
  );
  const filter = { kind: state.errorKind, categoryId: state.errorClass === "" ? null : Number(state.errorClass) };
  const shown = ev.gallery(classified, filter);
  $("#errors .gallery").innerHTML = shown.slice(0, state.shown).map(card).join("");
  const more = shown.length > state.shown ? `, the worst ${state.shown} shown` : "";
  field("gallery-count").textContent = `${shown.length} of ${images.length} test images${more}`;
  $("#gallery-more").hidden = shown.length <= state.shown;
}

// --- wiring ------------------------------------------------------------------------------

// The numbers follow the slider at once; the charts once per frame; the gallery (the
// costly part with hundreds of test images) when the slider pauses.
let chartFrame = 0;
let galleryTimer = 0;

function render({ wait = 0 } = {}) {
  if (sweep) {
    renderNumbers();
    window.cancelAnimationFrame(chartFrame);
    chartFrame = window.requestAnimationFrame(renderCharts);
  }
  window.clearTimeout(galleryTimer);
  galleryTimer = window.setTimeout(() => {
    renderGallery();
    document.body.dataset.renderedThreshold = sweep ? String(thresholds[state.index]) : "";
  }, wait);
}

function setUp() {
  buildClassTable();
  const select = $("#error-class");
  for (const c of classes) select.add(new Option(c.name, String(c.category_id)));
  select.value = state.errorClass;
  $("#error-kind").value = state.errorKind;
  if (!sweep) {
    $("#no-sweep").hidden = false;
    $("#sweep-ui").hidden = true;
    return;
  }
  const slider = $("#threshold-slider");
  slider.value = String(thresholds[state.index]);
  slider.addEventListener("input", () => {
    state.index = ev.nearestIndex(thresholds, Number(slider.value));
    render({ wait: 120 });
  });
  const rec = report.recommended_threshold;
  if (typeof rec === "number") {
    const mark = $("#recommended-mark");
    mark.style.left = `calc(${rec} * (100% - 16px) + 8px)`;
    mark.hidden = false;
    const option = document.createElement("option");
    option.value = String(rec);
    $("#threshold-marks").append(option);
    field("recommended").textContent = ev.fmt(rec, 2);
    $("#use-recommended").addEventListener("click", () => {
      state.index = ev.nearestIndex(thresholds, rec);
      slider.value = String(thresholds[state.index]);
      render();
    });
  }
  for (const radio of document.querySelectorAll("input[name=iou]")) {
    radio.addEventListener("change", () => {
      state.iou = radio.value;
      render();
    });
  }
}

$("#error-class").addEventListener("change", (event) => {
  state.errorClass = event.target.value;
  state.shown = PAGE;
  renderGallery();
});
$("#error-kind").addEventListener("change", (event) => {
  state.errorKind = event.target.value;
  state.shown = PAGE;
  renderGallery();
});
// A click on one error's box opens the editor with that error highlighted.
$("#errors .gallery").addEventListener("click", (event) => {
  const box = event.target.closest("rect[data-kind]");
  const link = event.target.closest("a");
  const card = event.target.closest("li[data-image-id]");
  if (!box || !link || !card || !ev.KINDS.includes(box.dataset.kind)) return;
  const index = (name) => (box.dataset[name] === undefined ? -1 : Number(box.dataset[name]));
  link.href = editorLink(card.dataset.imageId, { kind: box.dataset.kind, det: index("det"), gt: index("gt") });
});
$("#gallery-more").addEventListener("click", () => {
  state.shown += PAGE;
  renderGallery();
});

$("#save-threshold")?.addEventListener("click", async () => {
  const status = $("#save-status");
  const classThresholds = {};
  for (const [name, index] of Object.entries(state.overrides)) classThresholds[name] = thresholds[index];
  const body = { threshold: thresholds[state.index], class_thresholds: classThresholds };
  try {
    const model = await api(data.api.model, { method: "PATCH", body });
    data.model.threshold = model.threshold;
    data.model.class_thresholds = model.class_thresholds;
    field("saved-threshold").textContent = ev.fmt(model.threshold, 2);
    const saved = overallRow("iou_0.5");
    const own = Object.keys(classThresholds).length ? " and the classes' own" : "";
    const at = ev.fmt(model.threshold, 2);
    field("saved").textContent = `precision ${ev.fmt(saved.precision)} · recall ${ev.fmt(saved.recall)} · ` +
      `F1 ${ev.fmt(saved.f1)} at ${at}${own} (IoU 0.5)`;
    const count = Object.keys(classThresholds).length;
    status.textContent = `Saved: ${at}${count ? ` (and ${count} class threshold(s))` : ""}.`;
  } catch (error) {
    status.textContent = error.message;
  }
});

$("#make-production")?.addEventListener("click", async (event) => {
  // A version judged not usable yet is made production only after a confirmation.
  const verdict = data.model.verdict;
  const confirm = Boolean(verdict && !verdict.usable);
  if (confirm && !window.confirm(`${verdict.text}\n\nMake v${data.model.version} the production model anyway?`)) return;
  try {
    await api(data.api.model, { method: "PATCH", body: { is_production: true, confirm } });
    field("production").hidden = false;
    event.target.hidden = true;
    const remove = $("#delete-model");
    if (remove) { // the production version is not deleted
      remove.disabled = true;
      $("#delete-production-note").hidden = false;
      $("#delete-confirm").hidden = true;
    }
  } catch (error) {
    showError(error);
  }
});

// Name and notes (editors and owners).
$("#about-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const status = $("#about-status");
  const body = { name: form.elements.name.value, notes: form.elements.notes.value };
  try {
    const model = await api(data.api.model, { method: "PATCH", body });
    form.elements.name.value = model.name;
    form.elements.notes.value = model.notes;
    field("model-name").textContent = model.name ? ` · ${model.name}` : "";
    status.textContent = "Saved.";
  } catch (error) {
    status.textContent = error.message;
  }
});

// Deleting the version: asked again first; the server refuses the production one.
$("#delete-model")?.addEventListener("click", () => {
  $("#delete-confirm").hidden = false;
  $("#delete-no").focus();
});
$("#delete-no")?.addEventListener("click", () => { $("#delete-confirm").hidden = true; });
$("#delete-yes")?.addEventListener("click", async () => {
  try {
    await api(data.api.model, { method: "DELETE" });
    window.location.assign(`${data.urls.models}?deleted=${data.model.version}`);
  } catch (error) {
    $("#delete-confirm").hidden = true;
    showError(error);
  }
});

setUp();
render();
auditGallery(data);
