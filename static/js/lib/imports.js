// Following a dataset import that a worker runs: the status line ticks until it is done.
import { api } from "./api.js";

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// url: the import's API URL; record: its JSON; status: the element that says how it goes.
// Returns the finished record (succeeded or failed).
export async function followImport(url, record, status) {
  const started = Date.now();
  while (record.status === "queued" || record.status === "running") {
    const seconds = Math.round((Date.now() - started) / 1000);
    status.textContent = record.status === "queued"
      ? `Queued, waiting for a worker… (${seconds} s)`
      : `Importing ${record.source_name}… (${seconds} s)`;
    await sleep(1000);
    record = await api(url);
  }
  return record;
}
