// One image's boxes in the editor: the current state, undo/redo of whole-state
// snapshots (cheap: unchanged boxes are shared), and the server's side of it.
//
// Model suggestions (labeling/suggestions.py): `suggestions` are the image's pending ones
// as the server listed them (never boxes); `decided` ({id: "accepted" | "rejected"}) is
// part of each snapshot, so accepting or rejecting one is undone like any edit. An
// accepted suggestion is a box with `s` (its suggestion id). `serverDecided` is what the
// server holds of this editor's decisions ({status, key}: key of the box an accept made);
// the save sends the difference (body()).

const UNDO_LIMIT = 1000;
let nextKey = 1;

export const newKey = () => nextKey++;

export function boxFromServer(box) {
  const [x, y, w, h] = box.bbox;
  return { k: newKey(), id: box.id ?? null, c: box.category_id, x, y, w, h };
}

// A suggestion as the editor draws it: box-like, with its own key (to select it).
export function suggestionFromServer(s) {
  const [x, y, w, h] = s.bbox;
  return {
    k: newKey(), sid: s.id, c: s.category_id, x, y, w, h,
    score: s.score, model: s.model_version, job: s.job,
  };
}

export const suggestionToServer = (s) => ({
  id: s.sid, category_id: s.c, bbox: [s.x, s.y, s.w, s.h],
  score: s.score, model_version: s.model, job: s.job,
});

// Boxes as kept in localStorage (keys too, so ids assigned later find their box).
export function boxesToStored(boxes) {
  return boxes.map((b) => {
    const row = [b.k, b.id, b.c, b.x, b.y, b.w, b.h];
    if (b.s) row.push(b.s);
    return row;
  });
}

export function boxesFromStored(rows) {
  return rows.map(([k, id, c, x, y, w, h, s]) => {
    nextKey = Math.max(nextKey, k + 1);
    return s ? { k, id, c, x, y, w, h, s } : { k, id, c, x, y, w, h };
  });
}

export class Doc {
  constructor(meta, state, suggestions = []) {
    this.imageId = meta.id;
    this.meta = meta;
    this.width = state.image.width;
    this.height = state.image.height;
    this.boxes = state.boxes.map(boxFromServer);
    this.noObjects = state.no_objects;
    this.decided = {};
    this.serverDecided = new Map(); // suggestion id -> {status, key}, as saved from here
    this.suggestions = suggestions.map(suggestionFromServer);
    this.undoStack = [];
    this.redoStack = [];
    this.seq = 0; // grows with every change of boxes or mark
    this.idByKey = new Map(); // server ids of boxes created here (key -> id)
    this.setServer(state);
  }

  setServer(state) {
    this.version = state.version;
    this.server = {
      version: state.version,
      status: state.status,
      no_objects: state.no_objects,
      labeled_by: state.labeled_by,
      labeled_at: state.labeled_at,
      reviewed_by: state.reviewed_by,
      reviewed_at: state.reviewed_at,
      review_comment: state.review_comment,
    };
  }

  // The server's pending list (a list of its records), keeping those this editor decided
  // and then undid but whose reopening is not saved yet (the server no longer lists them).
  setSuggestions(list) {
    const known = new Map(this.suggestions.map((s) => [s.sid, s]));
    const fresh = list.map((s) => known.get(s.id) || suggestionFromServer(s));
    const listed = new Set(list.map((s) => s.id));
    const waiting = this.suggestions.filter(
      (s) => !listed.has(s.sid) && this.serverDecided.has(s.sid),
    );
    this.suggestions = [...fresh, ...waiting].sort((a, b) => b.score - a.score || a.sid - b.sid);
  }

  // The suggestions still to decide, highest score first.
  pending() {
    return this.suggestions.filter((s) => !(s.sid in this.decided));
  }

  findSuggestion(key) {
    return this.pending().find((s) => s.k === key) || null;
  }

  boxId(box) {
    return this.idByKey.get(box.k) ?? box.id;
  }

  // The server holds this box as accepted from its suggestion (sent with its id then).
  _linked(box) {
    const saved = this.serverDecided.get(box.s);
    return saved && saved.status === "accepted" && saved.key === box.k;
  }

