// Every shortcut of the box editor: the help overlay lists this table, the page acts on
// the same names. The single keys here are refused as class shortcuts by the server
// (EDITOR_KEYS in labeling/categories.py): keep the two in step. Shift + a letter or a
// digit has its own name ("shift+a", "shift+2"); Shift + a class's key changes the
// selected box's class, and Shift + another key without an action of its own acts as
// the key alone.

export const SHORTCUTS = [
  ["Drag on the image", "draw a box (of the selected class)"],
  ["Shift + drag", "draw a box even over other boxes"],
  ["Drag inside a box", "select and move it"],
  ["Drag a handle", "resize the selected box (8 handles)"],
  ["Click a box", "select it (the smallest box under the pointer)"],
  ["1 … 9 (or the class's key)", "choose the class of the next box (the boxes keep theirs)"],
  ["Shift + class key", "change the selected box's class (or its → box button in the list)"],
  ["Delete / Backspace", "delete the selected box (reject the selected suggestion)"],
  ["Ctrl+Z", "undo"],
  ["Ctrl+Shift+Z / Ctrl+Y", "redo"],
  ["Ctrl+C / Ctrl+V", "copy the selected box (all boxes when none is selected) / paste"],
  ["Dashed box", "a model's suggestion with its score: not a box until accepted"],
  ["Enter or Shift+A", "accept the selected suggestion (none selected: select the best one)"],
  ["Shift+Enter", "accept every suggestion shown"],
  ["Shift+X (or Delete)", "reject the selected suggestion"],
  ["Drag, resize or Shift + class key", "on a suggestion: accept it adjusted"],
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

// A keyboard event as one name: "ctrl+shift+z", "delete", "a", "?", "arrowright",
// "shift+2" (Shift + the digit key, whatever character the layout gives it).
export function keyName(event) {
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  let key = event.key.toLowerCase();
  let named = /^[a-z]$/.test(key); // Shift + a letter: a name of its own
  const digit = /^(?:Digit|Numpad)(\d)$/.exec(event.code || "");
  if (event.shiftKey && digit && !/^[a-z0-9]$/.test(key)) {
    key = digit[1]; // "!" on a US keyboard (where the digit itself needs no Shift)
    named = true;
  }
  if (event.shiftKey && (parts.length || key.length > 1 || named)) {
    parts.push("shift");
  }
  parts.push(key === " " ? "space" : key);
  return parts.join("+");
}

// Keys anywhere on the page (not while typing in a field) to the editor's actions.
// options: {actions: {name: fn}, classKey(name, shifted) -> fn or null,
//           refused(name) -> bool,
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
    const shifted = /^shift\+.$/.test(name) ? name.slice(6) : null;
    let used = name;
    let action = actions[name] || (name.length === 1 ? classKey(name, false) : null);
    if (!action && shifted) {
      used = shifted;
      action = classKey(shifted, true) || actions[shifted];
    }
    if (!action || refused(used)) return;
    event.preventDefault();
    action();
  });
  window.addEventListener("keyup", (event) => {
    if (event.key === " ") space(false);
  });
}
