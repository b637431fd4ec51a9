// Project page, dataset part: classes (add, rename, colour, key, delete, merge) and
// label imports. Imported by project_detail.js, the page's module.
import { api, csrfToken, pageData, showError } from "../lib/api.js";
import { followImport } from "../lib/imports.js";

const data = pageData();
const classes = document.getElementById("classes");
const classTable = classes?.querySelector("table") || classes;

async function run(action, anchor) {
  try {
    await action();
    window.location.reload();
  } catch (error) {
    showError(anchor, error);
  }
}

const addForm = document.getElementById("category-add");
addForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = new FormData(addForm).get("name");
  run(() => api(data.api.categories, { method: "POST", body: { name } }), addForm);
});

classes?.querySelectorAll("tr[data-category]").forEach((row) => {
  const url = `${data.api.categories}/${row.dataset.category}`;
  const patch = (body) => run(() => api(url, { method: "PATCH", body }), classTable);
  row.querySelector(".category-name")?.addEventListener("change", (e) => patch({ name: e.target.value }));
  row.querySelector(".category-color")?.addEventListener("change", (e) => patch({ color: e.target.value }));
  row.querySelector(".category-shortcut")?.addEventListener("change", (e) => patch({ shortcut: e.target.value }));
  row.querySelector(".category-delete")?.addEventListener("click", () => {
    const boxes = Number(row.dataset.boxes);
    const question = boxes
      ? `Delete the class "${row.dataset.name}" and its ${boxes} box(es)?`
      : `Delete the class "${row.dataset.name}"?`;
    if (!window.confirm(question)) return;
    run(() => api(`${url}?confirm_box_count=${boxes}`, { method: "DELETE" }), classTable);
  });
  row.querySelector(".category-merge")?.addEventListener("change", (event) => {
    const target = event.target.selectedOptions[0];
    if (!target.value) return;
    if (!window.confirm(`Move every box of "${row.dataset.name}" to "${target.textContent}" and remove "${row.dataset.name}"?`)) {
      event.target.value = "";
      return;
    }
    run(() => api(`${url}/merge`, { method: "POST", body: { into: Number(target.value) } }), classTable);
  });
});

const importForm = document.getElementById("dataset-import");

async function follow(record, status) {
  // A worker runs the import; follow it until it is done.
  const done = await followImport(`${data.api.imports}/${record.id}`, record, status);
  if (done.status === "failed") throw new Error(`Import failed, nothing was kept: ${done.error}`);
  return done;
}

importForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("import-status");
  const button = importForm.querySelector("button");
  if (!importForm.elements.file.files.length) {
    showError(importForm, new Error("Choose a file to import first (a zip or an annotation file)."));
    importForm.elements.file.focus();
    return;
  }
  const errorBox = importForm.parentElement.querySelector(".error");
  if (errorBox) errorBox.hidden = true;
  button.disabled = true;
  status.textContent = "Uploading…";
  try {
    const response = await fetch(data.api.imports, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
      body: new FormData(importForm),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error((body && body.detail) || `The server answered ${response.status}.`);
    await follow(body, status);
    window.location.reload();
  } catch (error) {
    status.textContent = "";
    showError(importForm, error);
    button.disabled = false;
  }
});
