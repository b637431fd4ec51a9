// Autosave of one image's boxes, never losing an edit.
//
// - Every change is written to localStorage at once, then saved (debounced) with PUT
//   {base_version, request_id, boxes, no_objects}. The entry goes when the server has it.
// - A request is stored (with its id) before it is sent and re-sent unchanged until the
//   server answers it: a save whose answer was lost (timeout, closed tab) is applied once
//   (the server replays a known request id), and later edits follow on its version.
// - No answer or 5xx: "offline", retried with back-off, at once when the browser is
//   online again or the user saves (Ctrl+S). A reload finds the entry and resumes.
// - 409: the server's state goes to onConflict; nothing is sent until resolve().
// - Model suggestions decided here travel in the same save (suggestion_id on an accepted
//   box, rejected_suggestions, reopened_suggestions for an undone decision: Doc.body()).
//   A 400 on them (someone else decided one, a newer pre-label job replaced it) goes to
//   onStale, which drops the stale decisions; the save is then tried again.
import { csrfToken } from "../api.js";
import { boxesFromStored, boxesToStored } from "./doc.js";

const PREFIX = "studio.editor.v1";
const TIMEOUT_MS = 20_000;
const MAX_BACKOFF_MS = 10_000;

export const storageKey = (projectId, imageId) => `${PREFIX}.${projectId}.${imageId}`;

// The images of a project with edits kept in this browser: [{imageId, entry}].
export function storedEntries(projectId) {
  const prefix = `${PREFIX}.${projectId}.`;
  const found = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith(prefix)) continue;
    const entry = readEntry(key);
    if (entry) found.push({ imageId: Number(key.slice(prefix.length)), entry });
  }
  return found;
}

export function readEntry(key) {
  try {
    const entry = JSON.parse(localStorage.getItem(key));
    return entry && Array.isArray(entry.boxes) ? entry : null;
  } catch {
    return null;
  }
}

// The PUT body of a stored request.
function requestBody(sent) {
  const body = {
    base_version: sent.base_version,
    request_id: sent.request_id,
    boxes: sent.boxes,
    no_objects: sent.no_objects,
  };
  if (sent.rejected_suggestions) body.rejected_suggestions = sent.rejected_suggestions;
  if (sent.reopened_suggestions) body.reopened_suggestions = sent.reopened_suggestions;
  return JSON.stringify(body);
}

const STALE_RETRIES = 2; // refused suggestion decisions dropped and the save sent again

