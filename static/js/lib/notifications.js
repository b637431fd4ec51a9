// The top bar's bell on every page: how many notifications are unread (a run or an import
// of one of the user's projects that ended; labeling/notifications.py) and the newest
// ones, each a link that marks it read as it opens. Asked again every poll_seconds (the
// server says how often) and when the tab comes back, so it appears on whatever page the
// user is on. Nothing is shown before the first answer (no made-up zero).
import { api } from "./api.js";

const root = document.getElementById("notify");
const $ = (id) => document.getElementById(id);

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function render({ unread, notifications }) {
  const count = $("notify-count");
  count.textContent = unread > 99 ? "99+" : String(unread);
  count.hidden = unread === 0;
  $("notify-toggle").title = unread ? `Notifications: ${unread} unread` : "Notifications";
  $("notify-read-all").disabled = unread === 0;
  $("notify-empty").hidden = notifications.length > 0;
  $("notify-list").replaceChildren(...notifications.map((n) => {
    const item = document.createElement("li");
    item.dataset.notification = String(n.id);
    item.classList.add(n.read ? "read" : "unread", n.level);
    const link = document.createElement("a");
    link.href = n.open_url;
    link.textContent = n.text;
    const time = document.createElement("time");
    time.dateTime = n.created_at;
    time.textContent = ago(n.created_at);
    item.append(link, time);
    return item;
  }));
  document.body.dataset.notificationsUnread = String(unread); // for the tests
}

if (root) {
  let timer = 0;
  let every = 15;
  const refresh = async () => {
    window.clearTimeout(timer);
    try {
      const answer = await api(root.dataset.api);
      every = answer.poll_seconds || every;
      render(answer);
      $("notify-error").hidden = true;
    } catch (error) {
      $("notify-error").textContent = `Notifications could not be read: ${error.message}`;
      $("notify-error").hidden = false;
    }
    if (!document.hidden) timer = window.setTimeout(refresh, every * 1000);
  };
  const toggle = $("notify-toggle");
  const panel = $("notify-panel");
  const show = (open) => {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => {
    show(panel.hidden);
    if (!panel.hidden) refresh();
  });
  document.addEventListener("click", (event) => {
    if (!root.contains(event.target)) show(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) show(false);
  });
  $("notify-read-all").addEventListener("click", async () => {
    try {
      await api(root.dataset.readAll, { method: "POST" });
    } finally {
      refresh();
    }
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  refresh();
}
