// The model page's arithmetic, done in the browser so the threshold slider needs no server.
// Mirrors training/ml/evaluate.py: iou() is iou_matrix() and classify() is
// classify_detections(), operation for operation (a browser test checks they agree).

export const ERROR_IOU = 0.5;
export const POOR_LOCALISATION_IOU = 0.1;
export const KINDS = ["fp", "fn", "wrong_class", "poor_localisation"];

// The evaluated threshold nearest to `value` (the lower one on a tie).
export function nearestIndex(thresholds, value) {
  let best = 0;
  for (let i = 1; i < thresholds.length; i += 1) {
    if (Math.abs(thresholds[i] - value) < Math.abs(thresholds[best] - value)) best = i;
  }
  return best;
}

// IoU of a box and a gt box, both [x1, y1, x2, y2, ...].
export function iou(box, gt) {
  const w = Math.max(Math.min(box[2], gt[2]) - Math.max(box[0], gt[0]), 0);
  const h = Math.max(Math.min(box[3], gt[3]) - Math.max(box[1], gt[1]), 0);
  const inter = w * h;
  const areaBox = (box[2] - box[0]) * (box[3] - box[1]);
  const areaGt = (gt[2] - gt[0]) * (gt[3] - gt[1]);
  const union = areaBox + areaGt - inter;
  return union > 0 ? inter / union : 0;
}

// One stored image ({id, width, height, gt: [[x1, y1, x2, y2, cat]], det: [[x1, y1, x2, y2,
// score, cat]]}) with its IoU matrix, computed once (it does not depend on the threshold).
export function prepareImage(image) {
  const ious = image.det.map((d) => image.gt.map((g) => iou(d, g)));
  return { ...image, ious };
}

function best(image, p, taken, accept) {
  let found = -1;
  const row = image.ious[p];
  for (let g = 0; g < image.gt.length; g += 1) {
    if (taken[g] || !accept(g, row[g])) continue;
    if (found < 0 || row[g] > row[found]) found = g;
  }
  return found;
}

// The error gallery's rules for the detections kept at thresholdOf(category id):
// {tp: [[p, g]], wrong_class: [[p, g]], poor_localisation: [[p, g]], fp: [p], fn: [g]}.
export function classify(image, thresholdOf) {
  const taken = new Array(image.gt.length).fill(false);
  const out = { tp: [], wrong_class: [], poor_localisation: [], fp: [], fn: [] };
  const rest = [];
  image.det.forEach((d, p) => {
    if (d[4] < thresholdOf(d[5])) return;
    const g = best(image, p, taken, (j, v) => v >= ERROR_IOU && image.gt[j][4] === d[5]);
    if (g >= 0) {
      taken[g] = true;
      out.tp.push([p, g]);
    } else {
      rest.push(p);
    }
  });
  for (const p of rest) {
    const cat = image.det[p][5];
    let kind = "wrong_class";
    let g = best(image, p, taken, (j, v) => v >= ERROR_IOU && image.gt[j][4] !== cat);
    if (g < 0) {
      kind = "poor_localisation";
      g = best(image, p, taken, (j, v) => v >= POOR_LOCALISATION_IOU && image.gt[j][4] === cat);
    }
    if (g < 0) {
      out.fp.push(p);
    } else {
      taken[g] = true;
      out[kind].push([p, g]);
    }
  }
  image.gt.forEach((_, g) => { if (!taken[g]) out.fn.push(g); });
  return out;
}

export function errorCount(found) {
  return found.fp.length + found.fn.length + found.wrong_class.length + found.poor_localisation.length;
}

// Every error of a classified image as {kind, classes, det, gt} (det/gt: the indexes of
// the detection and of the gt box concerned, -1 for none), in the gallery's order.
export function errorsOf(image, found) {
  const list = [];
  const det = (p) => image.det[p][5];
  const gt = (g) => image.gt[g][4];
  for (const p of found.fp) list.push({ kind: "fp", classes: [det(p)], det: p, gt: -1 });
  for (const g of found.fn) list.push({ kind: "fn", classes: [gt(g)], det: -1, gt: g });
  for (const kind of ["wrong_class", "poor_localisation"]) {
    for (const [p, g] of found[kind]) list.push({ kind, classes: [det(p), gt(g)], det: p, gt: g });
  }
  return list;
}

// Whether an error passes the gallery's filter ({kind: "" or a kind, categoryId: null or
// a category id of the report}).
export function errorMatches(error, { kind = "", categoryId = null } = {}) {
  return (!kind || error.kind === kind) && (categoryId === null || error.classes.includes(categoryId));
}

// The error gallery of classified images ([{image, found}]): those with an error passing
// the filter, worst first (most matching errors, then most errors; ties keep the report's
// order), as {image, found, matching}. The model page shows them; the editor walks them.
export function gallery(classified, filter = {}) {
  return classified
    .map((entry) => {
      const matching = errorsOf(entry.image, entry.found).filter((e) => errorMatches(e, filter)).length;
      return { ...entry, matching };
    })
    .filter((entry) => entry.matching > 0)
    .sort((a, b) => b.matching - a.matching || errorCount(b.found) - errorCount(a.found));
}

// Precision, recall and F1 from counts, as evaluate.py's _counts().
export function fromCounts(tp, fp, fn) {
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, tp, fp, fn };
}

// One column of a sweep table ({precision: [...], recall: [...], ...}) as a row.
export function rowAt(table, index) {
  const row = {};
  for (const key of ["precision", "recall", "f1", "tp", "fp", "fn"]) row[key] = table[key][index];
  return row;
}

// Overall figures of per-class rows taken at different thresholds: class-aware matching
// makes each class independent of the others, so the counts add up.
export function combine(rows) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const row of rows) {
    tp += row.tp;
    fp += row.fp;
    fn += row.fn;
  }
  return fromCounts(tp, fp, fn);
}

// Confusion matrix (rows: gt classes then background; columns: predictions) of
// classified images, as evaluate.py's _errors_and_confusion().
export function confusion(classified, categoryIds) {
  const index = new Map(categoryIds.map((id, i) => [id, i]));
  const bg = categoryIds.length;
  const matrix = Array.from({ length: bg + 1 }, () => new Array(bg + 1).fill(0));
  for (const { image, found } of classified) {
    const gtCat = (g) => index.get(image.gt[g][4]);
    const detCat = (p) => index.get(image.det[p][5]);
    for (const [p, g] of [...found.tp, ...found.wrong_class]) matrix[gtCat(g)][detCat(p)] += 1;
    for (const [p, g] of found.poor_localisation) {
      matrix[bg][detCat(p)] += 1;
      matrix[gtCat(g)][bg] += 1;
    }
    for (const p of found.fp) matrix[bg][detCat(p)] += 1;
    for (const g of found.fn) matrix[gtCat(g)][bg] += 1;
  }
  return matrix;
}

export function fmt(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
}

const PALETTE = ["#2f6fed", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#a8c256", "#db3a8a", "#4c5b61"];

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}
