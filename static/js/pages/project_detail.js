import { api, pageData, showError } from "../lib/api.js";
import "./project_dataset.js";
import "./project_export.js";
import "./project_prelabel.js";
import "./project_jobs.js";
import "./project_runs.js";

const data = pageData();
const membersSection = document.getElementById("members");

async function run(action, anchor) {
  try {
    await action();
    window.location.reload();
  } catch (error) {
    showError(anchor, error);
  }
}

const addForm = document.getElementById("member-add");
addForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = new FormData(addForm);
  run(
    () => api(data.api.members, {
      method: "POST",
      body: { username: fields.get("username"), role: fields.get("role") },
    }),
    membersSection.querySelector("table"),
  );
});

membersSection.querySelectorAll("tr[data-membership]").forEach((row) => {
  const url = `${data.api.members}/${row.dataset.membership}`;
  row.querySelector(".member-role")?.addEventListener("change", (event) => {
    run(() => api(url, { method: "PATCH", body: { role: event.target.value } }), membersSection.querySelector("table"));
  });
  row.querySelector(".member-remove")?.addEventListener("click", () => {
    run(() => api(url, { method: "DELETE" }), membersSection.querySelector("table"));
  });
});

const editForm = document.getElementById("project-edit");
editForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = new FormData(editForm);
  run(
    () => api(data.api.project, {
      method: "PATCH",
      body: { name: fields.get("name"), description: fields.get("description") },
    }),
    editForm,
  );
});

document.getElementById("project-delete")?.addEventListener("click", async () => {
  if (!window.confirm(`Delete the project "${data.project.name}" and everything in it?`)) return;
  try {
    await api(data.api.project, { method: "DELETE" });
    window.location.href = data.urls.projects;
  } catch (error) {
    window.alert(error.message);
  }
});
