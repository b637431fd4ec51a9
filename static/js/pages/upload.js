// Upload page: drag-and-drop, file picker and camera; one request per file, three at a
// time, each with its progress bar and the server's verdict (added / duplicate / refused).
import { csrfToken, pageData } from "../lib/api.js";

const data = pageData();
const list = document.getElementById("upload-list");
const summary = document.getElementById("upload-summary");
const PARALLEL = 3;
const queue = [];
const totals = { added: 0, duplicate: 0, refused: 0, failed: 0 };
let running = 0;

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  row.append(td);
  return td;
}

function addRow(file) {
  const row = document.createElement("tr");
  cell(row, file.name, "name");
  cell(row, formatSize(file.size));
  const progressCell = cell(row, "");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  progressCell.append(bar);
  const result = cell(row, "waiting", "result");
  list.append(row);
  return { row, bar, result, progressCell };
}

// The row's outcome: a refused or failed file shows "not added" where its bar was (a
// full blue bar reads as "done").
function finish(view, outcome) {
  view.row.dataset.outcome = outcome;
  if (outcome === "refused" || outcome === "failed") {
    const note = document.createElement("span");
    note.className = "status-refused";
    note.textContent = "✕ not added";
    view.progressCell.replaceChildren(note);
  } else {
    view.bar.value = 100;
  }
}

function showResults(view, results) {
  view.result.textContent = "";
  for (const item of results) {
    const line = document.createElement("div");
    line.className = `status-${item.status}`;
    const label = results.length > 1 ? `${item.name}: ` : "";
    line.textContent = `${label}${item.status}${item.reason ? ` (${item.reason})` : ""}`;
    view.result.append(line);
    totals[item.status] += 1;
  }
  const added = results.some((item) => item.status === "added");
  const duplicate = results.some((item) => item.status === "duplicate");
  finish(view, added ? "added" : duplicate ? "duplicate" : "refused");
}

function updateSummary() {
  const waiting = queue.length + running;
  summary.textContent =
    `${totals.added} added, ${totals.duplicate} duplicate(s) skipped, ` +
    `${totals.refused} refused, ${totals.failed} failed` + (waiting ? ` · ${waiting} to go` : "");
}

function send(file, view) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("files", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", data.api.images);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) view.bar.value = (100 * event.loaded) / event.total;
    });
    request.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { body = null; }
      if (request.status === 200 && body) {
        showResults(view, body.results);
      } else {
        view.result.textContent = (body && body.detail) || `failed (HTTP ${request.status})`;
        view.result.className = "result status-refused";
        totals.failed += 1;
        finish(view, "failed");
      }
      resolve();
    });
    request.addEventListener("error", () => {
      view.result.textContent = "failed: the server could not be reached";
      totals.failed += 1;
      finish(view, "failed");
      resolve();
    });
    view.result.textContent = "uploading…";
    request.send(form);
  });
}

async function pump() {
  while (running < PARALLEL && queue.length) {
    const { file, view } = queue.shift();
    running += 1;
    updateSummary();
    send(file, view).then(() => {
      running -= 1;
      updateSummary();
      pump();
    });
  }
}

function enqueue(files) {
  for (const file of files) {
    const view = addRow(file);
    if (file.size > data.limits.max_image_bytes && !file.name.toLowerCase().endsWith(".zip")) {
      view.result.textContent = `refused (larger than ${formatSize(data.limits.max_image_bytes)})`;
      view.result.className = "result status-refused";
      totals.refused += 1;
      finish(view, "refused");
      continue;
    }
    queue.push({ file, view });
  }
  updateSummary();
  pump();
}

const dropzone = document.getElementById("dropzone");
const input = document.getElementById("file-input");
input.addEventListener("change", () => {
  enqueue([...input.files]);
  input.value = "";
});
for (const name of ["dragenter", "dragover"]) {
  dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  dropzone.addEventListener(name, () => dropzone.classList.remove("over"));
}
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  enqueue([...event.dataTransfer.files]);
});
dropzone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") input.click();
});

// --- Camera --------------------------------------------------------------------------
const video = document.getElementById("camera-video");
const startButton = document.getElementById("camera-start");
const shootButton = document.getElementById("camera-shoot");
const stopButton = document.getElementById("camera-stop");
const deviceSelect = document.getElementById("camera-device");
const cameraError = document.getElementById("camera-error");
let stream = null;

function cameraProblem(message) {
  cameraError.textContent = message;
  cameraError.hidden = false;
}

async function startCamera(deviceId) {
  cameraError.hidden = true;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    cameraProblem("This browser gives no camera access here (it needs HTTPS or localhost).");
    return;
  }
  stopCamera();
  const video_constraints = deviceId
    ? { deviceId: { exact: deviceId } }
    : { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } };
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: video_constraints, audio: false });
  } catch (error) {
    cameraProblem(`The camera could not be started: ${error.message || error.name}`);
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  shootButton.disabled = false;
  stopButton.disabled = false;
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  if (devices.length > 1 && deviceSelect.options.length === 0) {
    devices.forEach((device, index) => {
      deviceSelect.append(new Option(device.label || `Camera ${index + 1}`, device.deviceId));
    });
    deviceSelect.hidden = false;
  }
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  video.hidden = true;
  shootButton.disabled = true;
  stopButton.disabled = true;
}

function timestamp() {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

function takePicture() {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    if (!blob) return;
    const stamp = `${timestamp()}-${Math.random().toString(36).slice(2, 6)}`;
    enqueue([new File([blob], `camera-${stamp}.jpg`, { type: "image/jpeg" })]);
  }, "image/jpeg", 0.92);
}

startButton.addEventListener("click", () => startCamera());
stopButton.addEventListener("click", stopCamera);
shootButton.addEventListener("click", takePicture);
deviceSelect.addEventListener("change", () => startCamera(deviceSelect.value));
