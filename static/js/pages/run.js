import { api, pageData } from "../lib/api.js";

const data = pageData();
const field = (name) => document.querySelector(`[data-field="${name}"]`);
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function lineChart(id, label) {
  const canvas = document.getElementById(id);
  if (!window.Chart || !canvas) return null;
  return new window.Chart(canvas, {
    type: "line",
    data: { datasets: [{ label, data: [], borderColor: "#2f6fed", pointRadius: 0, tension: 0.2 }] },
    options: { animation: false, parsing: false, scales: { x: { type: "linear" } } },
  });
}

// A chart of one point draws no line (pointRadius 0): show the point itself.
function setPoints(chart, points) {
  chart.data.datasets[0].data = points;
  chart.data.datasets[0].pointRadius = points.length === 1 ? 4 : 0;
  chart.update();
}

// Elapsed time ticks in the browser every second, counted from the run's started_at
// (until finished_at), corrected by the server clock's offset at page load.
const clockOffset = data.server_now ? Date.now() - Date.parse(data.server_now) : 0;
let times = null;
function elapsedSeconds() {
  if (!times || !times.started_at) return times ? times.elapsed_seconds : null;
  const end = times.finished_at ? Date.parse(times.finished_at) : Date.now() - clockOffset;
  return Math.max(0, (end - Date.parse(times.started_at)) / 1000);
}
// The remaining time counts down between the server's estimates; once it is spent (or
// the estimate of what follows training is), the page says so instead of "0 s".
let etaBase = null;
function remainingText() {
  if (!etaBase || etaBase.finished) return "—";
  if (etaBase.eta === null || etaBase.eta === undefined) {
    return etaBase.afterTraining ? "over its estimate" : "—";
  }
  const left = etaBase.eta - (Date.now() - etaBase.at) / 1000;
  return left > 0 ? duration(left) : "over its estimate";
}

function tick() {
  if (times) field("elapsed").textContent = duration(elapsedSeconds());
  field("eta").textContent = remainingText();
}
window.setInterval(tick, 1000);

const lossChart = lineChart("loss-chart", "loss");
const mapChart = lineChart("map-chart", "val mAP");

// Within the phase: images decoded, or the epoch's steps and images, speed and loss.
function stepText(run) {
  const p = run.progress || {};
  if (FINISHED.has(run.status) || p.images === undefined) return "";
  if (run.phase === "decoding images") return `${p.images} of ${p.images_total} images decoded`;
  if (p.step === undefined) return "";
  const speed = p.images_per_second ? `, ${p.images_per_second.toFixed(1)} images/s` : "";
  const loss = p.loss !== undefined ? `, loss ${p.loss.toFixed(3)}` : "";
  return `epoch ${p.epoch}: step ${p.step} of ${p.steps} (${p.images} of ${p.images_total} images${speed}${loss})`;
}

// The share of the run done: elapsed time against elapsed and remaining (measured ETA).
function runShare(run) {
  if (run.status === "succeeded") return 1;
  if (FINISHED.has(run.status) || run.eta_seconds === null || run.eta_seconds === undefined) {
    return null;
  }
  const spent = run.elapsed_seconds || 0;
  return spent + run.eta_seconds > 0 ? spent / (spent + run.eta_seconds) : 0;
}

function render(run) {
  field("status").textContent = run.status;
  field("status").className = `status status-${run.status}`;
  field("progress").textContent = `epoch ${run.epoch} of ${run.epochs}`;
  field("phase").textContent = run.phase || "";
  field("step").textContent = stepText(run);
  const bar = field("progress-bar");
  const share = runShare(run);
  if (share === null) bar.removeAttribute("value");
  else bar.value = share;
  bar.hidden = FINISHED.has(run.status) && run.status !== "succeeded";
  times = run;
  tick();
  etaBase = {
    eta: run.eta_seconds,
    at: Date.now(),
    finished: FINISHED.has(run.status),
    afterTraining: run.phase === "evaluating" || run.phase === "exporting",
  };
  field("eta").textContent = remainingText();
  field("device").textContent = run.device || "—";
  field("worker").textContent = run.worker || "—";
  if (run.dataset) {  // frozen by the worker in the run's first phase
    const { images, boxes, content_hash: hash } = run.dataset;
    field("dataset").textContent = `${images} images, ${boxes} boxes, version ${hash.slice(0, 12)}`;
  }
  const error = field("error");
  error.textContent = run.error;
  error.hidden = !run.error;
  field("log").textContent = run.log_tail || "";
  const metrics = run.result && run.result.test_metrics;
  field("result").textContent = metrics && metrics.map50 !== undefined
    ? `model v${run.result.model_version}: test mAP@0.5 ${metrics.map50.toFixed(3)}, mAP@[.5:.95] ${metrics.map.toFixed(3)}`
    : "—";
  const verdict = field("verdict");
  verdict.hidden = !run.verdict;
  if (run.verdict) {
    verdict.textContent = run.verdict.text;
    verdict.className = `verdict verdict-${run.verdict.level}`;
  }
  const modelLink = field("model-link");
  modelLink.hidden = !run.model_page;
  if (run.model_page) modelLink.href = run.model_page;
  if (lossChart) setPoints(lossChart, run.loss_points.map(([x, y]) => ({ x, y })));
  if (mapChart) {
    const points = run.history.filter((h) => h.val_map !== undefined);
    setPoints(mapChart, points.map((h) => ({ x: h.epoch, y: h.val_map })));
  }
  document.getElementById("cancel").hidden = FINISHED.has(run.status) || !data.can_train;
}

async function poll() {
  try {
    const run = await api(data.api.run);
    render(run);
    if (FINISHED.has(run.status)) return;
  } catch (error) {
    field("error").textContent = `Could not reach the server (${error.message}); retrying.`;
    field("error").hidden = false;
  }
  window.setTimeout(poll, 2000);
}

document.getElementById("cancel").addEventListener("click", async () => {
  try {
    render(await api(data.api.cancel, { method: "POST" }));
    window.setTimeout(poll, 1000);
  } catch (error) {
    field("error").textContent = error.message;
    field("error").hidden = false;
  }
});

poll();
