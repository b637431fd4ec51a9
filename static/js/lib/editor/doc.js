// One image's boxes in the editor: the current state, undo/redo of whole-state
// snapshots (cheap: unchanged boxes are shared), and the server's side of it.

const UNDO_LIMIT = 1000;
let nextKey = 1;

export const newKey = () => nextKey++;

export function boxFromServer(box) {
  const [x, y, w, h] = box.bbox;
  return { k: newKey(), id: box.id ?? null, c: box.category_id, x, y, w, h };
}

// Boxes as kept in localStorage (keys too, so ids assigned later find their box).
export function boxesToStored(boxes) {
  return boxes.map((b) => [b.k, b.id, b.c, b.x, b.y, b.w, b.h]);
}

export function boxesFromStored(rows) {
  return rows.map(([k, id, c, x, y, w, h]) => {
    nextKey = Math.max(nextKey, k + 1);
    return { k, id, c, x, y, w, h };
  });
}

export class Doc {
  constructor(meta, state) {
    this.imageId = meta.id;
    this.meta = meta;
    this.width = state.image.width;
    this.height = state.image.height;
    this.boxes = state.boxes.map(boxFromServer);
    this.noObjects = state.no_objects;
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

  boxId(box) {
    return this.idByKey.get(box.k) ?? box.id;
  }

  body() {
    return {
      boxes: this.boxes.map((b) => {
        const id = this.boxId(b);
        const out = { category_id: b.c, bbox: [b.x, b.y, b.w, b.h] };
        if (id !== null && id !== undefined) out.id = id;
        return out;
      }),
      no_objects: this.noObjects,
    };
  }

  commit(boxes, noObjects = this.noObjects) {
    this.undoStack.push({ boxes: this.boxes, noObjects: this.noObjects });
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack = [];
    this._set(boxes, noObjects);
  }

  undo() {
    const previous = this.undoStack.pop();
    if (!previous) return false;
    this.redoStack.push({ boxes: this.boxes, noObjects: this.noObjects });
    this._set(previous.boxes, previous.noObjects);
    return true;
  }

  redo() {
    const next = this.redoStack.pop();
    if (!next) return false;
    this.undoStack.push({ boxes: this.boxes, noObjects: this.noObjects });
    this._set(next.boxes, next.noObjects);
    return true;
  }

  _set(boxes, noObjects) {
    this.boxes = boxes;
    this.noObjects = noObjects;
    this.seq += 1;
  }

  // Take a state from the server as the current one (an undoable step).
  takeServer(state) {
    this.commit(state.boxes.map(boxFromServer), state.no_objects);
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
