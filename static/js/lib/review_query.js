// A model review's threshold and error filter in a URL query, so that the model page and
// the editor it opens agree on the errors: the gallery's links carry it into the editor
// (whose next/previous walk the same errors) and the editor's link carries it back.
//   threshold=0.45  class_threshold=RBC:0.6 (repeated)  error_kind=fp  error_class=2
//   error=fp:3:-1 (the error clicked: its kind, detection index, gt box index)
import { KINDS } from "./evaluation.js";

const inUnit = (text) => {
  const value = Number(text);
  return text !== null && text !== "" && Number.isFinite(value) && value >= 0 && value <= 1
    ? value
    : null;
};

export function toQuery({ threshold, classThresholds = {}, kind = "", categoryId = null, error = null }) {
  const query = new URLSearchParams();
  query.set("threshold", String(threshold));
  for (const [name, value] of Object.entries(classThresholds)) query.append("class_threshold", `${name}:${value}`);
  if (kind) query.set("error_kind", kind);
  if (categoryId !== null) query.set("error_class", String(categoryId));
  if (error) query.set("error", `${error.kind}:${error.det}:${error.gt}`);
  return query;
}

// What a query says (anything malformed is left out: the defaults apply).
export function fromQuery(search) {
  const query = new URLSearchParams(search);
  const classThresholds = {};
  for (const item of query.getAll("class_threshold")) {
    const at = item.lastIndexOf(":");
    const value = at > 0 ? inUnit(item.slice(at + 1)) : null;
    if (value !== null) classThresholds[item.slice(0, at)] = value;
  }
  const kind = KINDS.includes(query.get("error_kind")) ? query.get("error_kind") : "";
  const categoryText = query.get("error_class");
  const categoryId = /^\d+$/.test(categoryText || "") ? Number(categoryText) : null;
  let error = null;
  const parts = (query.get("error") || "").split(":");
  if (parts.length === 3 && KINDS.includes(parts[0]) && parts.slice(1).every((p) => /^-?\d+$/.test(p))) {
    error = { kind: parts[0], det: Number(parts[1]), gt: Number(parts[2]) };
  }
  return { threshold: inUnit(query.get("threshold")), classThresholds, kind, categoryId, error };
}
