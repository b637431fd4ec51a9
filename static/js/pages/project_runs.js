// Project page, runs table: while a run is unfinished the table is fetched again every
// few seconds (phase, progress bar, duration), and a run that ends says so with a link
// to its page. Imported by project_detail.js, the page's module.
const POLL_MS = 3000;
const holder = document.getElementById("runs-table");
const ended = document.getElementById("runs-ended");

function unfinished() {
  const table = holder?.querySelector("table[data-unfinished]");
  return new Set((table?.dataset.unfinished || "").split(" ").filter(Boolean));
}

function announce(runIds) {
  const parts = [...runIds].map((id) => {
    const row = holder.querySelector(`tr[data-run="${id}"]`);
    const status = row?.querySelector(".status")?.textContent.trim() || "ended";
    return `Run #${id}: ${status.toLowerCase()}`;
  });
  ended.textContent = `${parts.join("; ")}. Reload the page to see its model and verdict.`;
  ended.hidden = false;
}

async function poll() {
  const before = unfinished();
  if (!before.size) return;
  try {
    const response = await fetch(holder.dataset.url, { credentials: "same-origin" });
    if (response.ok) {
      holder.innerHTML = await response.text();
      const now = unfinished();
      const done = [...before].filter((id) => !now.has(id));
      if (done.length) announce(done);
    }
  } catch {
    // The server is away for a moment: the next tick tries again.
  }
  window.setTimeout(poll, POLL_MS);
}

if (holder && unfinished().size) window.setTimeout(poll, POLL_MS);