export function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Saver {
  // doc: a Doc; url: its annotations URL; onStatus(saver), onConflict(saver, current),
  // onSaved(saver, result) are called as things happen; onStale(saver) (a promise) when
  // the server refused suggestion decisions as no longer possible.
  constructor({ doc, url, key, onStatus, onConflict, onSaved, onStale, debounceMs = 400 }) {
    Object.assign(this, { doc, url, key, onStatus, onConflict, onSaved, onStale, debounceMs });
    this.staleTries = 0;
    this.savedSeq = doc.seq;
    this.pending = null; // {request_id, base_version, boxes, no_objects, keys, seq}
    this.inflight = false;
    this.status = "saved";
    this.error = "";
    this.conflict = null; // the server's state while a conflict waits for the user
    this.backoff = 1000;
    this.timer = null;
    this.waiters = [];
  }

  get dirty() {
    return this.doc.seq !== this.savedSeq;
  }

  get busy() {
    return this.dirty || this.pending !== null || this.inflight;
  }

  // Local edits from an earlier visit (this tab's or a closed one's), taken over.
  restore(entry, serverState) {
    const doc = this.doc;
    doc.boxes = boxesFromStored(entry.boxes);
    doc.noObjects = Boolean(entry.no_objects);
    doc.idByKey = new Map(entry.ids || []);
    doc.suggestionsFromStored(entry.suggestions);
    doc.seq += 1;
    this.pending = entry.pending ? { ...entry.pending, seq: -1 } : null;
    if (!this.pending && entry.base_version !== doc.version) {
      this._conflict(serverState); // the server moved on while these edits waited
      return;
    }
    this._persist();
    this.run();
  }

  changed() {
    this._persist();
    if (this.status === "saved" || this.status === "error") this._setStatus("unsaved");
    if (this.status === "conflict") return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), this.debounceMs);
  }

  flush() {
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    this.backoff = 1000;
    this.run();
  }

  // The current state is the server's (taken from a 409, a revert or a review).
  markClean() {
    this.savedSeq = this.doc.seq;
    this.pending = null;
    this.conflict = null;
    this._persist();
    this._setStatus("saved");
  }

  // The user chose after a conflict: "mine" saves these boxes on the server's version,
  // "theirs" takes the server's boxes (an undoable step).
  resolve(choice) {
    const current = this.conflict;
    if (!current) return;
    this.conflict = null;
    if (choice === "theirs") {
      this.doc.takeServer(current);
      this.markClean();
      return;
    }
    this.doc.setServer(current);
    this.savedSeq = -1; // whatever it was, this state must be saved
    this._setStatus("unsaved");
    this._persist();
    this.run();
  }

  // A promise for the moment nothing is left to send (or only the user can go on).
  idle() {
    if (this._settled()) return Promise.resolve(this.status);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  _settled() {
    return !this.busy || ["conflict", "error"].includes(this.status);
  }

  async run() {
    if (this.inflight || this.status === "conflict") return;
    const doc = this.doc;
    if (!this.pending) {
      if (!this.dirty) {
        this._setStatus("saved");
        return;
      }
      this.pending = {
        request_id: requestId(),
        base_version: doc.version,
        ...doc.body(),
        keys: doc.boxes.map((b) => b.k),
        seq: doc.seq,
      };
      this._persist();
    }
    const sent = this.pending;
    this.inflight = true;
    this._setStatus("saving");
    let response;
    let data = null;
    try {
      response = await fetch(this.url, {
        method: "PUT",
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: requestBody(sent),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      data = await response.json().catch(() => null);
    } catch {
      this.inflight = false;
      this._offline();
      return;
    }
    this.inflight = false;
    if (response.ok && data) {
      this.backoff = 1000;
      this.staleTries = 0;
      doc.learnIds(sent.keys, data.boxes);
      doc.learnDecisions(sent);
      doc.setServer(data);
      this.savedSeq = Math.max(this.savedSeq, sent.seq);
      this.pending = null;
      this.error = "";
      this._persist();
      this.onSaved(this, data);
      if (this.dirty) {
        this._setStatus("unsaved");
        this.timer = setTimeout(() => this.run(), this.debounceMs);
      } else {
        this._setStatus("saved");
      }
    } else if (response.status === 409 && data && data.current) {
      this.pending = null;
      this._persist();
      this._conflict(data.current);
    } else if (this._stale(response, data)) {
      this.pending = null;
      this.staleTries += 1;
      this._setStatus("saving");
      try {
        await this.onStale(this);
      } catch {
        /* offline: the next try finds out */
      }
      this._persist();
      this.run();
    } else if (response.status >= 500 || [408, 429].includes(response.status)) {
      this._offline();
    } else {
      // Refused (400, 413) or not allowed (401, 403): not applied; kept here, unsaved.
      this.pending = null;
      this.error = (data && data.detail) || `The server answered ${response.status}.`;
      this._persist();
      this._setStatus("error");
    }
  }

  _stale(response, data) {
    const refused = response.status === 400 && data && data.errors && data.errors.suggestions;
    return Boolean(refused && this.onStale && this.staleTries < STALE_RETRIES);
  }

  _conflict(current) {
    this.conflict = current;
    this._setStatus("conflict");
    this.onConflict(this, current);
  }

  _offline() {
    this._setStatus("offline");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.run(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  // On leaving the page: send what is unsaved with keepalive (the request is stored
  // first, so if its answer is lost, the next visit re-sends it and it applies once).
  sendOnExit() {
    if (this.inflight || !this.busy || this.status === "conflict") return;
    if (!this.pending) {
      const doc = this.doc;
      this.pending = {
        request_id: requestId(),
        base_version: doc.version,
        ...doc.body(),
        keys: doc.boxes.map((b) => b.k),
        seq: doc.seq,
      };
      this._persist();
    }
    const body = requestBody(this.pending);
    if (body.length > 60_000) return; // keepalive bodies are limited: the next visit sends it
    fetch(this.url, {
      method: "PUT",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body,
    }).catch(() => {});
  }

  _persist() {
    try {
      if (!this.dirty && !this.pending && this.status !== "conflict") {
        localStorage.removeItem(this.key);
        return;
      }
      const doc = this.doc;
      const entry = {
        base_version: doc.version,
        boxes: boxesToStored(doc.boxes),
        no_objects: doc.noObjects,
        pending: this.pending,
        ids: [...doc.idByKey],
        suggestions: doc.suggestionsToStored(),
        at: Date.now(),
      };
      localStorage.setItem(this.key, JSON.stringify(entry));
    } catch (error) {
      this.error = `Could not keep the edits in this browser: ${error.message}`;
    }
  }

  _setStatus(status) {
    this.status = status;
    this.onStatus(this);
    if (this._settled()) {
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((resolve) => resolve(status));
    }
  }
}
