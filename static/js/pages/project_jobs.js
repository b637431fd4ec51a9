// Project page, annotation jobs: an owner assigns unassigned images to an annotator.
// Imported by project_detail.js, the page's module.
import { api, pageData, showError } from "../lib/api.js";

const data = pageData();
const form = document.getElementById("assign-form");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(form);
  const body = { username: fields.get("username"), count: Number(fields.get("count")) };
  if (fields.get("tagged")) body.tagged = fields.get("tagged") === "true";
  if (fields.get("split")) body.split = fields.get("split");
  try {
    const result = await api(data.api.assign, { method: "POST", body });
    document.getElementById("assign-status").textContent =
      `${result.assigned} image(s) assigned to ${body.username}.`;
    window.location.reload();
  } catch (error) {
    showError(form, error);
  }
});
