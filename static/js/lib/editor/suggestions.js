// Model suggestions in the editor (the contract: labeling/suggestions.py). They are drawn
// dashed with their score and never count as boxes; accepting one makes a normal box
// (with `s`, its suggestion id, so the save sends suggestion_id), rejecting one records
// the decision. Both are edits of the Doc (undo, autosave, localStorage, conflicts).
// `page` is the editor page's context (pages/annotate.js):
// {data, editor, afterEdit(), afterReplace(), nameOf(id), colorOf(id)}.
import { api } from "../api.js";
import { newKey } from "./doc.js";
import { clipToImage } from "./geometry.js";
import { el } from "./panels.js";

const $ = (id) => document.getElementById(id);
const fill = (template, id) => template.replace("{id}", String(id));
const LIST_LIMIT = 200; // rows in the side panel (a model keeps at most ~100 per image)

// The box an accept makes: the suggestion's bbox exactly as the model gave it (clipped
// only when it sticks out of the image), or the adjusted one; null when too small.
function boxOf(item, changes, doc) {
  const { c, x, y, w, h } = { ...item, ...changes };
  const box = { k: newKey(), id: null, c, x, y, w, h, s: item.sid };
  const inside = x >= 0 && y >= 0 && x + w <= doc.width && y + h <= doc.height;
  return inside && w > 0 && h > 0 ? box : clipToImage(box, doc.width, doc.height);
}

// The image's pending suggestions as the server lists them; null when it cannot be asked.
export async function fetchSuggestions(data, imageId) {
  try {
    return (await api(fill(data.api.suggestions, imageId))).suggestions;
  } catch {
    return null;
  }
}

export class Suggestions {
  constructor(page) {
    this.page = page;
    this.section = $("suggestions");
    this.list = $("suggestion-list");
    $("suggestions-accept-all")?.addEventListener("click", () => this.acceptAll());
    $("suggestions-reject-all")?.addEventListener("click", () => this.rejectAll());
    $("suggestion-min").addEventListener("input", (event) => this.setMinScore(Number(event.target.value)));
    this.list.addEventListener("click", (event) => {
      const row = event.target.closest("li[data-key]");
      if (!row) return;
      const key = Number(row.dataset.key);
      const editor = this.page.editor;
      const item = editor.doc && editor.doc.findSuggestion(key);
      if (item && event.target.closest(".suggestion-accept")) this.accept(item);
      else if (item && event.target.closest(".suggestion-reject")) this.reject(item);
      else if (item) editor.select(key);
      editor.focusStage(); // keys go on to the editor
    });
  }

  get editor() {
    return this.page.editor;
  }

  // The pending suggestions drawn (their class shown, their score at least the
  // slider's), highest score first.
  shown() {
    const { doc, suggestionShown } = this.editor;
    return doc ? doc.pending().filter(suggestionShown) : [];
  }

  // The score slider: suggestions below it are neither drawn, listed nor accepted by
  // "accept all shown" (nothing is decided about them).
  setMinScore(value) {
    const editor = this.editor;
    editor.minScore = value;
    $("suggestion-min-value").textContent = value.toFixed(2);
    const selected = this.selected();
    if (selected && !editor.aboveMinScore(selected)) editor.selected = null;
    this.page.afterReplace();
  }

  selected() {
    const { doc, selected } = this.editor;
    return doc && selected !== null ? doc.findSuggestion(selected) : null;
  }

  _refused() {
    return this.editor.readOnly || !this.editor.doc;
  }

  // Accept one, as it is or adjusted (changes: {c, x, y, w, h}); then select the next
  // suggestion (select: "next") or the new box ("box").
  accept(item, changes = {}, { select = "next" } = {}) {
    if (this._refused()) return;
    const doc = this.editor.doc;
    const box = boxOf(item, changes, doc);
    if (!box) {
      this.editor.message("This suggestion is too small to become a box.");
      return;
    }
    const after = this._next(item);
    doc.commit([...doc.boxes, box], false, { ...doc.decided, [item.sid]: "accepted" });
    this.page.afterEdit();
    this.editor.select(select === "box" ? box.k : after);
  }

  reject(item) {
    if (this._refused()) return;
    const doc = this.editor.doc;
    const after = this._next(item);
    doc.commit(doc.boxes, doc.noObjects, { ...doc.decided, [item.sid]: "rejected" });
    this.page.afterEdit();
    this.editor.select(after);
  }

  // Enter / Shift+A: accept the selected suggestion; none selected: select the best one.
  acceptSelected() {
    const item = this.selected();
    if (item) {
      this.accept(item);
      return;
    }
    const [best] = this.shown();
    if (best) this.editor.select(best.k);
    else this.editor.message("No suggestion to accept on this image.");
  }

  rejectSelected() {
    const item = this.selected();
    if (item) this.reject(item);
    else this.editor.message("Select a suggestion (a dashed box) to reject it.");
  }

