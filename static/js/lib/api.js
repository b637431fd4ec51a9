// Small fetch wrapper for the studio's JSON API: session auth with Django's CSRF token.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function pageData() {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent) : {};
}

export async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = (data && data.detail) || `The server answered ${response.status}.`;
    throw Object.assign(new Error(message), { data }); // the whole body: every error
  }
  return data;
}

export function showError(form, error) {
  const box = form.querySelector(".error") || form.parentElement.querySelector(".error");
  if (box) {
    box.textContent = error.message;
    box.hidden = false;
  }
}
