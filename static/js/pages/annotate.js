// The box editor of one image, and of the images before and after it in the grid's order.
// State: per image a Doc (boxes in original-image pixels, undo/redo) and a Saver
// (autosave, localStorage, conflicts); one View (zoom and pan) and three canvases.
// The model's pending suggestions of an image come with it and are decided in its Doc
// (lib/editor/suggestions.js).
// Switching image happens in place: the next image (pixels, boxes, neighbours) is
// fetched ahead, so it shows at once; the URL follows with history.replaceState.
import { api, pageData } from "../lib/api.js";
import { boxFromServer, Doc, newKey } from "../lib/editor/doc.js";
import { boxAt, clipToImage, moved, sameGeometry } from "../lib/editor/geometry.js";
import { listenToKeys } from "../lib/editor/keys.js";
import * as panels from "../lib/editor/panels.js";
import { Pointer } from "../lib/editor/pointer.js";
import { Renderer } from "../lib/editor/render.js";
import { ImageCache } from "../lib/editor/images.js";
import { Sidebar } from "../lib/editor/sidebar.js";
import { fetchSuggestions, Suggestions } from "../lib/editor/suggestions.js";
import { readEntry, Saver, storageKey, storedEntries } from "../lib/editor/sync.js";
import { View } from "../lib/editor/view.js";

const data = pageData();
const $ = (id) => document.getElementById(id);
const fill = (template, id) => template.replace("{id}", String(id));
const filterQuery = new URLSearchParams(data.filters).toString();
const withFilters = (base) => (filterQuery ? `${base}?${filterQuery}` : base);

const STATUS_TEXT = {
  saved: "Saved",
  unsaved: "Unsaved changes",
  saving: "Saving…",
  offline: "Offline: edits kept in this browser, retrying",
  conflict: "Conflict: choose whose boxes to keep",
  error: "Not saved",
};

// --- State ----------------------------------------------------------------------------

const stage = $("stage");
const view = new View();
const renderer = new Renderer(
  { image: $("layer-image"), boxes: $("layer-boxes"), overlay: $("layer-overlay") },
  view,
);
const cache = new ImageCache(data.api, filterQuery);
const sessions = new Map(); // image id -> {doc, saver}: edits and undo kept all session
const frameTimes = []; // ms spent drawing each frame (for the benchmarks)
let clipboard = [];
let openToken = 0;
let keptEdits = Promise.resolve(); // sending other images' edits kept in this browser
let messageTimer = null;

const editor = {
  doc: null,
  saver: null,
  entry: null,
  image: null,
  view,
  readOnly: !data.can.annotate,
  categories: data.categories,
  currentClass: data.categories.length ? data.categories[0].id : null,
  selected: null, // key of the selected box or suggestion
  lifted: null, // key of the box being dragged (drawn on the overlay)
  hidden: new Set(), // category ids whose boxes are hidden
  hideAll: false,
  spaceDown: false,

  isVisible: (box) => !editor.hideAll && !editor.hidden.has(box.c),
  selectedBox: () =>
    (editor.doc && editor.selected !== null ? editor.doc.find(editor.selected) : null),
  selectedItem: () => editor.selectedBox() || suggestions.selected(),
  // The smallest box or pending suggestion under the point (a box on a tie).
  hitAt(point) {
    const box = boxAt(editor.doc.boxes, point, editor.isVisible);
    const suggestion = boxAt(editor.doc.pending(), point, editor.isVisible);
    if (suggestion && (!box || suggestion.w * suggestion.h < box.w * box.h)) return suggestion;
    return box;
  },
  acceptSuggestion: (item, changes) => suggestions.accept(item, changes, { select: "box" }),
  focusStage: () => stage.focus({ preventScroll: true }),
  select(key) {
    editor.selected = key;
    boxList.select(key);
    suggestions.render();
    editor.redraw({ overlay: true });
  },
  lift(key) {
    editor.lifted = key;
    editor.redraw({ boxes: true });
  },
  commit(boxes, noObjects) {
    if (editor.readOnly || !editor.doc) return;
    editor.doc.commit(boxes, noObjects);
    afterEdit();
  },
  message(text) {
    const node = $("stage-message");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { node.hidden = true; }, 4000);
  },
  redraw: requestRedraw,
};