  // Every suggestion shown, in one step (one undo).
  acceptAll() {
    if (this._refused()) return;
    const doc = this.editor.doc;
    const shown = this.shown();
    const boxes = [];
    const decided = { ...doc.decided };
    for (const item of shown) {
      const box = boxOf(item, {}, doc);
      if (!box) continue;
      boxes.push(box);
      decided[item.sid] = "accepted";
    }
    if (!boxes.length) {
      this.editor.message("No suggestion to accept on this image.");
      return;
    }
    doc.commit([...doc.boxes, ...boxes], false, decided);
    this.page.afterEdit();
    this.editor.select(null);
    this.editor.message(`${boxes.length} suggestion(s) accepted.`);
  }

  rejectAll() {
    if (this._refused()) return;
    const doc = this.editor.doc;
    const shown = this.shown();
    if (!shown.length) return;
    const decided = { ...doc.decided };
    for (const item of shown) decided[item.sid] = "rejected";
    doc.commit(doc.boxes, doc.noObjects, decided);
    this.page.afterEdit();
    this.editor.select(null);
    this.editor.message(`${shown.length} suggestion(s) rejected.`);
  }

  // The suggestion after this one (by score), to select once it is decided.
  _next(item) {
    const shown = this.shown();
    const index = shown.findIndex((s) => s.k === item.k);
    const next = shown[index + 1] || shown[index - 1];
    return next ? next.k : null;
  }

  // A save refused decisions (someone else decided these suggestions, or a newer job
  // replaced them): read the pending list again, drop the decisions that can no longer
  // be sent (accepted boxes stay, as plain boxes), and let the save go again.
  async reconcile(session) {
    const doc = session.doc;
    const list = await fetchSuggestions(this.page.data, doc.imageId);
    if (!list) throw new Error("offline");
    const pending = new Set(list.map((s) => s.id));
    for (const id of [...doc.serverDecided.keys()]) {
      if (pending.has(id)) doc.serverDecided.delete(id); // the server has it pending again
    }
    doc.setSuggestions(list);
    const stale = Object.keys(doc.decided)
      .map(Number)
      .filter((id) => !pending.has(id) && !doc.serverDecided.has(id));
    if (stale.length) {
      const gone = new Set(stale);
      const decided = Object.fromEntries(
        Object.entries(doc.decided).filter(([id]) => !gone.has(Number(id))),
      );
      const boxes = doc.boxes.map((b) => {
        if (!gone.has(b.s)) return b;
        const { s, ...plain } = b; // eslint-disable-line no-unused-vars
        return plain;
      });
      doc.patch(boxes, decided);
      doc.suggestions = doc.suggestions.filter((s) => !gone.has(s.sid));
      if (doc === this.editor.doc) {
        this.editor.message(
          `${stale.length} suggestion(s) were decided elsewhere meanwhile; your boxes are kept.`,
        );
      }
    }
    if (doc === this.editor.doc) this.page.afterReplace();
  }

  // The side panel's section: the pending suggestions with accept and reject buttons.
  render() {
    const doc = this.editor.doc;
    if (!doc) return;
    const all = doc.pending();
    const pending = all.filter(this.editor.aboveMinScore); // listed
    this.section.hidden = !doc.suggestions.length;
    const below = all.length - pending.length;
    $("suggestion-count").textContent = below ? `(${pending.length} of ${all.length})` : `(${all.length})`;
    $("suggestion-below").textContent = below
      ? `${below} below ${this.editor.minScore.toFixed(2)} not shown.`
      : "";
    const { nameOf, colorOf } = this.page;
    const { readOnly, selected, isVisible } = this.editor;
    const count = this.shown().length;
    for (const id of ["suggestions-accept-all", "suggestions-reject-all"]) {
      if ($(id)) $(id).disabled = !count;
    }
    if ($("suggestions-accept-all")) $("suggestions-accept-all").textContent = `Accept all shown (${count})`;
    if ($("suggestions-reject-all")) $("suggestions-reject-all").textContent = `Reject all shown (${count})`;
    const rows = pending.slice(0, LIST_LIMIT).map((item) => {
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = colorOf(item.c);
      const model = item.model ? ` model v${item.model.version}` : "";
      const row = el(
        "li",
        { className: item.k === selected ? "selected" : "" },
        el("span", { className: "suggestion-name" }, swatch, ` ${nameOf(item.c)} `,
          el("strong", {}, item.score.toFixed(2)), el("span", { className: "muted" }, model)),
      );
      if (!isVisible(item)) row.classList.add("hidden-box");
      row.dataset.key = item.k;
      row.dataset.suggestion = item.sid;
      if (!readOnly) {
        const accept = el("button", { type: "button", className: "link suggestion-accept" },
          "accept");
        accept.title = "Accept (Enter)";
        const reject = el("button", { type: "button", className: "link suggestion-reject" },
          "reject");
        reject.title = "Reject (Delete)";
        row.append(accept, reject);
      }
      return row;
    });
    if (pending.length > LIST_LIMIT) {
      rows.push(el("li", { className: "muted" }, `… ${pending.length - LIST_LIMIT} more`));
    }
    this.list.replaceChildren(...rows);
  }
}
