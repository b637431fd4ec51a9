// The box editor of one image, and of the images before and after it in the grid's order.
// State: per image a Doc (boxes in original-image pixels, undo/redo) and a Saver
// (autosave, localStorage, conflicts), kept in Sessions (lib/editor/sessions.js); one
// View (zoom and pan) and three canvases, drawn on demand (lib/editor/frames.js).
// The model's pending suggestions of an image come with it and are decided in its Doc
// (lib/editor/suggestions.js).
// Switching image happens in place: the next image (pixels, boxes, neighbours) is
// fetched ahead, so it shows at once; the URL follows with history.replaceState.
// This page holds the shared state (`editor`) and wires the parts together: the commands
// are in lib/editor/edits.js, next/previous in navigation.js, the toolbar and the side
// lists in toolbar.js and lists.js, the test hook window.__editor in hook.js.
import { pageData } from "../lib/api.js";
import { Edits } from "../lib/editor/edits.js";
import { Frames } from "../lib/editor/frames.js";
import { boxAt } from "../lib/editor/geometry.js";
import { testHook } from "../lib/editor/hook.js";
import { ImageCache } from "../lib/editor/images.js";
import { listenToKeys } from "../lib/editor/keys.js";
import { Lists } from "../lib/editor/lists.js";
import { metaOf, Navigation } from "../lib/editor/navigation.js";
import * as panels from "../lib/editor/panels.js";
import { Pointer } from "../lib/editor/pointer.js";
import { Renderer } from "../lib/editor/render.js";
import { Review } from "../lib/editor/review.js";
import { Sessions } from "../lib/editor/sessions.js";
import { Sidebar } from "../lib/editor/sidebar.js";
import { Suggestions } from "../lib/editor/suggestions.js";
import { updateToolbar } from "../lib/editor/toolbar.js";
import { View } from "../lib/editor/view.js";

const data = pageData();
const $ = (id) => document.getElementById(id);
const fill = (template, id) => template.replace("{id}", String(id));
const filterQuery = new URLSearchParams(data.filters).toString();
let pageQuery = filterQuery; // the URL's query: the grid's filters, or the model review's
const withFilters = (base) => (pageQuery ? `${base}?${pageQuery}` : base);

// --- State ----------------------------------------------------------------------------

const stage = $("stage");
const view = new View();
const renderer = new Renderer(
  { image: $("layer-image"), boxes: $("layer-boxes"), overlay: $("layer-overlay") },
  view,
);
const cache = new ImageCache(data.api, filterQuery);
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
  minScore: 0, // pending suggestions below it are not shown (the score slider)
  aboveMinScore: (s) => s.score >= editor.minScore,
  suggestionShown: (s) => editor.isVisible(s) && editor.aboveMinScore(s),
  selectedBox: () =>
    (editor.doc && editor.selected !== null ? editor.doc.find(editor.selected) : null),
  selectedItem: () => editor.selectedBox() || suggestions.selected(),
  // The smallest box or pending suggestion under the point (a box on a tie).
  hitAt(point) {
    const box = boxAt(editor.doc.boxes, point, editor.isVisible);
    const suggestion = boxAt(editor.doc.pending(), point, editor.suggestionShown);
    if (suggestion && (!box || suggestion.w * suggestion.h < box.w * box.h)) return suggestion;
    return box;
  },
  acceptSuggestion: (item, changes) => suggestions.accept(item, changes, { select: "box" }),
  focusStage: () => stage.focus({ preventScroll: true }),
  select(key) {
    editor.selected = key;
    lists.boxList.select(key);
    lists.showClassHint();
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
  redraw: (parts) => frames.request(parts),
};

const categoryById = () => new Map(editor.categories.map((c) => [c.id, c]));
let classes = categoryById();
const colorOf = (id) => classes.get(id)?.color || "#ffffff";
const nameOf = (id) => classes.get(id)?.name || `class ${id}`;

// --- Parts ------------------------------------------------------------------------------

const pointer = new Pointer($("layer-overlay"), editor);
const sidebar = new Sidebar({
  data,
  editor,
  sessionOf: (doc) => sessions.get(doc.imageId),
  afterReplace: () => afterReplace(),
  updateToolbar: () => updateToolbar(editor),
  refresh: (session) => sessions.refresh(session),
  setCategories(list) {
    editor.categories = list;
    classes = categoryById();
    lists.renderClasses();
  },
  nameOf,
});
const suggestions = new Suggestions({
  data,
  editor,
  afterEdit: () => afterEdit(),
  afterReplace: () => afterReplace(),
  nameOf,
  colorOf,
});
const lists = new Lists({ editor, sidebar, suggestions, colorOf, nameOf });
const frames = new Frames({ editor, renderer, pointer, colorOf, nameOf, updateZoom });
const sessions = new Sessions({
  data,
  editor,
  afterReplace: () => afterReplace(),
  updateToolbar: () => updateToolbar(editor),
  scheduleLists: () => lists.schedule(),
  showConflict: () => sidebar.showConflict(),
  reconcile: (session) => suggestions.reconcile(session),
});
const review = new Review({ data, editor });
editor.review = review.active ? review : null;
if (review.active) pageQuery = review.query;
const navigation = new Navigation({ data, editor, review, open });
const edits = new Edits({
  data,
  editor,
  pointer,
  suggestions,
  sessions,
  navigation,
  hasClass: (id) => classes.has(id),
  afterEdit: () => afterEdit(),
  renderClassList: () => lists.renderClasses(),
  updateToolbar: () => updateToolbar(editor),
});

// After an edit of the image shown (saved soon), or after its boxes were replaced.
function afterEdit() {
  editor.saver.changed();
  afterReplace();
}

