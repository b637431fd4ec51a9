// The model page's "Possible missing labels" (training/label_audit.py): a crop of each
// candidate (a confident detection far from every labelled box), highest score first,
// with its class, score and what became of it. A click makes it a model suggestion of
// its image (POST api.audit_suggestion) and opens the editor there with it selected, to
// accept or reject; viewers' cards open the image read-only.
import { api } from "./api.js";

const PAGE = 48;
const SVG = "http://www.w3.org/2000/svg";
const STATUS_LABELS = { pending: "suggested, not decided yet", accepted: "accepted", rejected: "rejected" };

function svgNode(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

// The box with as much context around it (a square twice its longer side), from the
// full-size image: the viewBox crops, nothing is drawn on the server.
function crop(candidate, fileUrl) {
  const [x, y, w, h] = candidate.bbox;
  const [width, height] = candidate.image_size;
  const side = Math.max(2 * Math.max(w, h), 24);
  const left = x + w / 2 - side / 2;
  const top = y + h / 2 - side / 2;
  const svg = svgNode("svg", {
    viewBox: `${left} ${top} ${side} ${side}`,
    role: "img",
    "aria-label": `${candidate.class} ${candidate.score.toFixed(2)} on ${candidate.image_name}`,
  });
  svg.append(
    svgNode("image", { href: fileUrl, x: 0, y: 0, width, height, preserveAspectRatio: "none" }),
    svgNode("rect", { class: "box audit", x, y, width: w, height: h }),
  );
  return svg;
}

function card(candidate, data) {
  const item = document.createElement("li");
  item.className = "audit-card";
  item.dataset.index = String(candidate.index);
  item.dataset.imageId = String(candidate.image_id);
  const status = candidate.suggestion ? candidate.suggestion.status : "";
  item.dataset.status = status;
  const fileUrl = data.urls.file.replace("{id}", candidate.image_id);
  let opener;
  if (data.can_annotate) {
    opener = document.createElement("button");
    opener.type = "button";
    opener.className = "audit-open";
    opener.title = "Open in the editor as a suggestion to accept";
  } else {
    opener = document.createElement("a");
    opener.href = data.urls.editor.replace("{id}", candidate.image_id);
    opener.title = "Open the image in the editor";
  }
  opener.append(crop(candidate, fileUrl));
  const meta = document.createElement("div");
  meta.className = "meta";
  const label = document.createElement("strong");
  label.textContent = `${candidate.class} ${candidate.score.toFixed(2)}`;
  const name = document.createElement("div");
  name.className = "file-name";
  name.textContent = candidate.image_name;
  meta.append(label, name);
  if (status) {
    const decided = document.createElement("div");
    decided.className = `audit-status ${status}`;
    decided.dataset.field = "audit-status";
    decided.textContent = STATUS_LABELS[status] || status;
    meta.append(decided);
  }
  item.append(opener, meta);
  return item;
}

export function auditGallery(data) {
  const section = document.getElementById("missing-labels");
  const list = section && section.querySelector(".audit-gallery");
  if (!list) return; // no candidates: the page says why in words
  const candidates = data.audit.candidates;
  const more = document.getElementById("audit-more");
  const errorBox = section.querySelector(".error");
  let shown = PAGE;

  function render() {
    list.replaceChildren(...candidates.slice(0, shown).map((c) => card(c, data)));
    more.hidden = candidates.length <= shown;
    list.dataset.rendered = String(Math.min(shown, candidates.length));
  }

  more.addEventListener("click", () => {
    shown += PAGE;
    render();
  });
  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button.audit-open");
    const item = button && button.closest("li[data-index]");
    if (!item || button.disabled) return;
    button.disabled = true;
    errorBox.hidden = true;
    try {
      const url = data.api.audit_suggestion.replace("{index}", item.dataset.index);
      const made = await api(url, { method: "POST" });
      window.location.assign(made.editor);
    } catch (error) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
      button.disabled = false;
    }
  });
  render();
}
