// Every shortcut of the box editor: the help overlay lists this table, the page acts on
// the same names. The single keys here are refused as class shortcuts by the server
// (EDITOR_KEYS in labeling/categories.py): keep the two in step. Shift + a letter has
// its own name ("shift+a"); without an action of its own it acts as the letter alone.

export const SHORTCUTS = [
  ["Drag on the image", "draw a box (of the selected class)"],
  ["Shift + drag", "draw a box even over other boxes"],
  ["Drag inside a box", "select and move it"],
  ["Drag a handle", "resize the selected box (8 handles)"],
  ["Click a box", "select it (the smallest box under the pointer)"],
  ["1 … 9 (or the class's key)", "choose the class; changes the selected box's class"],
  ["Delete / Backspace", "delete the selected box (reject the selected suggestion)"],
  ["Ctrl+Z", "undo"],
  ["Ctrl+Shift+Z / Ctrl+Y", "redo"],
  ["Ctrl+C / Ctrl+V", "copy the selected box (all boxes when none is selected) / paste"],
  ["Dashed box", "a model's suggestion with its score: not a box until accepted"],
  ["Enter or Shift+A", "accept the selected suggestion (none selected: select the best one)"],
  ["Shift+Enter", "accept every suggestion shown"],
  ["Shift+X (or Delete)", "reject the selected suggestion"],
  ["Drag, resize or class key", "on a suggestion: accept it adjusted"],
  ["P", "repeat the previous image's boxes here"],
  ["N", "mark / unmark the image as having no objects"],
  ["H", "hide / show all boxes"],
  ["D or →", "next image (in the grid's order and filter)"],
  ["A or ←", "previous image"],
  ["Wheel, + / −", "zoom in / out (up to 1600%)"],
  ["F", "fit the image"],
  ["O", "original size (100%)"],
  ["Space + drag, or middle mouse drag", "pan"],
  ["Escape", "cancel the box being drawn, deselect, close a panel"],
  ["Ctrl+S", "save now (also retries at once when offline)"],
  ["?", "this help"],
];

// A keyboard event as one name: "ctrl+shift+z", "delete", "a", "?", "arrowright".
export function keyName(event) {
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  const key = event.key.toLowerCase();
  if (event.shiftKey && (parts.length || key.length > 1 || /^[a-z]$/.test(key))) {
    parts.push("shift");
  }
  parts.push(key === " " ? "space" : key);
  return parts.join("+");
}

// Keys anywhere on the page (not while typing in a field) to the editor's actions.
// options: {actions: {name: fn}, classKey(name) -> fn or null, refused(name) -> bool,
//           help: the help overlay, modal: an overlay that blocks keys, space(down)}
export function listenToKeys({ actions, classKey, refused, help, modal, space }) {
  window.addEventListener("keydown", (event) => {
    const target = event.target;
    const name = keyName(event);
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (name === "escape") target.blur();
      return;
    }
    if (name === "enter" && target.closest && target.closest("button, a, summary")) return;
    if (!help.hidden) {
      if (name === "escape" || name === "?") help.hidden = true;
      return;
    }
    if (!modal.hidden) return;
    if (name === "ctrl+c" && String(window.getSelection())) return; // copying page text
    if (name === "space") {
      event.preventDefault(); // no scrolling, no button press
      space(true);
      return;
    }
    const find = (n) => actions[n] || (n.length === 1 ? classKey(n) : null);
    const plain = /^shift\+[a-z]$/.test(name) ? name.slice(6) : null;
    const used = find(name) || !plain ? name : plain;
    const action = find(used);
    if (!action || refused(used)) return;
    event.preventDefault();
    action();
  });
  window.addEventListener("keyup", (event) => {
    if (event.key === " ") space(false);
  });
}
