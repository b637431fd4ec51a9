import { api, pageData, showError } from "../lib/api.js";

const data = pageData();
const form = document.getElementById("train-form");
// One key per page load: a double click (or a retried request) makes one run.
const requestKey = crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random());

// Starting from a model version: the run keeps its preset (its network).
const startFrom = form?.querySelector("select[name=start_from]");
const startMatch = document.getElementById("start-from-match");
startFrom?.addEventListener("change", () => {
  const start = (data.starts || []).find((s) => String(s.id) === startFrom.value);
  for (const radio of form.querySelectorAll("input[name=preset]")) {
    radio.disabled = Boolean(start) && radio.value !== start.preset;
    if (start && radio.value === start.preset) radio.checked = true;
  }
  startMatch.hidden = !start;
  startMatch.textContent = start
    ? `Starts from ${start.label} with its ${start.preset} preset: ${start.match_text}.`
    : "";
});

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(form);
  const body = {
    preset: fields.get("preset"),
    time_budget_minutes: Number(fields.get("time_budget_minutes")),
    augment: fields.get("augment") === "on",
    request_key: requestKey,
  };
  if (fields.get("start_from")) body.start_from = Number(fields.get("start_from"));
  if (fields.get("epochs")) body.epochs = Number(fields.get("epochs"));
  if (fields.get("image_size")) body.image_size = Number(fields.get("image_size"));
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const run = await api(data.api.runs, { method: "POST", body });
    window.location.href = `/projects/${data.project.id}/runs/${run.id}/`;
  } catch (error) {
    const problems = error.data?.errors?.dataset;
    // Refused for the data (changed since this page was drawn): every problem, not the first.
    if (Array.isArray(problems) && problems.length > 1) {
      error.message = `${problems.join(" ")} Reload the page for the checklist and links.`;
    }
    showError(form, error);
    button.disabled = false;
  }
});
