import { api, pageData, showError } from "../lib/api.js";

const data = pageData();
const form = document.getElementById("project-create");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(form);
  try {
    const project = await api(data.api.projects, {
      method: "POST",
      body: { name: fields.get("name"), description: fields.get("description") },
    });
    window.location.href = `/projects/${project.id}/`;
  } catch (error) {
    showError(form, error);
  }
});
