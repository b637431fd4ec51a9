// The side panel's lists of the image shown: classes (with their counts), boxes and
// suggestions, and the history when it is open. They are built after the canvas is on
// screen (a frame later): never in its way.
// `page` is the editor page's context (pages/annotate.js):
// {editor, sidebar, suggestions, colorOf(id), nameOf(id)}.
import * as panels from "./panels.js";

const $ = (id) => document.getElementById(id);

export class Lists {
  constructor(page) {
    this.page = page;
    this.scheduled = false;
    this.boxList = new panels.BoxList($("boxes"), (key) => {
      page.editor.select(key);
      page.editor.focusStage();
    });
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => setTimeout(() => {
      const { sidebar, suggestions } = this.page;
      this.scheduled = false;
      this.renderClasses();
      this.renderBoxes();
      suggestions.render();
      if (sidebar.historyOpen()) sidebar.loadHistory(false);
    }, 0));
  }

  renderClasses() {
    const { editor } = this.page;
    const counts = new Map();
    for (const box of editor.doc ? editor.doc.boxes : []) {
      counts.set(box.c, (counts.get(box.c) || 0) + 1);
    }
    panels.renderClasses($("classes"), editor.categories, {
      current: editor.currentClass,
      hidden: editor.hidden,
      counts,
      readOnly: false,
      canEdit: !editor.readOnly,
    });
    this.showClassHint();
  }

  // What a class key does now: the next box's class, and Shift + it the selected box's.
  showClassHint() {
    const { editor, nameOf } = this.page;
    const hint = $("class-hint");
    const item = editor.selectedItem();
    $("classes").classList.toggle("has-selection", Boolean(item) && !editor.readOnly);
    const next = editor.currentClass === null ? "" : `Next box: ${nameOf(editor.currentClass)}. `;
    if (editor.readOnly) {
      hint.textContent = "";
    } else if (!item) {
      hint.textContent = `${next}A class key sets the class of the next box.`;
    } else {
      const keyed = editor.categories.find((c) => c.shortcut && c.id !== item.c);
      const example = keyed ? `Shift+${keyed.shortcut.toUpperCase()}` : "Shift + its key";
      hint.textContent =
        `${next}A class key sets the class of the next box; ${example} (or → box) ` +
        `changes the selected ${item.sid === undefined ? "box" : "suggestion"} ` +
        `(${nameOf(item.c)}).`;
    }
  }

  renderBoxes() {
    const { editor, colorOf, nameOf } = this.page;
    const doc = editor.doc;
    if (!doc) return;
    $("box-count").textContent = doc.noObjects ? "(no objects)" : `(${doc.boxes.length})`;
    this.boxList.set(doc.boxes, editor.selected, { nameOf, colorOf, isVisible: editor.isVisible });
  }
}
