// Images fetched ahead: for each image id, promises of its record, decoded pixels,
// boxes, pending model suggestions and neighbours, so that opening a prefetched image
// costs no round trip.
import { api } from "../api.js";

const fill = (template, id) => template.replace("{id}", String(id));

// Decoded off the main thread into an ImageBitmap: drawing it is then a copy (an <img>
// would be decoded again, on the main thread, by the first frame that draws it).
async function loadPixels(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return null;
    return await createImageBitmap(await response.blob());
  } catch {
    return null; // a missing or broken file: the boxes still open
  }
}

export class ImageCache {
  // urls: {image, annotations, suggestions, neighbours} templates with "{id}"; query: the
  // grid filters.
  constructor(urls, query, limit = 8) {
    this.urls = urls;
    this.query = query;
    this.limit = limit; // decoded images kept in memory
    this.entries = new Map(); // id -> entry, least recently used first
  }

  // The entry of an image, its fetches started once; known parts may be passed in.
  get(id, { meta = null, state = null, neighbours = null, suggestions = null } = {}) {
    let entry = this.entries.get(id);
    if (!entry) {
      const record = meta ? Promise.resolve(meta) : api(fill(this.urls.image, id));
      const near = fill(this.urls.neighbours, id) + (this.query ? `?${this.query}` : "");
      entry = {
        id,
        meta: record,
        image: record.then((m) => loadPixels(m.file_url)),
        state: state ? Promise.resolve(state) : api(fill(this.urls.annotations, id)),
        // null when they could not be read (offline): the image opens without them
        suggestions: suggestions
          ? Promise.resolve(suggestions)
          : api(fill(this.urls.suggestions, id)).then((r) => r.suggestions, () => null),
        neighbours: neighbours ? Promise.resolve(neighbours) : api(near),
        fetchedAt: state ? 0 : performance.now(),
      };
      const forget = () => this.entries.get(id) === entry && this.entries.delete(id);
      entry.state.catch(forget); // offline: fetched again next time
      entry.neighbours.catch(forget);
      const parts = [entry.image, entry.state, entry.suggestions];
      Promise.all(parts).then(() => { entry.ready = true; }, () => {});
    }
    this.entries.delete(id);
    this.entries.set(id, entry);
    while (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value);
    return entry;
  }

  // The images that would open at once (pixels decoded, boxes here).
  readyIds() {
    return [...this.entries.values()].filter((entry) => entry.ready).map((entry) => entry.id);
  }
}
