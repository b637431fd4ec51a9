// Mouse, pen and touch on the stage: draw, select, move, resize, pan and wheel zoom
// (pointer events: a finger draws, moves and resizes as the mouse does, with a larger
// reach around the handles; the stage has touch-action: none, so no page scroll).
// `editor` (pages/annotate.js) owns the state; this only turns pointer events into edits.
// A model suggestion (dashed) is selected like a box; moving or resizing it accepts it
// with the new geometry ("adjust then accept").
import {
  bigEnough,
  CURSORS,
  handleAt,
  moved,
  rectBetween,
  resized,
  sameGeometry,
} from "./geometry.js";
import { newKey } from "./doc.js";

const CLICK_SLOP = 3; // screen pixels a click may move and stay a click
const TOUCH_REACH = 16; // screen pixels around a handle that a finger still takes

export class Pointer {
  constructor(target, editor) {
    this.target = target;
    this.editor = editor;
    this.drag = null; // {mode: draw|move|resize|pan, ...}
    this.cursor = null; // last screen point over the stage
    target.addEventListener("pointerdown", (e) => this.down(e));
    target.addEventListener("pointermove", (e) => this.move(e));
    target.addEventListener("pointerup", (e) => this.up(e));
    target.addEventListener("pointercancel", () => this.cancel());
    target.addEventListener("pointerleave", () => {
      this.cursor = null;
      editor.redraw({ overlay: true });
    });
    target.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    target.addEventListener("mousedown", (e) => {
      if (e.button === 1) e.preventDefault(); // no autoscroll on middle click
    });
    target.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  point(event) {
    const rect = this.target.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  down(event) {
    const editor = this.editor;
    const doc = editor.doc;
    if (!doc || this.drag) return;
    const screen = this.point(event);
    this.cursor = screen;
    editor.focusStage();
    if (event.button === 1 || (event.button === 0 && editor.spaceDown)) {
      this.drag = { mode: "pan", last: screen };
      this.target.setPointerCapture(event.pointerId);
      this.target.style.cursor = "grabbing";
      return;
    }
    if (event.button !== 0) return;
    const view = editor.view;
    const at = view.toImage(screen.x, screen.y);
    const selected = editor.selectedItem();
    const reach = event.pointerType === "touch" ? TOUCH_REACH : undefined; // a finger
    const handle = selected && !editor.readOnly ? handleAt(selected, at, view, reach) : null;
    if (handle) {
      this.drag = { mode: "resize", handle, box: selected, live: selected, start: screen };
    } else {
      const forceDraw = event.shiftKey && !editor.readOnly;
      const hit = forceDraw ? null : editor.hitAt(at);
      if (hit) {
        editor.select(hit.k);
        if (editor.readOnly) return;
        this.drag = { mode: "move", box: hit, live: hit, from: at, start: screen };
      } else {
        editor.select(null);
        if (editor.readOnly) return;
        if (editor.currentClass === null) {
          editor.message("Add a class to the project first (on the project page).");
          return;
        }
        this.drag = { mode: "draw", from: at, to: at, start: screen };
      }
    }
    this.target.setPointerCapture(event.pointerId);
    if (this.drag.mode !== "draw") editor.lift(this.drag.box.k);
    editor.redraw({ overlay: true });
  }

  move(event) {
    const editor = this.editor;
    const doc = editor.doc;
    if (!doc) return;
    const screen = this.point(event);
    this.cursor = screen;
    const drag = this.drag;
    const view = editor.view;
    if (!drag) {
      this.hover(screen);
      editor.redraw({ overlay: true });
      return;
    }
    if (drag.mode === "pan") {
      view.panBy(screen.x - drag.last.x, screen.y - drag.last.y);
      drag.last = screen;
      editor.redraw({ image: true, boxes: true, overlay: true });
      return;
    }
    const at = view.toImage(screen.x, screen.y);
    if (drag.mode === "draw") {
      drag.to = at;
    } else if (drag.mode === "move") {
      drag.live = moved(drag.box, at.x - drag.from.x, at.y - drag.from.y, doc.width, doc.height);
    } else if (drag.mode === "resize") {
      drag.live = resized(drag.box, drag.handle, at, doc.width, doc.height);
    }
    editor.redraw({ overlay: true });
  }

  up(event) {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    if (this.target.hasPointerCapture(event.pointerId)) {
      this.target.releasePointerCapture(event.pointerId);
    }
    const editor = this.editor;
    const doc = editor.doc;
    const screen = this.point(event);
    const travelled = drag.start
      ? Math.hypot(screen.x - drag.start.x, screen.y - drag.start.y) > CLICK_SLOP
      : true;
    if (drag.mode === "pan") {
      this.hover(screen);
    } else if (drag.mode === "draw") {
      const rect = rectBetween(drag.from, drag.to, doc.width, doc.height);
      if (travelled && bigEnough(rect)) {
        const box = { k: newKey(), id: null, c: editor.currentClass, ...rect };
        editor.commit([...doc.boxes, box], false);
        editor.select(box.k);
      } else if (travelled) {
        editor.message("Boxes smaller than 2×2 image pixels are not kept.");
      }
    } else if (travelled && !sameGeometry(drag.live, drag.box)) {
      const live = drag.live;
      if (drag.box.sid !== undefined) {
        const { x, y, w, h } = live;
        editor.acceptSuggestion(drag.box, { x, y, w, h });
      } else {
        editor.commit(doc.boxes.map((b) => (b.k === live.k ? live : b)));
      }
    }
    editor.lift(null);
    editor.redraw({ boxes: true, overlay: true });
  }

  cancel() {
    if (!this.drag) return false;
    this.drag = null;
    this.editor.lift(null);
    this.editor.redraw({ boxes: true, overlay: true });
    return true;
  }

  wheel(event) {
    event.preventDefault();
    const screen = this.point(event);
    const steps = Math.max(-3, Math.min(3, -event.deltaY / 100));
    this.editor.view.zoomBy(steps, screen.x, screen.y);
    this.editor.redraw({ image: true, boxes: true, overlay: true, zoom: true });
  }

  hover(screen) {
    const editor = this.editor;
    let cursor = editor.readOnly ? "default" : "crosshair";
    if (editor.spaceDown) {
      cursor = "grab";
    } else if (editor.doc) {
      const at = editor.view.toImage(screen.x, screen.y);
      const selected = editor.selectedItem();
      const handle = selected && !editor.readOnly ? handleAt(selected, at, editor.view) : null;
      if (handle) cursor = CURSORS[handle];
      else if (editor.hitAt(at)) {
        cursor = editor.readOnly ? "pointer" : "move";
      }
    }
    this.target.style.cursor = cursor;
  }

  // What the overlay shows of the pointer: the box being drawn or dragged, the crosshair.
  overlay() {
    const drag = this.drag;
    const editor = this.editor;
    const doc = editor.doc;
    const state = { cursor: this.cursor, crosshair: false, drawing: null, live: null };
    if (!doc) return state;
    state.crosshair = !editor.readOnly && (!drag || drag.mode === "draw") && !editor.spaceDown;
    if (drag && drag.mode === "draw") {
      state.drawing = rectBetween(drag.from, drag.to, doc.width, doc.height);
    }
    if (drag && (drag.mode === "move" || drag.mode === "resize")) state.live = drag.live;
    return state;
  }
}
