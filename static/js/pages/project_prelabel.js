// Project page, "Labeling" card: pre-label with a model (a worker job, with progress) and
// the images to label next (where the model is least sure).
import { api, pageData } from "../lib/api.js";

const data = pageData();
const section = document.getElementById("labeling");
const form = document.getElementById("prelabel-form");
const cancelButton = document.getElementById("prelabel-cancel");
const statusLine = document.getElementById("prelabel-status");
const progress = document.getElementById("prelabel-progress");
const errorBox = section?.querySelector(".error");
const useful = document.getElementById("most-useful");
const usefulEmpty = document.getElementById("most-useful-empty");
const ACTIVE = new Set(["queued", "running"]);
let polling = null;

function showError(message) {
  if (!errorBox) return;
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function describe(job) {
  const images = `${job.processed} of ${job.total} image${job.total === 1 ? "" : "s"}`;
  const found = `${job.suggestion_count} suggestion${job.suggestion_count === 1 ? "" : "s"}`;
  const model = `model v${job.model_version}`;
  switch (job.status) {
    case "queued": return `Pre-labeling with ${model}: waiting for a worker…`;
    case "running": return `Pre-labeling with ${model}: ${images}, ${found}…`;
    case "succeeded": return `Last pre-label job (${model}): ${images}, ${found}.`;
    case "cancelled": return `Last pre-label job (${model}) was cancelled after ${images} (${found}).`;
    default: return `Last pre-label job (${model}) failed: ${job.error}`;
  }
}

function show(job) {
  statusLine.textContent = job ? describe(job) : "";
  const active = Boolean(job && ACTIVE.has(job.status));
  progress.hidden = !active;
  if (active && job.total) {
    progress.max = job.total;
    progress.value = job.processed;
  } else if (active) {
    progress.removeAttribute("value");
  }
  if (cancelButton) {
    cancelButton.hidden = !active;
    cancelButton.dataset.url = job ? `${job.url}/cancel` : "";
  }
  if (form) form.querySelector("button[type=submit]").disabled = active;
}

function follow(job) {
  show(job);
  clearTimeout(polling);
  if (!ACTIVE.has(job.status)) {
    loadUseful();
    return;
  }
  polling = setTimeout(async () => {
    try {
      follow(await api(job.url));
    } catch (error) {
      showError(error.message);
    }
  }, 1000);
}

async function loadUseful() {
  if (!useful) return;
  const page = await api(`${data.api.most_useful}?limit=6`);
  useful.replaceChildren(
    ...page.results.map((result) => {
      const item = document.createElement("li");
      item.dataset.image = result.image.id;
      const link = document.createElement("a");
      link.href = data.urls.annotate
        ? data.urls.annotate.replace("{id}", result.image.id)
        : result.image.file_url;
      const thumb = document.createElement("img");
      thumb.src = result.image.thumbnail_url;
      thumb.alt = result.image.original_name;
      thumb.loading = "lazy";
      link.append(thumb);
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = `${result.uncertainty.toFixed(2)} unsure · ${result.suggested} boxes`;
      meta.title =
        "uncertainty: 1 when the image's detections all score at their class threshold, " +
        "near 0 when they are all confident";
      item.append(link, meta);
      return item;
    }),
  );
  usefulEmpty.hidden = page.results.length > 0;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const fields = new FormData(form);
  const filters = {};
  if (fields.get("status")) filters.status = fields.get("status");
  if (fields.get("split")) filters.split = fields.get("split");
  // A version judged not usable yet pre-labels only after a confirmation.
  const option = form.querySelector("select[name=model]").selectedOptions[0];
  const notUsable = option && option.dataset.notUsable;
  if (notUsable && !window.confirm(`${notUsable}\n\nPre-label with ${option.textContent} anyway?`)) return;
  const body = { model: Number(fields.get("model")), filters, confirm: Boolean(notUsable) };
  if (fields.get("threshold") !== "") body.threshold = Number(fields.get("threshold"));
  try {
    follow(await api(data.api.prelabel, { method: "POST", body }));
  } catch (error) {
    showError(error.message);
  }
});

cancelButton?.addEventListener("click", async () => {
  try {
    follow(await api(cancelButton.dataset.url, { method: "POST" }));
  } catch (error) {
    showError(error.message);
  }
});

if (section && data.api.prelabel && useful) {
  api(`${data.api.prelabel}?limit=1`)
    .then((page) => (page.results.length ? follow(page.results[0]) : loadUseful()))
    .catch((error) => showError(error.message));
}