const pointer = new Pointer($("layer-overlay"), editor);
const boxList = new panels.BoxList($("boxes"), (key) => {
  editor.select(key);
  editor.focusStage();
});
const sidebar = new Sidebar({
  data,
  editor,
  sessionOf: (doc) => sessions.get(doc.imageId),
  afterReplace: () => afterReplace(),
  updateToolbar: () => updateToolbar(),
  refresh: (session) => refresh(session),
  setCategories(list) {
    editor.categories = list;
    classes = categoryById();
    renderClassList();
  },
  nameOf: (id) => nameOf(id),
});
const suggestions = new Suggestions({
  data,
  editor,
  afterEdit: () => afterEdit(),
  afterReplace: () => afterReplace(),
  nameOf: (id) => nameOf(id),
  colorOf: (id) => colorOf(id),
});

// --- Drawing ----------------------------------------------------------------------------

const dirty = { image: false, boxes: false, overlay: false };
let frameRequested = false;
const categoryById = () => new Map(editor.categories.map((c) => [c.id, c]));
let classes = categoryById();
const colorOf = (id) => classes.get(id)?.color || "#ffffff";
const nameOf = (id) => classes.get(id)?.name || `class ${id}`;

function requestRedraw(parts) {
  if (parts.image) dirty.image = true;
  if (parts.boxes) dirty.boxes = true;
  if (parts.overlay) dirty.overlay = true;
  if (parts.zoom) updateZoom();
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(drawFrame);
  }
}

function drawFrame() {
  frameRequested = false;
  const start = performance.now();
  draw();
  frameTimes.push(performance.now() - start);
  if (frameTimes.length > 2000) frameTimes.splice(0, 1000);
}

function draw() {
  if (dirty.image) renderer.drawImage(editor.image);
  if (dirty.boxes && editor.doc) {
    renderer.drawBoxes(editor.doc.boxes, {
      colorOf,
      labelOf: nameOf,
      isVisible: editor.isVisible,
      skip: editor.lifted,
      suggestions: editor.doc.pending(),
    });
  }
  if (dirty.overlay) {
    const selected = editor.selectedItem();
    renderer.drawOverlay({
      ...pointer.overlay(),
      selected: selected && editor.isVisible(selected) ? selected : null,
      showHandles: !editor.readOnly,
      drawColor: colorOf(editor.currentClass),
      colorOf,
      labelOf: nameOf,
    });
  }
  dirty.image = dirty.boxes = dirty.overlay = false;
}

function drawNow() {
  dirty.image = dirty.boxes = dirty.overlay = true;
  draw();
}

function resizeStage() {
  const rect = stage.getBoundingClientRect();
  renderer.resize(rect.width, rect.height);
  view.setStage(rect.width, rect.height);
  updateZoom();
  drawNow();
}

function updateZoom() {
  $("zoom-level").textContent = `${Math.round(view.scale * 100)}%`;
}

// --- Images: fetch ahead, open in place -------------------------------------------------

function sessionFor(imageId, meta, state, pending = null) {
  let session = sessions.get(imageId);
  if (session) return session;
  const doc = new Doc(meta, state, pending || []);
  const saver = new Saver({
    doc,
    url: fill(data.api.annotations, imageId),
    key: storageKey(data.project.id, imageId),
    onStatus: (s) => s === editor.saver && updateToolbar(),
    onConflict: (s) => {
      if (s === editor.saver) sidebar.showConflict();
      else editor.message(`Someone else saved image ${imageId} meanwhile: open it to choose.`);
    },
    onSaved: (s) => s === editor.saver && (updateToolbar(), scheduleLists()),
    onStale: () => suggestions.reconcile(session),
  });
  session = { doc, saver };
  sessions.set(imageId, session);
  const stored = readEntry(saver.key);
  if (stored && !editor.readOnly) saver.restore(stored, state);
  return session;
}

