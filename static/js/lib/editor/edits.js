// The editor's commands on the image shown: delete, class, undo/redo, copy and paste,
// repeat the previous image's boxes, no objects. Each is one edit of the Doc.
// `page` is the editor page's context (pages/annotate.js):
// {data, editor, pointer, suggestions, sessions, navigation, hasClass(id), afterEdit(),
//  renderClassList(), updateToolbar()}.
import { api } from "../api.js";
import { boxFromServer, newKey } from "./doc.js";
import { clipToImage, moved, sameGeometry } from "./geometry.js";

const fill = (template, id) => template.replace("{id}", String(id));

export class Edits {
  constructor(page) {
    this.page = page;
    this.clipboard = [];
  }

  deleteSelected() {
    const { editor, suggestions } = this.page;
    if (suggestions.selected()) {
      suggestions.rejectSelected();
      return;
    }
    const box = editor.selectedBox();
    if (!box) return;
    editor.commit(editor.doc.boxes.filter((b) => b.k !== box.k));
    editor.select(null);
  }

  // The class of the next box drawn: never a change to a box (the box just drawn stays
  // selected, and "1, draw, 2, draw" must give a box of each class).
  pickClass(id) {
    const { editor } = this.page;
    if (!this.page.hasClass(id)) return;
    editor.currentClass = id;
    this.page.renderClassList();
    editor.redraw({ overlay: true });
  }

  // Shift + a class key, or the class list's "→ box" button: the selected box (or
  // suggestion, accepted as that class) becomes of this class; the next box's is kept.
  setSelectedClass(id) {
    const { editor, suggestions } = this.page;
    if (!this.page.hasClass(id) || editor.readOnly) return;
    const suggestion = suggestions.selected();
    const box = editor.selectedBox();
    if (suggestion) {
      suggestions.accept(suggestion, { c: id }, { select: "box" });
    } else if (box && box.c !== id) {
      editor.commit(editor.doc.boxes.map((b) => (b.k === box.k ? { ...b, c: id } : b)));
    } else if (!box) {
      editor.message("Select a box first: Shift + a class key changes the selected box.");
      return;
    }
    this.page.renderClassList();
  }

  undo(redo = false) {
    const { editor, pointer } = this.page;
    if (editor.readOnly || !editor.doc) return;
    if (pointer.cancel()) return;
    if (redo ? editor.doc.redo() : editor.doc.undo()) this.page.afterEdit();
  }

  copy() {
    const { editor } = this.page;
    const box = editor.selectedItem();
    const boxes = box ? [box] : editor.doc.boxes.filter(editor.isVisible);
    this.clipboard = boxes.map(({ c, x, y, w, h }) => ({ c, x, y, w, h }));
    editor.message(`Copied ${this.clipboard.length} box(es).`);
  }

  paste() {
    this.addBoxes(this.clipboard, "pasted");
  }

  addBoxes(source, what) {
    const { editor } = this.page;
    const doc = editor.doc;
    const added = [];
    for (const raw of source) {
      let box = clipToImage({ ...raw, k: newKey(), id: null }, doc.width, doc.height);
      if (!box) continue;
      const taken = (candidate) => [...doc.boxes, ...added].some((b) => sameGeometry(b, candidate));
      if (what === "pasted" && taken(box)) {
        // Next to its original, so it can be seen (the other way at the image's edge).
        const shifted = moved(box, 10, 10, doc.width, doc.height);
        box = taken(shifted) ? moved(box, -10, -10, doc.width, doc.height) : shifted;
      } else if (taken(box)) {
        continue;
      }
      added.push(box);
    }
    if (!added.length) {
      editor.message(`No box to add (${what}).`);
      return;
    }
    editor.commit([...doc.boxes, ...added], false);
    editor.select(added.length === 1 ? added[0].k : null);
    editor.message(`${added.length} box(es) ${what}.`);
  }

  async repeatPrevious() {
    const { data, editor, sessions, navigation } = this.page;
    const doc = editor.doc;
    const found = await navigation.neighboursOf(editor.entry).catch(() => null);
    const previous = found && found.previous;
    if (!previous) {
      editor.message("There is no previous image.");
      return;
    }
    let boxes = sessions.get(previous.id)?.doc.boxes;
    if (!boxes) {
      try {
        boxes = (await api(fill(data.api.annotations, previous.id))).boxes.map(boxFromServer);
      } catch (error) {
        editor.message(`Could not read the previous image's boxes: ${error.message}`);
        return;
      }
    }
    if (editor.doc !== doc) return; // moved on meanwhile
    this.addBoxes(boxes, "repeated from the previous image");
  }

  toggleNoObjects() {
    const { editor } = this.page;
    const doc = editor.doc;
    if (editor.readOnly || !doc) return;
    if (!doc.noObjects && doc.boxes.length) {
      editor.message("Delete the boxes first: an image with no objects has no boxes.");
      this.page.updateToolbar();
      return;
    }
    editor.commit(doc.boxes, !doc.noObjects);
  }
}
