// Drawing on demand: what changed is marked dirty and drawn once, in the next animation
// frame, and the time each frame took is kept (for the benchmarks: window.__editor).
// `page` is the editor page's context (pages/annotate.js):
// {editor, renderer, pointer, colorOf(id), nameOf(id), updateZoom()}.

export class Frames {
  constructor(page) {
    this.page = page;
    this.dirty = { image: false, boxes: false, overlay: false };
    this.requested = false;
    this.times = []; // ms spent drawing each frame
  }

  // parts: {image, boxes, overlay, zoom} (true for each to draw again)
  request(parts) {
    const dirty = this.dirty;
    if (parts.image) dirty.image = true;
    if (parts.boxes) dirty.boxes = true;
    if (parts.overlay) dirty.overlay = true;
    if (parts.zoom) this.page.updateZoom();
    if (!this.requested) {
      this.requested = true;
      requestAnimationFrame(() => this.frame());
    }
  }

  frame() {
    this.requested = false;
    const start = performance.now();
    this.draw();
    this.times.push(performance.now() - start);
    if (this.times.length > 2000) this.times.splice(0, 1000);
  }

  draw() {
    const { editor, renderer, pointer, colorOf, nameOf } = this.page;
    const dirty = this.dirty;
    if (dirty.image) renderer.drawImage(editor.image);
    if (dirty.boxes && editor.doc) {
      renderer.drawBoxes(editor.doc.boxes, {
        colorOf,
        labelOf: nameOf,
        isVisible: editor.isVisible,
        skip: editor.lifted,
        suggestions: editor.doc.pending().filter(editor.aboveMinScore),
        review: editor.review ? editor.review.overlay(editor.doc.imageId) : null,
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

  // Everything, at once (a new image, a new stage size).
  drawNow() {
    const dirty = this.dirty;
    dirty.image = dirty.boxes = dirty.overlay = true;
    this.draw();
  }
}