async function open(imageId, options = {}) {
  const { meta = null, state = null, neighbours = null, pending = null } = options;
  const token = ++openToken;
  const entry = cache.get(imageId, { meta, state, neighbours, suggestions: pending });
  let pixels;
  let serverState;
  let imageMeta;
  let listed;
  try {
    [imageMeta, serverState, pixels, listed] = await Promise.all([
      entry.meta, entry.state, entry.image, entry.suggestions,
    ]);
  } catch (error) {
    editor.message(`Could not open image ${imageId}: ${error.message}`);
    return false;
  }
  if (token !== openToken) return false; // another image was asked for meanwhile
  performance.mark("editor:image-loaded");
  const visited = sessions.has(imageId);
  const session = sessionFor(imageId, imageMeta, serverState, listed);
  if (visited) adopt(session, serverState);
  if (visited && listed) session.doc.setSuggestions(listed);
  session.doc.meta = imageMeta;
  Object.assign(editor, { doc: session.doc, saver: session.saver, entry, image: pixels });
  editor.selected = null;
  editor.lifted = null;
  pointer.cancel();
  view.setImage(session.doc.width, session.doc.height);
  updateZoom();
  drawNow();
  performance.mark("editor:first-render");
  performance.measure("editor:open-render", "editor:image-loaded", "editor:first-render");
  requestAnimationFrame(() => {
    performance.mark("editor:first-frame"); // the frame that shows it
    performance.measure("editor:open-frame", "editor:image-loaded", "editor:first-frame");
  });
  if (!pixels) editor.message("The image file could not be loaded; its boxes are shown.");
  history.replaceState(null, "", withFilters(fill(data.urls.annotate, imageId)));
  document.title = `${imageMeta.original_name} · ${data.project.name} · Detection Studio`;
  updateToolbar();
  scheduleLists();
  if (session.saver.status === "conflict") sidebar.showConflict();
  if (entry.fetchedAt && performance.now() - entry.fetchedAt > 2000) refresh(session);
  entry.fetchedAt = performance.now();
  neighboursOf(entry).then((found) => {
    if (token !== openToken) return;
    showPosition(found);
    for (const near of [found.next, found.previous]) {
      if (near) cache.get(near.id, { meta: near });
    }
  }).catch(() => {});
  return true;
}

// A newer state from the server replaces an image's boxes, unless edits are pending
// (their save then meets the version check).
function adopt(session, state) {
  if (session.saver.busy || state.version <= session.doc.version) return;
  session.doc.takeServer(state);
  session.doc.undoStack.pop(); // not an edit of the user's
  session.saver.markClean();
  if (session.doc === editor.doc) afterReplace();
}

// Boxes and suggestions fetched ahead may be old: ask again.
async function refresh(session) {
  const doc = session.doc;
  try {
    const [state, pending] = await Promise.all([
      api(fill(data.api.annotations, doc.imageId)),
      fetchSuggestions(data, doc.imageId),
    ]);
    adopt(session, state);
    if (pending) {
      doc.setSuggestions(pending);
      if (doc === editor.doc) afterReplace();
    }
  } catch {
    /* offline: the version check on the next save still protects both sides */
  }
}

// The neighbours of an image: the server's (grid order under the grid's filter), except
// where the user came from: labeling an image can take it out of the filter
// ("unlabeled"), and "previous" must still lead back to it.
const trail = new Map(); // image id -> {previous?, next?} (image records)

async function neighboursOf(entry) {
  const found = await entry.neighbours;
  return { ...found, ...trail.get(entry.id) };
}

async function go(direction) {
  const entry = editor.entry;
  if (!entry) return;
  performance.mark("editor:switch-start");
  let found;
  try {
    found = await neighboursOf(entry);
  } catch {
    editor.message("Could not find the next image (offline?).");
    return;
  }
  const target = found[direction];
  if (!target) {
    editor.message(direction === "next" ? "This is the last image." : "This is the first image.");
    return;
  }
  const back = direction === "next" ? "previous" : "next";
  trail.set(target.id, { ...trail.get(target.id), [back]: editor.doc.meta });
  trail.set(entry.id, { ...trail.get(entry.id), [direction]: target });
  if (await open(target.id, { meta: target })) {
    performance.mark("editor:switch-done");
    performance.measure("editor:switch", "editor:switch-start", "editor:switch-done");
  }
}

function showPosition(found) {
  $("position").textContent = `${found.position} / ${found.count}`;
  $("prev").disabled = !found.previous;
  $("next").disabled = !found.next;
  const page = Math.max(1, Math.ceil(found.position / data.per_page));
  const query = new URLSearchParams(data.filters);
  if (page > 1) query.set("page", String(page));
  const search = query.toString();
  $("back-to-grid").href = search ? `${data.urls.grid}?${search}` : data.urls.grid;
}

// --- Edits ------------------------------------------------------------------------------

function afterEdit() {
  editor.saver.changed();
  afterReplace();
}

