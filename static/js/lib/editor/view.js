// The view transform: screen (CSS pixels of the stage) = image pixels * scale + offset.

export const MAX_SCALE = 16;
const STEP = 1.25;

export class View {
  constructor() {
    this.scale = 1;
    this.ox = 0;
    this.oy = 0;
    this.width = 1; // stage, CSS pixels
    this.height = 1;
    this.imageWidth = 1;
    this.imageHeight = 1;
    this.fitted = true; // follows the stage size until the user zooms or pans
  }

  setStage(width, height) {
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
    if (this.fitted) this.fit();
  }

  setImage(width, height) {
    this.imageWidth = width;
    this.imageHeight = height;
    this.fit();
  }

  fitScale() {
    const margin = 16;
    return Math.min(
      (this.width - margin) / this.imageWidth,
      (this.height - margin) / this.imageHeight,
    );
  }

  minScale() {
    return Math.min(this.fitScale(), 1) / 4;
  }

  fit() {
    this.scale = Math.max(this.fitScale(), 1e-3);
    this.ox = (this.width - this.imageWidth * this.scale) / 2;
    this.oy = (this.height - this.imageHeight * this.scale) / 2;
    this.fitted = true;
  }

  // Zoom to `scale`, keeping the image point under the screen point (sx, sy) in place.
  zoomTo(scale, sx = this.width / 2, sy = this.height / 2) {
    const next = Math.min(Math.max(scale, this.minScale()), MAX_SCALE);
    const ix = (sx - this.ox) / this.scale;
    const iy = (sy - this.oy) / this.scale;
    this.scale = next;
    this.ox = sx - ix * next;
    this.oy = sy - iy * next;
    this.fitted = false;
  }

  zoomBy(steps, sx, sy) {
    this.zoomTo(this.scale * STEP ** steps, sx, sy);
  }

  panBy(dx, dy) {
    this.ox += dx;
    this.oy += dy;
    this.fitted = false;
  }

  toImage(sx, sy) {
    return { x: (sx - this.ox) / this.scale, y: (sy - this.oy) / this.scale };
  }

  toScreen(ix, iy) {
    return { x: ix * this.scale + this.ox, y: iy * this.scale + this.oy };
  }

  snapshot() {
    return { scale: this.scale, ox: this.ox, oy: this.oy, width: this.width, height: this.height };
  }
}
