// Two model versions side by side: headline figures, per-class AP and curves.
import { pageData } from "../lib/api.js";
import * as ev from "../lib/evaluation.js";

const { models } = pageData();
const COLOURS = ["#667085", "#2f6fed"];

function atSaved(model) {
  const sweep = model.evaluation.confidence_sweep;
  if (!sweep) return null;
  return ev.rowAt(sweep["iou_0.5"].overall, ev.nearestIndex(sweep.thresholds, model.threshold));
}

function bestF1(model) {
  const sweep = model.evaluation.confidence_sweep;
  return sweep ? Math.max(...sweep["iou_0.5"].overall.f1) : null;
}

const metric = (key) => (m) => (m.evaluation.metrics || {})[key];
// COCOeval reports 0 for a size range without boxes: show "—" instead.
const sized = (key, size) => (m) => {
  const sizes = m.evaluation.num_ground_truth_by_size;
  return sizes && !sizes[size] ? null : metric(key)(m);
};
const ROWS = [
  // label, value of a model, digits (null: text), higher is better
  ["mAP@[.5:.95]", metric("map"), 3, true],
  ["mAP@.5", metric("map50"), 3, true],
  ["mAP@.75", metric("map75"), 3, true],
  ["AP small", sized("map_small", "small"), 3, true],
  ["AP medium", sized("map_medium", "medium"), 3, true],
  ["AP large", sized("map_large", "large"), 3, true],
  ["Saved threshold", (m) => m.threshold, 2, null],
  ["Precision at it", (m) => atSaved(m)?.precision, 3, true],
  ["Recall at it", (m) => atSaved(m)?.recall, 3, true],
  ["F1 at it", (m) => atSaved(m)?.f1, 3, true],
  ["Best F1 (recommended threshold)", bestF1, 3, true],
  ["Recommended threshold", (m) => m.evaluation.recommended_threshold, 2, null],
  ["CPU latency (ms)", (m) => m.facts.latency?.cpu_ms, 1, false],
  ["ONNX size (MB)", (m) => (m.facts.onnx_bytes ? m.facts.onnx_bytes / 1e6 : null), 2, false],
  ["Parameters (M)", (m) => (m.facts.parameters ? m.facts.parameters / 1e6 : null), 2, false],
  ["Training time (s)", (m) => m.facts.training_seconds, 0, null],
  ["Preset", (m) => m.facts.preset, null, null],
  ["Dataset version", (m) => (m.facts.dataset.content_hash || "").slice(0, 12), null, null],
  ["Test images", (m) => m.evaluation.num_images, 0, null],
];

function cell(tr, text, className = "") {
  const td = tr.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function delta(tr, a, b, digits, higherIsBetter) {
  if (typeof a !== "number" || typeof b !== "number" || digits === null) {
    cell(tr, "");
    return;
  }
  const d = b - a;
  let better = "";
  if (higherIsBetter !== null && Math.abs(d) >= 10 ** -digits / 2) {
    better = d > 0 === higherIsBetter ? "better" : "worse";
  }
  cell(tr, `${d > 0 ? "+" : ""}${d.toFixed(digits)}`, better);
}

function metricsTable() {
  const body = document.querySelector("#compare-metrics tbody");
  for (const [label, value, digits, higher] of ROWS) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = label;
    tr.append(th);
    const [a, b] = models.map(value);
    for (const v of [a, b]) cell(tr, digits === null ? (v ?? "—") : ev.fmt(v, digits));
    delta(tr, a, b, digits, higher);
  }
}

function classTable() {
  const body = document.querySelector("#compare-classes tbody");
  const [a, b] = models.map((m) => new Map((m.evaluation.per_class || []).map((c) => [c.name, c])));
  const names = [...new Set([...a.keys(), ...b.keys()])];
  for (const name of names) {
    const tr = body.insertRow();
    tr.dataset.class = name;
    const th = document.createElement("th");
    th.textContent = name;
    tr.append(th);
    for (const key of ["ap50", "ap"]) {
      const va = a.get(name)?.[key];
      const vb = b.get(name)?.[key];
      cell(tr, ev.fmt(va));
      cell(tr, ev.fmt(vb));
      delta(tr, va, vb, 3, true);
    }
    cell(tr, `${a.get(name)?.num_ground_truth ?? "—"} / ${b.get(name)?.num_ground_truth ?? "—"}`);
  }
  const select = document.getElementById("compare-class");
  for (const name of names) select.add(new Option(name, name));
  return names;
}

function line(label, points, colour, extra = {}) {
  return {
    label,
    data: points,
    borderColor: colour,
    backgroundColor: colour,
    pointRadius: 0,
    showLine: true,
    borderWidth: 2,
    ...extra,
  };
}

function chart(id, xLabel, yLabel, datasets) {
  const canvas = document.getElementById(id);
  if (!window.Chart || !canvas) return null;
  const axis = (title) => ({ type: "linear", min: 0, max: 1, title: { display: true, text: title } });
  return new window.Chart(canvas, {
    type: "scatter",
    data: { datasets },
    options: { animation: false, parsing: false, scales: { x: axis(xLabel), y: axis(yLabel) } },
  });
}

function sweepCurve(model, x, y) {
  const sweep = model.evaluation.confidence_sweep;
  if (!sweep) return [];
  const table = sweep["iou_0.5"].overall;
  return sweep.thresholds
    .map((t, k) => ({ x: x === "t" ? t : table[x][k], y: table[y][k], k }))
    .filter(({ k }) => table.tp[k] + table.fp[k] > 0)
    .map(({ x: px, y: py }) => ({ x: px, y: py }));
}

function classCurve(model, name) {
  const curves = model.evaluation.pr_curves;
  const precision = curves?.["iou_0.5"]?.[name];
  if (!precision) return [];
  return curves.recall.map((r, k) => ({ x: r, y: precision[k] }));
}

if (models.length === 2) {
  metricsTable();
  const names = classTable();
  const label = (m) => `v${m.version}`;
  const pr = models.map((m, i) => line(label(m), sweepCurve(m, "recall", "precision"), COLOURS[i]));
  models.forEach((m, i) => {
    const saved = atSaved(m);
    if (!saved) return;
    pr.push({
      label: `${label(m)} saved threshold`,
      data: [{ x: saved.recall, y: saved.precision }],
      borderColor: COLOURS[i],
      pointRadius: 7,
      pointStyle: "crossRot",
      borderWidth: 2,
    });
  });
  chart("compare-pr", "recall", "precision", pr);
  const f1 = models.map((m, i) => line(label(m), sweepCurve(m, "t", "f1"), COLOURS[i]));
  chart("compare-f1", "confidence threshold", "F1", f1);
  const classChart = chart("compare-class-pr", "recall", "precision", []);
  const select = document.getElementById("compare-class");
  const showClass = () => {
    if (!classChart) return;
    classChart.data.datasets = models.map((m, i) => line(label(m), classCurve(m, select.value), COLOURS[i]));
    classChart.update("none");
  };
  select.addEventListener("change", showClass);
  if (names.length) showClass();
}
