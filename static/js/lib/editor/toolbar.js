// The toolbar's facts about the image shown: its name and status, the save state, undo,
// redo and "no objects", and the review facts in the side panel.
import * as panels from "./panels.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  saved: "Saved",
  unsaved: "Unsaved changes",
  saving: "Saving…",
  offline: "Offline: edits kept in this browser, retrying",
  conflict: "Conflict: choose whose boxes to keep",
  error: "Not saved",
};

// editor: the editor page's state (pages/annotate.js)
export function updateToolbar(editor) {
  const doc = editor.doc;
  const saver = editor.saver;
  if (!doc) return;
  $("image-name").textContent = doc.meta.original_name || `image ${doc.imageId}`;
  const status = $("image-status");
  status.textContent = doc.server.status.replace("_", " ");
  status.className = `status image-status-${doc.server.status}`;
  const state = $("save-state");
  if (editor.readOnly) {
    state.textContent = "";
    state.dataset.state = "readonly";
  } else {
    const error = saver.status === "error" && saver.error ? `: ${saver.error}` : "";
    state.textContent = STATUS_TEXT[saver.status] + error;
    state.dataset.state = saver.status;
    state.className = `save-state save-${saver.status}`;
    $("undo").disabled = !doc.undoStack.length;
    $("redo").disabled = !doc.redoStack.length;
    $("no-objects").checked = doc.noObjects;
  }
  panels.renderReview($("review-facts"), doc.server);
}
