// Image grid: select images and set their split; re-split the whole project.
import { api, pageData, showError } from "../lib/api.js";

const data = pageData();
const picks = () => [...document.querySelectorAll("input.pick")];

document.getElementById("select-all")?.addEventListener("change", (event) => {
  picks().forEach((box) => { box.checked = event.target.checked; });
});

document.getElementById("split-apply")?.addEventListener("click", async () => {
  const status = document.getElementById("split-status");
  const ids = picks().filter((box) => box.checked).map((box) => Number(box.value));
  if (!ids.length) {
    status.textContent = "Select images first.";
    return;
  }
  const split = document.getElementById("split-choice").value;
  try {
    const result = await api(data.api.split, { method: "POST", body: { image_ids: ids, split } });
    status.textContent = `${result.changed} image(s) moved to ${split}.`;
    window.location.reload();
  } catch (error) {
    status.textContent = error.message;
  }
});

const resplit = document.getElementById("resplit-form");
resplit?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(resplit);
  const body = {
    train: Number(fields.get("train")),
    val: Number(fields.get("val")),
    test: Number(fields.get("test")),
    seed: fields.get("seed"),
  };
  if (!window.confirm("Give every image of the project a new split?")) return;
  try {
    await api(data.api.resplit, { method: "POST", body });
    window.location.reload();
  } catch (error) {
    showError(resplit, error);
  }
});
