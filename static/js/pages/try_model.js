// "Try it" page of a model version: one prediction per image (every detection the model
// keeps), then the threshold slider filters and redraws them locally.
import { csrfToken, pageData } from "../lib/api.js";

const data = pageData();
const model = data.model;
const tryCard = document.getElementById("try");
const errorBox = tryCard.querySelector(".error");
const result = document.getElementById("result");
const canvas = document.getElementById("canvas");
const slider = document.getElementById("threshold");
const sliderValue = document.getElementById("threshold-value");
const stats = document.getElementById("stats");
const tableBody = document.querySelector("#detections tbody");

let current = null; // {bitmap, detections, timing, roundTrip, name}

slider.min = String(Math.max(0, Math.floor(model.floor * 100) / 100));
slider.value = String(model.threshold);

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function colour(classId) {
  return `hsl(${(classId * 137) % 360} 85% 45%)`;
}

async function predict(blob, name) {
  showError("");
  if (blob.size > data.limits.max_image_bytes) {
    showError(`${name} is larger than the ${Math.round(data.limits.max_image_bytes / 1048576)} MB limit.`);
    return;
  }
  const form = new FormData();
  form.append("image", blob, name);
  form.append("threshold", String(model.floor));
  stats.textContent = "Running the model…";
  const started = performance.now();
  let response;
  try {
    response = await fetch(data.api.predict, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
  } catch (error) {
    showError(`The studio did not answer (${error.message}).`);
    return;
  }
  const roundTrip = performance.now() - started;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    showError((body && body.detail) || `The server answered ${response.status}.`);
    stats.textContent = "";
    return;
  }
  const [image] = body.results;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch {
    showError("Your browser cannot display this image, but the model read it: see the table.");
    bitmap = null;
  }
  current = { bitmap, image, roundTrip, name, total: body.timing_ms.total };
  result.hidden = false;
  render();
}

function visible() {
  const threshold = Number(slider.value);
  return current.image.detections.filter((d) => d.score >= threshold);
}

function render() {
  if (!current) return;
  const threshold = Number(slider.value);
  sliderValue.textContent = threshold.toFixed(2);
  const shown = visible();
  const { image, bitmap } = current;
  const t = image.timing_ms;
  stats.textContent =
    `${current.name} (${image.width}×${image.height}): ${shown.length} of ` +
    `${image.detections.length} detections at ≥ ${threshold.toFixed(2)} · ` +
    `server ${current.total.toFixed(1)} ms (decode ${t.decode.toFixed(1)}, ` +
    `inference ${t.inference.toFixed(1)}, post-processing ${t.postprocess.toFixed(1)}) · ` +
    `round trip ${current.roundTrip.toFixed(0)} ms`;
  // Drawn at the size it is shown (small pictures enlarged, large ones fitted), so boxes
  // and labels stay crisp; box coordinates stay in the picture's pixels.
  const room = canvas.parentElement.clientWidth || image.width;
  const shownWidth = Math.min(room, Math.max(image.width, Math.min(room, 640)));
  const scale = shownWidth / image.width;
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = `${Math.round(image.width * scale)}px`;
  canvas.style.height = `${Math.round(image.height * scale)}px`;
  canvas.width = Math.round(image.width * scale * ratio);
  canvas.height = Math.round(image.height * scale * ratio);
  canvas.dataset.imageWidth = image.width;
  canvas.dataset.imageHeight = image.height;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(scale * ratio, 0, 0, scale * ratio, 0, 0);
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.clearRect(0, 0, image.width, image.height);
  if (bitmap) ctx.drawImage(bitmap, 0, 0, image.width, image.height);
  const unit = 1 / scale; // one screen pixel, in picture pixels
  const fontSize = 13 * unit;
  ctx.lineWidth = 2 * unit;
  ctx.font = `${fontSize}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of shown) {
    const c = colour(d.class_id);
    ctx.strokeStyle = c;
    ctx.strokeRect(d.x_min, d.y_min, d.x_max - d.x_min, d.y_max - d.y_min);
    const label = `${d.class_name} ${d.score.toFixed(2)}`;
    const width = ctx.measureText(label).width + 6 * unit;
    const height = fontSize + 4 * unit;
    const top = d.y_min >= height ? d.y_min : d.y_min + height;
    ctx.fillStyle = c;
    ctx.fillRect(d.x_min, top - height, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, d.x_min + 3 * unit, top - 2 * unit);
  }
  tableBody.replaceChildren(
    ...shown.map((d) => {
      const row = document.createElement("tr");
      for (const value of [d.class_name, d.score.toFixed(3), d.x_min, d.y_min, d.x_max, d.y_max]) {
        const cell = document.createElement("td");
        cell.textContent = typeof value === "number" ? value.toFixed(1) : value;
        row.append(cell);
      }
      return row;
    }),
  );
}

slider.addEventListener("input", render);
document.getElementById("threshold-reset").addEventListener("click", () => {
  slider.value = String(model.threshold);
  render();
});

// Drop or choose a file.
const dropzone = document.getElementById("dropzone");
const fileInput = document.getElementById("file-input");
fileInput.addEventListener("change", () => {
  const [file] = fileInput.files;
  if (file) predict(file, file.name);
  fileInput.value = "";
});
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("over");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  const [file] = event.dataTransfer.files;
  if (file) predict(file, file.name);
});

// Pick one of the project's images.
const picker = document.getElementById("picker");
const pickerThumbs = document.getElementById("picker-thumbs");
const pickerMore = document.getElementById("picker-more");
let nextPage = `${data.api.images}?limit=24`;

async function loadImages() {
  if (!nextPage) return;
  const response = await fetch(nextPage, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    showError(`Could not list the project's images (${response.status}).`);
    return;
  }
  const page = await response.json();
  nextPage = page.next;
  pickerMore.hidden = !nextPage;
  for (const image of page.results) {
    const item = document.createElement("li");
    item.dataset.image = image.id;
    const thumb = document.createElement("img");
    thumb.src = image.thumbnail_url;
    thumb.alt = image.original_name;
    thumb.loading = "lazy";
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = image.original_name;
    item.append(thumb, meta);
    item.addEventListener("click", async () => {
      const file = await fetch(image.file_url, { credentials: "same-origin" });
      if (!file.ok) {
        showError(`Could not read ${image.original_name} (${file.status}).`);
        return;
      }
      predict(await file.blob(), image.original_name);
    });
    pickerThumbs.append(item);
  }
  if (!pickerThumbs.children.length) pickerThumbs.outerHTML = '<p class="empty">The project has no images yet.</p>';
}

document.getElementById("pick-toggle").addEventListener("click", () => {
  picker.hidden = !picker.hidden;
  if (!picker.hidden && !pickerThumbs.children.length) loadImages();
});
pickerMore.addEventListener("click", loadImages);
