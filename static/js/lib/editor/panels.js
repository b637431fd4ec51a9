// The editor's side panels (classes, boxes, review, history) and its overlays, as DOM.
import { SHORTCUTS } from "./keys.js";

export const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
};

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// classes: [{id, name, color, shortcut}]; hidden: Set of ids; counts: Map id -> boxes.
export function renderClasses(list, classes, { current, hidden, counts, readOnly, canEdit }) {
  list.replaceChildren(
    ...classes.map((c) => {
      const row = el("li", { className: c.id === current ? "current" : "" });
      row.dataset.category = c.id;
      const eye = el("input", {
        type: "checkbox", checked: !hidden.has(c.id), className: "class-visible",
      });
      eye.title = `Show the boxes of ${c.name}`;
      eye.setAttribute("aria-label", `Show ${c.name}`);
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = c.color;
      const pick = el(
        "button",
        { type: "button", className: "class-pick link", disabled: readOnly },
        swatch,
        ` ${c.name}`,
      );
      const key = el("kbd", { className: "class-key" }, c.shortcut || "");
      if (!c.shortcut) key.hidden = true;
      const count = el("span", { className: "muted class-count" }, String(counts.get(c.id) || 0));
      row.append(eye, pick, key, count);
      if (canEdit) {
        const apply = el("button", { type: "button", className: "class-apply link" }, "→ box");
        apply.title = `Change the selected box to ${c.name}` +
          (c.shortcut ? ` (Shift+${c.shortcut.toUpperCase()})` : "");
        row.append(apply);
      }
      return row;
    }),
  );
}

// The box list, virtualised: only the rows in sight exist (500 boxes would otherwise
// cost the first frame of an image tens of milliseconds of style and layout).
const ROW = 22; // px, as .editor-boxes li in studio.css

export class BoxList {
  constructor(scroller, onSelect) {
    this.scroller = scroller;
    this.list = el("ul");
    scroller.replaceChildren(this.list);
    this.boxes = [];
    this.options = null;
    this.selected = null;
    this.frame = 0;
    scroller.addEventListener("scroll", () => {
      cancelAnimationFrame(this.frame);
      this.frame = requestAnimationFrame(() => this.render());
    });
    scroller.addEventListener("click", (event) => {
      const row = event.target.closest("li[data-key]");
      if (row) onSelect(Number(row.dataset.key));
    });
  }

  // options: {nameOf, colorOf, isVisible}
  set(boxes, selected, options) {
    this.boxes = boxes;
    this.selected = selected;
    this.options = options;
    this.list.style.height = `${boxes.length * ROW}px`;
    this.render();
  }

  select(key) {
    this.selected = key;
    const index = this.boxes.findIndex((b) => b.k === key);
    if (index >= 0) {
      const top = index * ROW;
      const { scrollTop, clientHeight } = this.scroller;
      if (top < scrollTop) this.scroller.scrollTop = top;
      else if (top + ROW > scrollTop + clientHeight) {
        this.scroller.scrollTop = top + ROW - clientHeight;
      }
    }
    this.render();
  }

  render() {
    if (!this.options) return;
    const { nameOf, colorOf, isVisible } = this.options;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW) - 5);
    const count = Math.ceil((this.scroller.clientHeight || 400) / ROW) + 10;
    const rows = [];
    for (let i = first; i < Math.min(this.boxes.length, first + count); i += 1) {
      const box = this.boxes[i];
      const row = document.createElement("li");
      row.dataset.key = box.k;
      row.style.top = `${i * ROW}px`;
      if (box.k === this.selected) row.className = "selected";
      if (!isVisible(box)) row.classList.add("hidden-box");
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = colorOf(box.c);
      row.append(
        swatch,
        ` ${i + 1}. ${nameOf(box.c)} `,
        el("span", { className: "muted" }, `${Math.round(box.w)}×${Math.round(box.h)}`),
      );
      rows.push(row);
    }
    this.list.replaceChildren(...rows);
  }
}

export function renderReview(facts, server) {
  const by = (who, at) => (who ? `${who}, ${when(at)}` : "—");
  const rows = [
    ["Status", server.status.replace("_", " ")],
    ["Version", String(server.version)],
    ["Labeled by", by(server.labeled_by, server.labeled_at)],
    ["Reviewed by", by(server.reviewed_by, server.reviewed_at)],
  ];
  if (server.review_comment) rows.push(["Comment", server.review_comment]);
  facts.replaceChildren(
    ...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
}

// Boxes of a change made from model suggestions: "RBC from model v2, score 0.83".
function origins(change, nameOf) {
  return (change.after || [])
    .filter((box) => box.origin)
    .map((box) => {
      const { model_version: version, score } = box.origin;
      const text = `${nameOf(box.category_id)} from model v${version}, score ${score.toFixed(2)}`;
      return el("li", { className: "history-origin" }, text);
    });
}

export function renderHistory(list, changes, { append, canRevert, nameOf }) {
  const rows = changes.map((change) => {
    const boxes = change.no_objects ? "no objects" : `${change.after.length} box(es)`;
    const what = { revert: "revert", import: "import" }[change.kind] || "save";
    const row = el(
      "li",
      {},
      el("strong", {}, `v${change.version}`),
      ` ${what} by ${change.user || "—"}, ${when(change.created_at)}: ${boxes} `,
    );
    row.dataset.change = change.id;
    const accepted = origins(change, nameOf);
    if (accepted.length) {
      row.append(el("span", { className: "muted" }, `accepted ${accepted.length} suggestion(s):`));
      row.append(el("ul", { className: "history-origins" }, ...accepted));
    }
    if (canRevert) {
      const props = { type: "button", className: "link history-revert" };
      const button = el("button", props, "revert to this");
      button.dataset.change = change.id;
      row.append(button);
    }
    return row;
  });
  if (append) list.append(...rows);
  else list.replaceChildren(...rows);
}

export function fillHelp(table) {
  table.replaceChildren(
    ...SHORTCUTS.map(([keys, action]) => el("tr", {}, el("th", {}, keys), el("td", {}, action))),
  );
}

export function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}