  body() {
    const out = {
      boxes: this.boxes.map((b) => {
        const box = { category_id: b.c, bbox: [b.x, b.y, b.w, b.h] };
        if (b.s && !this._linked(b)) {
          box.suggestion_id = b.s; // a new box made from the suggestion
          return box;
        }
        const id = this.boxId(b);
        if (id !== null && id !== undefined) box.id = id;
        return box;
      }),
      no_objects: this.noObjects,
    };
    const rejected = Object.keys(this.decided)
      .map(Number)
      .filter((id) => this.decided[id] === "rejected")
      .filter((id) => this.serverDecided.get(id)?.status !== "rejected");
    // Saved decisions undone since: the server sets them back to pending (then this
    // save may decide them again, e.g. accepted as another box).
    const reopened = [...this.serverDecided]
      .filter(([id, saved]) => {
        if (this.decided[id] !== saved.status) return true;
        if (saved.status !== "accepted" || this.boxes.some((b) => b.k === saved.key)) return false;
        return this.boxes.some((b) => b.s === id);
      })
      .map(([id]) => id);
    if (rejected.length) out.rejected_suggestions = rejected;
    if (reopened.length) out.reopened_suggestions = reopened;
    return out;
  }

  // A save was applied: the server now holds the decisions it carried (sent: the
  // request's body and the keys of its boxes).
  learnDecisions(sent) {
    for (const id of sent.reopened_suggestions || []) this.serverDecided.delete(id);
    sent.boxes.forEach((box, index) => {
      if (box.suggestion_id) {
        this.serverDecided.set(box.suggestion_id, { status: "accepted", key: sent.keys[index] });
      }
    });
    for (const id of sent.rejected_suggestions || []) {
      this.serverDecided.set(id, { status: "rejected", key: null });
    }
  }

  // Suggestion state as kept in localStorage with the edits.
  suggestionsToStored() {
    return {
      decided: this.decided,
      server: [...this.serverDecided].map(([id, saved]) => [id, saved.status, saved.key]),
      waiting: this.suggestions
        .filter((s) => this.serverDecided.has(s.sid))
        .map(suggestionToServer),
    };
  }

  suggestionsFromStored(stored) {
    if (!stored) return;
    this.decided = stored.decided || {};
    this.serverDecided = new Map(
      (stored.server || []).map(([id, status, key]) => [id, { status, key }]),
    );
    const listed = new Set(this.suggestions.map((s) => s.sid));
    const waiting = (stored.waiting || []).filter(
      (s) => !listed.has(s.id) && this.serverDecided.has(s.id),
    );
    this.suggestions = [...this.suggestions, ...waiting.map(suggestionFromServer)]
      .sort((a, b) => b.score - a.score || a.sid - b.sid);
  }

  commit(boxes, noObjects = this.noObjects, decided = this.decided) {
    this.undoStack.push(this._snapshot());
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack = [];
    this._set(boxes, noObjects, decided);
  }

  undo() {
    const previous = this.undoStack.pop();
    if (!previous) return false;
    this.redoStack.push(this._snapshot());
    this._set(previous.boxes, previous.noObjects, previous.decided);
    return true;
  }

  redo() {
    const next = this.redoStack.pop();
    if (!next) return false;
    this.undoStack.push(this._snapshot());
    this._set(next.boxes, next.noObjects, next.decided);
    return true;
  }

  _snapshot() {
    return { boxes: this.boxes, noObjects: this.noObjects, decided: this.decided };
  }

  _set(boxes, noObjects, decided = this.decided) {
    this.boxes = boxes;
    this.noObjects = noObjects;
    this.decided = decided;
    this.seq += 1;
  }

  // Replace the current state without an undo step (boxes and decisions the server
  // refused as stale: see Suggestions.reconcile in suggestions.js).
  patch(boxes, decided) {
    this._set(boxes, this.noObjects, decided);
  }

  // Take a state from the server as the current one (an undoable step). Decisions go
  // back to those the server holds.
  takeServer(state) {
    this.commit(
      state.boxes.map(boxFromServer),
      state.no_objects,
      Object.fromEntries([...this.serverDecided].map(([id, saved]) => [id, saved.status])),
    );
    this.setServer(state);
  }

  // The server assigned ids to the boxes it was sent (response boxes in request order).
  learnIds(sentKeys, responseBoxes) {
    sentKeys.forEach((key, index) => {
      const saved = responseBoxes[index];
      if (saved) this.idByKey.set(key, saved.id);
    });
  }

  find(key) {
    return this.boxes.find((b) => b.k === key) || null;
  }
}