function afterReplace() {
  if (editor.selected !== null && !editor.selectedItem()) editor.selected = null;
  requestRedraw({ boxes: true, overlay: true });
  updateToolbar();
  scheduleLists();
}

function deleteSelected() {
  if (suggestions.selected()) {
    suggestions.rejectSelected();
    return;
  }
  const box = editor.selectedBox();
  if (!box) return;
  editor.commit(editor.doc.boxes.filter((b) => b.k !== box.k));
  editor.select(null);
}

function pickClass(id) {
  if (!classes.has(id)) return;
  editor.currentClass = id;
  const suggestion = suggestions.selected();
  if (suggestion && !editor.readOnly) suggestions.accept(suggestion, { c: id }, { select: "box" });
  const box = editor.selectedBox();
  if (box && box.c !== id && !editor.readOnly) {
    editor.commit(editor.doc.boxes.map((b) => (b.k === box.k ? { ...b, c: id } : b)));
  }
  renderClassList();
  requestRedraw({ overlay: true });
}

function undo(redo = false) {
  if (editor.readOnly || !editor.doc) return;
  if (pointer.cancel()) return;
  if (redo ? editor.doc.redo() : editor.doc.undo()) afterEdit();
}

function copy() {
  const box = editor.selectedItem();
  const boxes = box ? [box] : editor.doc.boxes.filter(editor.isVisible);
  clipboard = boxes.map(({ c, x, y, w, h }) => ({ c, x, y, w, h }));
  editor.message(`Copied ${clipboard.length} box(es).`);
}