function afterReplace() {
  if (editor.selected !== null && !editor.selectedItem()) editor.selected = null;
  frames.request({ boxes: true, overlay: true });
  updateToolbar(editor);
  lists.schedule();
}

function resizeStage() {
  const rect = stage.getBoundingClientRect();
  renderer.resize(rect.width, rect.height);
  view.setStage(rect.width, rect.height);
  updateZoom();
  frames.drawNow();
}

function updateZoom() {
  $("zoom-level").textContent = `${Math.round(view.scale * 100)}%`;
}

// --- Images: fetch ahead, open in place -------------------------------------------------

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
  const session = sessions.sessionFor(imageId, imageMeta, serverState, listed);
  if (visited) sessions.adopt(session, serverState);
  if (visited && listed) session.doc.setSuggestions(listed);
  session.doc.meta = imageMeta;
  Object.assign(editor, { doc: session.doc, saver: session.saver, entry, image: pixels });
  editor.selected = null;
  editor.lifted = null;
  pointer.cancel();
  view.setImage(session.doc.width, session.doc.height);
  updateZoom();
  frames.drawNow();
  performance.mark("editor:first-render");
  performance.measure("editor:open-render", "editor:image-loaded", "editor:first-render");
  requestAnimationFrame(() => {
    performance.mark("editor:first-frame"); // the frame that shows it
    performance.measure("editor:open-frame", "editor:image-loaded", "editor:first-frame");
  });
  if (!pixels) editor.message("The image file could not be loaded; its boxes are shown.");
  history.replaceState(null, "", withFilters(fill(data.urls.annotate, imageId)));
  document.title = `${imageMeta.original_name} · ${data.project.name} · Detection Studio`;
  updateToolbar(editor);
  lists.schedule();
  review.describe(imageId);
  if (session.saver.status === "conflict") sidebar.showConflict();
  if (entry.fetchedAt && performance.now() - entry.fetchedAt > 2000) sessions.refresh(session);
  entry.fetchedAt = performance.now();
  navigation.neighboursOf(entry).then((found) => {
    if (token !== openToken) return;
    navigation.showPosition(found);
    for (const near of [found.next, found.previous]) {
      if (near) cache.get(near.id, { meta: metaOf(near) });
    }
  }).catch(() => {});
  return true;
}

// --- Keyboard -------------------------------------------------------------------------------

const redrawAll = () => frames.request({ image: true, boxes: true, overlay: true, zoom: true });
const zoomBy = (steps) => {
  view.zoomBy(steps);
  redrawAll();
};
const go = (direction) => navigation.go(direction);
const ACTIONS = {
  delete: () => edits.deleteSelected(),
  backspace: () => edits.deleteSelected(),
  "ctrl+z": () => edits.undo(false),
  "ctrl+shift+z": () => edits.undo(true),
  "ctrl+y": () => edits.undo(true),
  "ctrl+c": () => edits.copy(),
  "ctrl+v": () => edits.paste(),
  "ctrl+s": () => sessions.flushAll(),
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
  n: () => edits.toggleNoObjects(),
  p: () => edits.repeatPrevious(),
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

// On a narrow screen the side panel is a drawer over the canvas (studio.css).
function toggleSide(open = !$("editor-side").classList.contains("open")) {
  $("editor-side").classList.toggle("open", open);
  $("side-toggle").setAttribute("aria-expanded", String(open));
}

function wire() {
  listenToKeys({
    actions: ACTIONS,
    classKey: (name, shifted) => {
      const category = editor.categories.find((c) => c.shortcut?.toLowerCase() === name);
      if (!category) return null;
      return shifted ? () => edits.setSelectedClass(category.id) : () => edits.pickClass(category.id);
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
  $("side-toggle").addEventListener("click", () => toggleSide()); // a drawer on a phone
  $("side-close").addEventListener("click", () => toggleSide(false));
  $("help-close").addEventListener("click", () => { $("help").hidden = true; });
  $("undo")?.addEventListener("click", () => edits.undo(false));
  $("redo")?.addEventListener("click", () => edits.undo(true));
  $("repeat")?.addEventListener("click", () => edits.repeatPrevious());
  $("no-objects")?.addEventListener("change", () => edits.toggleNoObjects());
  $("classes").addEventListener("click", (event) => {
    const row = event.target.closest("li[data-category]");
    if (!row) return;
    const id = Number(row.dataset.category);
    if (event.target.classList.contains("class-visible")) {
      if (event.target.checked) editor.hidden.delete(id);
      else editor.hidden.add(id);
      afterReplace();
    } else if (event.target.closest(".class-apply")) {
      edits.setSelectedClass(id);
    } else if (event.target.closest(".class-pick")) {
      edits.pickClass(id);
    }
    editor.focusStage(); // keys go on to the editor (Space must not press the button)
  });
  window.addEventListener("beforeunload", (event) => {
    if (sessions.busy()) event.preventDefault();
  });
  window.addEventListener("pagehide", () => sessions.forEach((s) => s.saver.sendOnExit()));
  window.addEventListener("online", () => sessions.flushAll());
  panels.fillHelp($("help-table"));
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
  // Opened from a model's label audit (?suggestion=<id>): that suggestion selected.
  const asked = Number(new URLSearchParams(window.location.search).get("suggestion"));
  const ready = open(data.image.id, first).then((opened) => {
    const item = asked && editor.doc ? editor.doc.pending().find((s) => s.sid === asked) : null;
    if (item) editor.select(item.k);
    return opened;
  });
  keptEdits = ready.then(() => sessions.sendKept(data.image.id));
  const hook = testHook({
    editor,
    view,
    cache,
    sessions,
    suggestions,
    frames,
    review,
    keptEdits: () => keptEdits,
  });
  window.__editor = { ...hook, ready };
}

start();
