// The images opened in this page, image id -> {doc, saver}: per image a Doc (boxes,
// undo/redo) and a Saver (autosave, localStorage, conflicts), kept all session, so that
// going back to an image finds its edits and its undo history.
// `page` is the editor page's context (pages/annotate.js):
// {data, editor, afterReplace(), updateToolbar(), scheduleLists(), showConflict(),
//  reconcile(session)}.
import { api } from "../api.js";
import { Doc } from "./doc.js";
import { fetchSuggestions } from "./suggestions.js";
import { readEntry, Saver, storageKey, storedEntries } from "./sync.js";

const fill = (template, id) => template.replace("{id}", String(id));

export class Sessions extends Map {
  constructor(page) {
    super();
    this.page = page;
  }

  // The image's session, made on its first visit (with its edits kept in this browser).
  sessionFor(imageId, meta, state, pending = null) {
    const { data, editor } = this.page;
    let session = this.get(imageId);
    if (session) return session;
    const doc = new Doc(meta, state, pending || []);
    const saver = new Saver({
      doc,
      url: fill(data.api.annotations, imageId),
      key: storageKey(data.project.id, imageId),
      onStatus: (s) => s === editor.saver && this.page.updateToolbar(),
      onConflict: (s) => {
        if (s === editor.saver) this.page.showConflict();
        else editor.message(`Someone else saved image ${imageId} meanwhile: open it to choose.`);
      },
      onSaved: (s) => s === editor.saver && (this.page.updateToolbar(), this.page.scheduleLists()),
      onStale: () => this.page.reconcile(session),
    });
    session = { doc, saver };
    this.set(imageId, session);
    const stored = readEntry(saver.key);
    if (stored && !editor.readOnly) saver.restore(stored, state);
    return session;
  }

  // A newer state from the server replaces an image's boxes, unless edits are pending
  // (their save then meets the version check).
  adopt(session, state) {
    if (session.saver.busy || state.version <= session.doc.version) return;
    session.doc.takeServer(state);
    session.doc.undoStack.pop(); // not an edit of the user's
    session.saver.markClean();
    if (session.doc === this.page.editor.doc) this.page.afterReplace();
  }

  // Boxes and suggestions fetched ahead may be old: ask again.
  async refresh(session) {
    const { data, editor } = this.page;
    const doc = session.doc;
    try {
      const [state, pending] = await Promise.all([
        api(fill(data.api.annotations, doc.imageId)),
        fetchSuggestions(data, doc.imageId),
      ]);
      this.adopt(session, state);
      if (pending) {
        doc.setSuggestions(pending);
        if (doc === editor.doc) this.page.afterReplace();
      }
    } catch {
      /* offline: the version check on the next save still protects both sides */
    }
  }

  // Edits of other images kept in this browser (offline, then closed): send them now.
  async sendKept(currentId) {
    const { data, editor } = this.page;
    if (editor.readOnly) return;
    for (const { imageId } of storedEntries(data.project.id)) {
      if (imageId === currentId || this.has(imageId)) continue;
      try {
        const state = await api(fill(data.api.annotations, imageId));
        this.sessionFor(imageId, { id: imageId }, state, null);
      } catch {
        /* deleted image or offline: the entry waits for the next visit */
      }
    }
  }

  // Some image has edits not yet saved.
  busy() {
    return [...this.values()].some((s) => s.saver.busy);
  }

  // Send every image's pending edits now.
  flushAll() {
    this.forEach((s) => s.saver.flush());
  }
}
