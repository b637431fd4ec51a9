// Project page, export part: "Prepare export" queues an export job that a worker writes;
// the status line follows its progress (images done of total) and a "Download" link
// appears once the file is ready. Imported by project_detail.js, the page's module.
import { api, pageData, showError } from "../lib/api.js";

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
const data = pageData();
const form = document.getElementById("export-prepare");

function describe(record) {
  if (record.status === "queued") return "Queued, waiting for a worker…";
  if (record.status === "running") {
    return `Preparing the ${record.format} export: ${record.images_done} of ${record.images_total} images…`;
  }
  if (record.status === "failed") return `Export failed: ${record.error}`;
  return `Ready: ${record.images_done} images, ${record.size.toLocaleString()} bytes.`;
}

async function follow(record, status, link) {
  const url = `${data.api.exports}/${record.id}`;
  while (record.status === "queued" || record.status === "running") {
    status.textContent = describe(record);
    await sleep(1000);
    record = await api(url);
  }
  status.textContent = describe(record);
  if (record.status === "succeeded" && record.download) {
    link.href = record.download;
    link.hidden = false;
  }
  return record;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("export-status");
  const link = document.getElementById("export-download");
  const button = form.querySelector("button");
  const errorBox = form.parentElement.querySelector("#export-error");
  if (errorBox) errorBox.hidden = true;
  link.hidden = true;
  link.removeAttribute("href");
  button.disabled = true;
  const fields = new FormData(form);
  const body = {
    format: fields.get("format"),
    images: fields.get("images") ? "all" : "labeled",
  };
  try {
    status.textContent = "Queuing the export…";
    const record = await api(data.api.exports, { method: "POST", body });
    await follow(record, status, link);
  } catch (error) {
    status.textContent = "";
    showError(form, error);
  } finally {
    button.disabled = false;
  }
});