function addBoxes(source, what) {
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

async function repeatPrevious() {
  const doc = editor.doc;
  const found = await neighboursOf(editor.entry).catch(() => null);
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
  addBoxes(boxes, "repeated from the previous image");
}

function toggleNoObjects() {
  const doc = editor.doc;
  if (editor.readOnly || !doc) return;
  if (!doc.noObjects && doc.boxes.length) {
    editor.message("Delete the boxes first: an image with no objects has no boxes.");
    updateToolbar();
    return;
  }
  editor.commit(doc.boxes, !doc.noObjects);
}

// --- Toolbar and panels -------------------------------------------------------------------

function updateToolbar() {
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

let listsScheduled = false;
// Lists are built after the canvas is on screen (a frame later): never in its way.
function scheduleLists() {
  if (listsScheduled) return;
  listsScheduled = true;
  requestAnimationFrame(() => setTimeout(() => {
    listsScheduled = false;
    renderClassList();
    renderBoxList();
    suggestions.render();
    if (sidebar.historyOpen()) sidebar.loadHistory(false);
  }, 0));
}

function renderClassList() {
  const counts = new Map();
  for (const box of editor.doc ? editor.doc.boxes : []) {
    counts.set(box.c, (counts.get(box.c) || 0) + 1);
  }
  panels.renderClasses($("classes"), editor.categories, {
    current: editor.currentClass,
    hidden: editor.hidden,
    counts,
    readOnly: false,
  });
}

function renderBoxList() {
  const doc = editor.doc;
  if (!doc) return;
  $("box-count").textContent = doc.noObjects ? "(no objects)" : `(${doc.boxes.length})`;
  boxList.set(doc.boxes, editor.selected, { nameOf, colorOf, isVisible: editor.isVisible });
}

// --- Keyboard -------------------------------------------------------------------------------

const redrawAll = () => requestRedraw({ image: true, boxes: true, overlay: true, zoom: true });
const zoomBy = (steps) => {
  view.zoomBy(steps);
  redrawAll();
};
const ACTIONS = {
  delete: deleteSelected,
  backspace: deleteSelected,
  "ctrl+z": () => undo(false),
  "ctrl+shift+z": () => undo(true),
  "ctrl+y": () => undo(true),
  "ctrl+c": copy,
  "ctrl+v": () => addBoxes(clipboard, "pasted"),
  "ctrl+s": () => sessions.forEach((s) => s.saver.flush()),
  d: () => go("next"),
  arrowright: () => go("next"),
  a: () => go("previous"),
  arrowleft: () => go("previous"),
  "+": () => zoomBy(1),
  "=": () => zoomBy(1),
  "-": () => zoomBy(-1),
  f: () => {
    view.fit();
    redrawAll();
  },
  o: () => {
    view.zoomTo(1);
    redrawAll();
  },
  h: () => { editor.hideAll = !editor.hideAll; afterReplace(); },
  n: toggleNoObjects,
  p: repeatPrevious,
  enter: () => suggestions.acceptSelected(),
  "shift+a": () => suggestions.acceptSelected(),
  "shift+enter": () => suggestions.acceptAll(),
  "shift+x": () => suggestions.rejectSelected(),
  "?": () => { $("help").hidden = !$("help").hidden; },
  escape: () => { if (!pointer.cancel()) editor.select(null); },
};
const EDITING = new Set([
  "delete", "backspace", "ctrl+z", "ctrl+shift+z", "ctrl+y", "ctrl+v", "n", "p",
  "enter", "shift+a", "shift+enter", "shift+x",
]);

// --- Wiring ---------------------------------------------------------------------------------

function wire() {
  listenToKeys({
    actions: ACTIONS,
    classKey: (name) => {
      const category = editor.categories.find((c) => c.shortcut?.toLowerCase() === name);
      return category ? () => pickClass(category.id) : null;
    },
    refused: (name) => editor.readOnly && EDITING.has(name),
    help: $("help"),
    modal: $("conflict"), // the user decides first
    space(down) {
      editor.spaceDown = down;
      stage.style.cursor = down ? "grab" : "";
    },
  });
  new ResizeObserver(resizeStage).observe(stage);
  document.querySelector(".editor-toolbar").addEventListener("click", (event) => {
    if (event.target.closest("button")) editor.focusStage(); // Space pans, never re-clicks
  });
  $("prev").addEventListener("click", () => go("previous"));
  $("next").addEventListener("click", () => go("next"));
  $("zoom-in").addEventListener("click", () => zoomBy(1));
  $("zoom-out").addEventListener("click", () => zoomBy(-1));
  $("zoom-fit").addEventListener("click", ACTIONS.f);
  $("zoom-100").addEventListener("click", ACTIONS.o);
  $("help-open").addEventListener("click", ACTIONS["?"]);
  $("help-close").addEventListener("click", () => { $("help").hidden = true; });
  $("undo")?.addEventListener("click", () => undo(false));
  $("redo")?.addEventListener("click", () => undo(true));
  $("repeat")?.addEventListener("click", repeatPrevious);
  $("no-objects")?.addEventListener("change", toggleNoObjects);
  $("classes").addEventListener("click", (event) => {
    const row = event.target.closest("li[data-category]");
    if (!row) return;
    const id = Number(row.dataset.category);
    if (event.target.classList.contains("class-visible")) {
      if (event.target.checked) editor.hidden.delete(id);
      else editor.hidden.add(id);
      afterReplace();
    } else if (event.target.closest(".class-pick")) {
      pickClass(id);
    }
    editor.focusStage(); // keys go on to the editor (Space must not press the button)
  });
  window.addEventListener("beforeunload", (event) => {
    if ([...sessions.values()].some((s) => s.saver.busy)) event.preventDefault();
  });
  window.addEventListener("pagehide", () => sessions.forEach((s) => s.saver.sendOnExit()));
  window.addEventListener("online", () => sessions.forEach((s) => s.saver.flush()));
  panels.fillHelp($("help-table"));
}

// Edits of other images kept in this browser (offline, then closed): send them now.
async function syncKeptEdits(currentId) {
  if (editor.readOnly) return;
  for (const { imageId } of storedEntries(data.project.id)) {
    if (imageId === currentId || sessions.has(imageId)) continue;
    try {
      const state = await api(fill(data.api.annotations, imageId));
      sessionFor(imageId, { id: imageId }, state, null);
    } catch {
      /* deleted image or offline: the entry waits for the next visit */
    }
  }
}

function hook() {
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
      await keptEdits; // sessions of other images with kept edits exist by then
      await Promise.all([...sessions.values()].map((s) => s.saver.idle()));
    },
    frameTimes: () => frameTimes.slice(),
  };
}

function start() {
  wire();
  const rect = stage.getBoundingClientRect();
  renderer.resize(rect.width, rect.height);
  view.setStage(rect.width, rect.height);
  const first = {
    meta: data.image,
    state: data.state,
    neighbours: data.neighbours,
    pending: data.suggestions,
  };
  const ready = open(data.image.id, first);
  keptEdits = ready.then(() => syncKeptEdits(data.image.id));
  window.__editor = { ...hook(), ready };
}

start();
