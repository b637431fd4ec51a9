// The side panel's server actions: history and revert, review, class keys, and the
// conflict dialog. `page` is the editor page's context (pages/annotate.js):
// {data, editor, sessionOf(doc), afterReplace(), updateToolbar(), refresh(session),
//  setCategories(list), nameOf(id)}.
import { api } from "../api.js";
import * as panels from "./panels.js";
import { requestId } from "./sync.js";

const $ = (id) => document.getElementById(id);
const fill = (template, id) => template.replace("{id}", String(id));

export class Sidebar {
  constructor(page) {
    this.page = page;
    this.historyNext = null;
    const on = (id, type, handler) => $(id)?.addEventListener(type, handler);
    on("history", "toggle", () => this.historyOpen() && this.loadHistory(false));
    on("history-more", "click", () => this.loadHistory(true));
    on("history-list", "click", (event) => {
      const button = event.target.closest(".history-revert");
      if (button) this.revert(Number(button.dataset.change));
    });
    on("review-accept", "click", () => this.review("accept"));
    on("review-reject", "click", () => this.review("reject"));
    on("keys-edit", "click", () => this.openKeysForm());
    on("keys-cancel", "click", () => { $("keys-form").hidden = true; });
    on("keys-form", "submit", (event) => this.saveKeys(event));
    on("conflict-mine", "click", () => this.resolveConflict("mine"));
    on("conflict-theirs", "click", () => this.resolveConflict("theirs"));
  }

  historyOpen() {
    return $("history").open;
  }

  async loadHistory(append) {
    const { data, editor } = this.page;
    const doc = editor.doc;
    const error = document.querySelector("#history .error");
    const url = append && this.historyNext
      ? this.historyNext
      : `${fill(data.api.history, doc.imageId)}?limit=20`;
    try {
      const page = await api(url);
      if (editor.doc !== doc) return;
      panels.renderHistory($("history-list"), page.results, {
        append,
        canRevert: !editor.readOnly,
        nameOf: this.page.nameOf,
      });
      this.historyNext = page.next;
      $("history-more").hidden = !page.next;
      panels.showError(error, "");
    } catch (problem) {
      panels.showError(error, problem.message);
    }
  }

  // Reviews and reverts act on the saved version: unsaved edits go first.
  async whenSaved(doc) {
    const saver = this.page.sessionOf(doc).saver;
    saver.flush();
    await saver.idle();
    if (saver.busy) throw new Error("Save the boxes first (they are not saved yet).");
  }

  async revert(changeId) {
    const { data, editor } = this.page;
    const doc = editor.doc;
    const error = document.querySelector("#history .error");
    try {
      await this.whenSaved(doc);
      const result = await api(fill(data.api.revert, doc.imageId), {
        method: "POST",
        body: { change_id: changeId, base_version: doc.version, request_id: requestId() },
      });
      doc.takeServer(result);
      this.page.sessionOf(doc).saver.markClean();
      if (editor.doc === doc) this.page.afterReplace();
      this.loadHistory(false);
    } catch (problem) {
      panels.showError(error, problem.message);
    }
  }

  async review(decision) {
    const { data, editor } = this.page;
    const doc = editor.doc;
    const form = $("review-form");
    const error = form.querySelector(".error");
    try {
      await this.whenSaved(doc);
      const state = await api(fill(data.api.review, doc.imageId), {
        method: "POST",
        body: { decision, comment: form.elements.comment.value, base_version: doc.version },
      });
      doc.setServer(state);
      form.elements.comment.value = "";
      panels.showError(error, "");
      this.page.updateToolbar();
      if (this.historyOpen()) this.loadHistory(false);
    } catch (problem) {
      panels.showError(error, problem.message);
      this.page.refresh(this.page.sessionOf(doc));
    }
  }

  showConflict() {
    const { editor } = this.page;
    const current = editor.saver.conflict;
    if (!current) return;
    const doc = editor.doc;
    const who = current.labeled_by
      ? `${current.labeled_by} (${panels.when(current.labeled_at)})`
      : "someone";
    const count = (noObjects, boxes) => (noObjects ? "no objects" : `${boxes.length} box(es)`);
    $("conflict-text").textContent =
      `Version ${current.version} was saved by ${who} with ` +
      `${count(current.no_objects, current.boxes)} while you were editing; you have ` +
      `${count(doc.noObjects, doc.boxes)}. Keep mine saves your boxes over theirs (theirs ` +
      "stay in the history); take theirs replaces yours (Ctrl+Z brings yours back).";
    $("conflict").hidden = false;
  }

  resolveConflict(choice) {
    $("conflict").hidden = true;
    const { editor } = this.page;
    const session = this.page.sessionOf(editor.doc);
    editor.saver.resolve(choice);
    this.page.afterReplace();
    if (choice === "theirs") this.page.refresh(session); // their decisions of suggestions
  }

  openKeysForm() {
    const fields = $("keys-fields");
    fields.replaceChildren(
      ...this.page.editor.categories.map((c) => {
        const label = document.createElement("label");
        label.className = "keys-field";
        const input = document.createElement("input");
        Object.assign(input, { value: c.shortcut, maxLength: 1, size: 2 });
        input.dataset.category = c.id;
        input.setAttribute("aria-label", `Key of ${c.name}`);
        label.append(input, ` ${c.name}`);
        return label;
      }),
    );
    $("keys-form").hidden = false;
  }

  async saveKeys(event) {
    event.preventDefault();
    const { data } = this.page;
    const form = $("keys-form");
    const error = form.querySelector(".error");
    const shortcuts = [...form.querySelectorAll("input[data-category]")].map((input) => ({
      category_id: Number(input.dataset.category),
      shortcut: input.value.trim().toLowerCase(),
    }));
    const keys = shortcuts.map((s) => s.shortcut).filter(Boolean);
    const clash = keys.find((key, i) => keys.indexOf(key) !== i);
    const reserved = keys.find((key) => data.editor_keys.includes(key));
    if (clash || reserved) {
      panels.showError(
        error,
        clash
          ? `The key "${clash}" is given to two classes.`
          : `The key "${reserved}" is one of the editor's own keys.`,
      );
      return;
    }
    try {
      const saved = await api(data.api.shortcuts, { method: "PUT", body: { shortcuts } });
      const keep = ({ id, name, color, shortcut }) => ({ id, name, color, shortcut });
      this.page.setCategories(saved.map(keep));
      form.hidden = true;
      panels.showError(error, "");
    } catch (problem) {
      panels.showError(error, problem.message);
    }
  }
}
