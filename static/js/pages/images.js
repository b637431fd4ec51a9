// Image grid: each thumbnail with its boxes drawn over it; select images to set their
// split or delete them; re-split the whole project.
import { api, pageData, showError } from "../lib/api.js";

const data = pageData();
const picks = () => [...document.querySelectorAll("input.pick")];
const SVG = "http://www.w3.org/2000/svg";

// The thumbnail shows the whole image scaled to fit (object-fit: contain), so a box in
// image pixels is drawn in an SVG whose viewBox is the image and which fits the same way.
function drawBoxes(item) {
  const thumb = data.thumbnails[item.dataset.image];
  const frame = item.querySelector(".frame");
  if (!thumb || !frame || !thumb.boxes.length) return;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "boxes");
  svg.setAttribute("viewBox", `0 0 ${thumb.width} ${thumb.height}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.setAttribute("aria-hidden", "true");
  for (const box of thumb.boxes) {
    const [x, y, w, h] = box.bbox;
    const rect = document.createElementNS(SVG, "rect");
    for (const [name, value] of Object.entries({ x, y, width: w, height: h, stroke: box.color })) {
      rect.setAttribute(name, String(value));
    }
    svg.append(rect);
  }
  frame.append(svg);
}
document.querySelectorAll("#thumbs li[data-image]").forEach(drawBoxes);

const selected = () => picks().filter((box) => box.checked).map((box) => Number(box.value));

document.getElementById("delete-selected")?.addEventListener("click", async () => {
  const status = document.getElementById("split-status");
  const ids = selected();
  if (!ids.length) {
    status.textContent = "Select images first.";
    return;
  }
  const what = ids.length === 1 ? "this image" : `these ${ids.length} images`;
  const question = `Delete ${what} with their boxes and history? This cannot be undone. ` +
    "Dataset versions already frozen (and the runs and models made from them) keep theirs.";
  if (!window.confirm(question)) {
    status.textContent = "Nothing deleted.";
    return;
  }
  try {
    const result = await api(data.api.delete, { method: "POST", body: { image_ids: ids } });
    status.textContent = `${result.deleted} image(s) deleted.`;
    window.location.reload();
  } catch (error) {
    status.textContent = error.message;
  }
});

document.getElementById("select-all")?.addEventListener("change", (event) => {
  picks().forEach((box) => { box.checked = event.target.checked; });
});

document.getElementById("split-apply")?.addEventListener("click", async () => {
  const status = document.getElementById("split-status");
  const ids = selected();
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
