// Drawing on three stacked canvases, so that each frame redraws only what changed:
//   image   - the picture (on zoom and pan),
//   boxes   - every box but the one being dragged (on edits, zoom and pan), and the
//             model's pending suggestions, dashed, labelled with their score,
//   overlay - the selection and its handles, the dragged or drawn box, the crosshair
//             (on every pointer move: O(1) whatever the number of boxes).
import { handlePoints, HANDLES } from "./geometry.js";

const LABELS_UP_TO = 100; // boxes: above that, class names only on the selected box

// "RBC 0.83": a suggestion's class and score.
export const suggestionLabel = (s, labelOf) => `${labelOf(s.c)} ${s.score.toFixed(2)}`;

export class Renderer {
  constructor(canvases, view) {
    this.canvases = canvases;
    this.view = view;
    this.ctx = Object.fromEntries(
      Object.entries(canvases).map(([name, canvas]) => [name, canvas.getContext("2d")]),
    );
    this.dpr = 1;
  }

  resize(width, height) {
    this.dpr = window.devicePixelRatio || 1;
    for (const canvas of Object.values(this.canvases)) {
      canvas.width = Math.max(1, Math.round(width * this.dpr));
      canvas.height = Math.max(1, Math.round(height * this.dpr));
    }
  }

  _begin(name) {
    const ctx = this.ctx[name];
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.view.width, this.view.height);
    return ctx;
  }

  drawImage(image) {
    const ctx = this._begin("image");
    if (!image) return;
    const { scale, ox, oy, imageWidth, imageHeight } = this.view;
    ctx.imageSmoothingEnabled = scale < 2; // show the pixels when zoomed in
    ctx.drawImage(image, ox, oy, imageWidth * scale, imageHeight * scale);
  }

  // boxes: the image's boxes; skip: key of a box drawn on the overlay instead;
  // suggestions: the pending ones (box-like, with `score`), drawn dashed.
  // review: the model's detections and the error highlighted (lib/editor/review.js
  // overlay()), or null.
  drawBoxes(boxes, { colorOf, isVisible, labelOf, skip = null, suggestions = [], review = null }) {
    const ctx = this._begin("boxes");
    const { scale, ox, oy } = this.view;
    const groups = new Map();
    for (const box of boxes) {
      if (box.k === skip || !isVisible(box)) continue;
      const color = colorOf(box.c);
      if (!groups.has(color)) groups.set(color, []);
      groups.get(color).push(box);
    }
    // One strokeRect per box (one path of 500 rectangles strokes 3x slower in software
    // rendering); no fill, which costs the frame there too.
    ctx.lineWidth = 2;
    for (const [color, group] of groups) {
      ctx.strokeStyle = color;
      for (const box of group) {
        ctx.strokeRect(box.x * scale + ox, box.y * scale + oy, box.w * scale, box.h * scale);
      }
    }
    if (boxes.length <= LABELS_UP_TO) {
      ctx.font = "12px system-ui, sans-serif";
      for (const group of groups.values()) {
        for (const box of group) this._label(ctx, box, labelOf(box.c), colorOf(box.c));
      }
    }
    this._suggestions(ctx, suggestions, { colorOf, isVisible, labelOf, skip });
    if (review) this._review(ctx, review);
  }

  // A model's detections under review: finely dashed, labelled with class and score; the
  // error highlighted: a thick orange frame with what it is.
  _review(ctx, { detections, focus, colorOf }) {
    const { scale, ox, oy } = this.view;
    const rect = (b) => [b.x * scale + ox, b.y * scale + oy, b.w * scale, b.h * scale];
    ctx.lineWidth = 1.5;
    ctx.setLineDash([3, 3]);
    for (const d of detections) {
      ctx.strokeStyle = colorOf(d.c);
      ctx.strokeRect(...rect(d));
    }
    ctx.setLineDash([]);
    ctx.font = "12px system-ui, sans-serif";
    if (detections.length <= LABELS_UP_TO) {
      for (const d of detections) this._label(ctx, d, d.label, "rgba(29,35,48,.75)");
    }
    if (!focus) return;
    const [x, y, w, h] = rect(focus);
    ctx.lineWidth = 4;
    ctx.strokeStyle = focus.color;
    ctx.strokeRect(x - 3, y - 3, w + 6, h + 6);
    // the label just under the frame
    this._label(ctx, { x: focus.x, y: focus.y + focus.h + 20 / scale }, focus.label, focus.color);
  }

  _suggestions(ctx, suggestions, { colorOf, isVisible, labelOf, skip }) {
    const { scale, ox, oy } = this.view;
    const shown = suggestions.filter((s) => s.k !== skip && isVisible(s));
    if (!shown.length) return;
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    for (const s of shown) {
      ctx.strokeStyle = colorOf(s.c);
      ctx.strokeRect(s.x * scale + ox, s.y * scale + oy, s.w * scale, s.h * scale);
    }
    ctx.setLineDash([]);
    if (shown.length <= LABELS_UP_TO) {
      ctx.font = "12px system-ui, sans-serif";
      ctx.globalAlpha = 0.8;
      for (const s of shown) this._label(ctx, s, suggestionLabel(s, labelOf), colorOf(s.c));
      ctx.globalAlpha = 1;
    }
  }

  _label(ctx, box, text, color) {
    const { scale, ox, oy } = this.view;
    const x = box.x * scale + ox;
    const y = box.y * scale + oy;
    const width = ctx.measureText(text).width + 6;
    const top = y >= 16 ? y - 16 : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - 1, top, width, 16);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 2, top + 12);
  }

  // state: {selected, live (dragged box), drawing (rect), cursor (screen point), crosshair,
  //         showHandles, colorOf, labelOf}
  drawOverlay(state) {
    const ctx = this._begin("overlay");
    const { scale, ox, oy, width, height } = this.view;
    const toRect = (b) => [b.x * scale + ox, b.y * scale + oy, b.w * scale, b.h * scale];
    if (state.crosshair && state.cursor) {
      ctx.strokeStyle = "rgba(255,255,255,.7)";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(0, Math.round(state.cursor.y) + 0.5);
      ctx.lineTo(width, Math.round(state.cursor.y) + 0.5);
      ctx.moveTo(Math.round(state.cursor.x) + 0.5, 0);
      ctx.lineTo(Math.round(state.cursor.x) + 0.5, height);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (state.drawing) {
      ctx.strokeStyle = state.drawColor || "#fff";
      ctx.lineWidth = 2;
      ctx.strokeRect(...toRect(state.drawing));
    }
    const box = state.live || state.selected;
    if (!box) return;
    const color = state.colorOf(box.c);
    const rect = toRect(box);
    const suggestion = box.sid !== undefined; // a model suggestion: stays dashed
    ctx.fillStyle = `${color}44`;
    ctx.fillRect(...rect);
    ctx.lineWidth = 3;
    ctx.strokeStyle = color;
    if (suggestion) ctx.setLineDash([6, 4]);
    ctx.strokeRect(...rect);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(rect[0] - 2, rect[1] - 2, rect[2] + 4, rect[3] + 4);
    ctx.setLineDash([]);
    ctx.font = "12px system-ui, sans-serif";
    const text = suggestion ? suggestionLabel(box, state.labelOf) : state.labelOf(box.c);
    this._label(ctx, box, text, color);
    if (!state.showHandles) return;
    const points = handlePoints(box);
    ctx.fillStyle = "#fff";
    ctx.strokeStyle = "#1d2330";
    for (const name of HANDLES) {
      const [hx, hy] = points[name];
      const sx = hx * scale + ox;
      const sy = hy * scale + oy;
      ctx.fillRect(sx - 4, sy - 4, 8, 8);
      ctx.strokeRect(sx - 4, sy - 4, 8, 8);
    }
  }
}
