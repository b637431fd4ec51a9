// The read-only test hook, window.__editor (tests/browser/editor_pages.py, the
// benchmarks): state() (boxes in image pixels, the view transform, the save state),
// idle() (a promise: nothing left to send) and frameTimes(); the page adds `ready`.
// `page` is the editor page's context (pages/annotate.js):
// {editor, view, cache, sessions, suggestions, frames, review, keptEdits() -> Promise}.
// review() says what a model review draws on the image shown (lib/editor/review.js).

export function testHook(page) {
  const { editor, view, cache, sessions, suggestions, frames } = page;
  const stateOf = () => {
    const doc = editor.doc;
    if (!doc) return null;
    return {
      imageId: doc.imageId,
      version: doc.version,
      status: doc.server.status,
      noObjects: doc.noObjects,
      boxes: doc.boxes.map((b) => ({
        id: doc.boxId(b) ?? null,
        category_id: b.c,
        bbox: [b.x, b.y, b.w, b.h],
        suggestion_id: b.s ?? null,
      })),
      selected: editor.selected === null
        ? null
        : doc.boxes.findIndex((b) => b.k === editor.selected),
      // pending model suggestions (as listed, highest score first) and decisions
      suggestions: doc.pending().map((s) => ({
        id: s.sid, category_id: s.c, bbox: [s.x, s.y, s.w, s.h], score: s.score,
      })),
      // those drawn: class shown, score at least the slider's
      shownSuggestions: suggestions.shown().map((s) => s.sid),
      decided: { ...doc.decided },
      selectedSuggestion: suggestions.selected()?.sid ?? null,
      currentClass: editor.currentClass,
      save: editor.saver.status,
      busy: editor.saver.busy,
      undo: doc.undoStack.length,
      redo: doc.redoStack.length,
      view: view.snapshot(),
      prefetched: cache.readyIds(),
    };
  };
  return {
    state: stateOf,
    idle: async () => {
      await page.keptEdits(); // sessions of other images with kept edits exist by then
      await Promise.all([...sessions.values()].map((s) => s.saver.idle()));
    },
    frameTimes: () => frames.times.slice(),
    review: () => (editor.doc ? page.review.snapshot(editor.doc.imageId) : null),
  };
}
