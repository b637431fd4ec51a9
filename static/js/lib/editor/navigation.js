// Next and previous image. The neighbours of an image are the server's (grid order under
// the grid's filter), except where the user came from: labeling an image can take it out
// of the filter ("unlabeled"), and "previous" must still lead back to it.
// Opened from a model's error gallery, they are the gallery's images instead
// (lib/editor/review.js).
// `page` is the editor page's context (pages/annotate.js):
// {data, editor, review, open(imageId, options) -> Promise<bool>}.

const $ = (id) => document.getElementById(id);

// A neighbour's image record, when it came whole (the review's walk gives ids only).
export const metaOf = (record) => (record && record.file_url ? record : null);

export class Navigation {
  constructor(page) {
    this.page = page;
    this.trail = new Map(); // image id -> {previous?, next?} (image records)
  }

  async neighboursOf(entry) {
    const { review } = this.page;
    if (review.active) return review.neighbours(entry.id);
    const found = await entry.neighbours;
    return { ...found, ...this.trail.get(entry.id) };
  }

  // direction: "next" or "previous"
  async go(direction) {
    const { editor } = this.page;
    const trail = this.trail;
    const entry = editor.entry;
    if (!entry) return;
    performance.mark("editor:switch-start");
    let found;
    try {
      found = await this.neighboursOf(entry);
    } catch {
      editor.message("Could not find the next image (offline?).");
      return;
    }
    const target = found[direction];
    if (!target) {
      editor.message(direction === "next" ? "This is the last image." : "This is the first image.");
      return;
    }
    const back = direction === "next" ? "previous" : "next";
    if (!this.page.review.active) {
      trail.set(target.id, { ...trail.get(target.id), [back]: editor.doc.meta });
      trail.set(entry.id, { ...trail.get(entry.id), [direction]: target });
    }
    if (await this.page.open(target.id, { meta: metaOf(target) })) {
      performance.mark("editor:switch-done");
      performance.measure("editor:switch", "editor:switch-start", "editor:switch-done");
    }
  }

  // found: the neighbours of the image shown ({position, count, previous, next})
  showPosition(found) {
    const { data, review } = this.page;
    $("position").textContent = `${review.active ? "error image " : ""}${found.position || "–"} / ${found.count}`;
    $("prev").disabled = !found.previous;
    $("next").disabled = !found.next;
    const page = Math.max(1, Math.ceil(found.position / data.per_page));
    const query = new URLSearchParams(data.filters);
    if (page > 1) query.set("page", String(page));
    const search = query.toString();
    $("back-to-grid").href = search ? `${data.urls.grid}?${search}` : data.urls.grid;
  }
}
