// Projects: create one with its classes, or one from a labeled dataset (its classes,
// images and boxes imported by a worker, followed here until done).
import { api, csrfToken, pageData, showError } from "../lib/api.js";
import { followImport } from "../lib/imports.js";

const data = pageData();
const projectUrl = (id) => data.urls.project.replace("{id}", String(id));

const form = document.getElementById("project-create");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(form);
  const classes = String(fields.get("classes") || "")
    .split(/[,\n]/).map((name) => name.trim()).filter(Boolean);
  try {
    const project = await api(data.api.projects, {
      method: "POST",
      body: { name: fields.get("name"), description: fields.get("description"), classes },
    });
    window.location.href = projectUrl(project.id);
  } catch (error) {
    showError(form, error);
  }
});

const importForm = document.getElementById("project-import");
const status = document.getElementById("project-import-status");

async function importInto(project, body) {
  const imports = data.api.imports.replace("{id}", String(project.id));
  const response = await fetch(imports, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    credentials: "same-origin",
    body,
  });
  const record = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error((record && record.detail) || `The server answered ${response.status}.`);
  }
  const done = await followImport(`${imports}/${record.id}`, record, status);
  if (done.status === "failed") throw new Error(`Import failed: ${done.error}`);
  return done;
}

importForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = importForm.elements.file.files[0];
  if (!file) {
    showError(importForm, new Error("Choose a dataset file to import first (a zip or an annotation file)."));
    return;
  }
  const name = importForm.elements.name.value.trim() || file.name.replace(/\.[^.]+$/, "");
  const button = importForm.querySelector("button");
  const errorBox = importForm.querySelector(".error");
  errorBox.hidden = true;
  button.disabled = true;
  status.textContent = "Creating the project…";
  let project = null;
  try {
    project = await api(data.api.projects, { method: "POST", body: { name } });
    status.textContent = "Uploading…";
    const body = new FormData();
    body.append("file", file);
    body.append("format", importForm.elements.format.value);
    await importInto(project, body);
    window.location.href = projectUrl(project.id);
  } catch (error) {
    let message = error.message;
    if (project) {
      const removed = await api(data.api.project.replace("{id}", String(project.id)), { method: "DELETE" })
        .then(() => true, () => false);
      message += removed
        ? ` The project "${project.name}" was removed again.`
        : ` The project "${project.name}" was created but could not be removed.`;
    }
    status.textContent = "";
    showError(importForm, new Error(message));
    button.disabled = false;
  }
});
