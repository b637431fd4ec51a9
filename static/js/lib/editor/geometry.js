// Box geometry in original-image pixels: clamping, hit tests, moves and resizes.
// A box is a plain, never-mutated object {k, id, c, x, y, w, h} (k: the editor's key,
// id: the server's id or null, c: category id); every change makes a new object.

export const MIN_SIZE = 2; // image pixels: smaller drawn boxes are discarded
export const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];

export const round2 = (value) => Math.round(value * 100) / 100;
const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

export function clampPoint(point, width, height) {
  return { x: clamp(point.x, 0, width), y: clamp(point.y, 0, height) };
}

// The rectangle between two points, clamped to the image, coordinates rounded.
export function rectBetween(a, b, width, height) {
  const p = clampPoint(a, width, height);
  const q = clampPoint(b, width, height);
  const x = round2(Math.min(p.x, q.x));
  const y = round2(Math.min(p.y, q.y));
  return { x, y, w: round2(Math.max(p.x, q.x) - x), h: round2(Math.max(p.y, q.y) - y) };
}

export const bigEnough = (rect) => rect.w >= MIN_SIZE && rect.h >= MIN_SIZE;

// The box clipped to the image (for pasted or repeated boxes); null when nothing is left.
export function clipToImage(box, width, height) {
  const x = clamp(box.x, 0, width);
  const y = clamp(box.y, 0, height);
  const w = round2(clamp(box.x + box.w, 0, width) - x);
  const h = round2(clamp(box.y + box.h, 0, height) - y);
  if (w < MIN_SIZE || h < MIN_SIZE) return null;
  return { ...box, x: round2(x), y: round2(y), w, h };
}

export function contains(box, point) {
  const { x, y } = point;
  return x >= box.x && x <= box.x + box.w && y >= box.y && y <= box.y + box.h;
}

// The smallest visible box under the point (so a box inside another stays reachable).
export function boxAt(boxes, point, isVisible) {
  let best = null;
  for (const box of boxes) {
    if (!isVisible(box) || !contains(box, point)) continue;
    if (best === null || box.w * box.h < best.w * best.h) best = box;
  }
  return best;
}

export function handlePoints(box) {
  const { x, y, w, h } = box;
  const mx = x + w / 2;
  const my = y + h / 2;
  return {
    nw: [x, y], n: [mx, y], ne: [x + w, y], e: [x + w, my],
    se: [x + w, y + h], s: [mx, y + h], sw: [x, y + h], w: [x, my],
  };
}

// The handle of the box within `radius` screen pixels of the point (view: image -> screen).
export function handleAt(box, point, view, radius = 7) {
  const points = handlePoints(box);
  const limit = radius / view.scale;
  for (const name of HANDLES) {
    const [hx, hy] = points[name];
    if (Math.abs(point.x - hx) <= limit && Math.abs(point.y - hy) <= limit) return name;
  }
  return null;
}

// The box moved by (dx, dy) image pixels, kept whole inside the image.
export function moved(box, dx, dy, width, height) {
  const x = round2(clamp(box.x + dx, 0, width - box.w));
  const y = round2(clamp(box.y + dy, 0, height - box.h));
  return { ...box, x, y };
}

// The box with one handle dragged to the point, clamped, at least MIN_SIZE wide and high.
export function resized(box, handle, point, width, height) {
  const p = clampPoint(point, width, height);
  let x1 = box.x;
  let y1 = box.y;
  let x2 = box.x + box.w;
  let y2 = box.y + box.h;
  if (handle.includes("w")) x1 = Math.min(p.x, x2 - MIN_SIZE);
  if (handle.includes("e")) x2 = Math.max(p.x, x1 + MIN_SIZE);
  if (handle.includes("n")) y1 = Math.min(p.y, y2 - MIN_SIZE);
  if (handle.includes("s")) y2 = Math.max(p.y, y1 + MIN_SIZE);
  x1 = round2(Math.max(x1, 0));
  y1 = round2(Math.max(y1, 0));
  const w = round2(Math.min(x2, width) - x1);
  const h = round2(Math.min(y2, height) - y1);
  return { ...box, x: x1, y: y1, w, h };
}

export const CURSORS = {
  nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize",
  n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize",
};

export const sameGeometry = (a, b) =>
  a.c === b.c && a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h;
