// Shared by every page: one way to call the API and read what came back,
// including which instance answered, and the navigation's current page.
"use strict";

const sc = {
  el(id) {
    return document.getElementById(id);
  },

  // Calls the API. `bearer` adds an Authorization header; a body is sent as
  // JSON. Resolves to what the page needs, never throws: a network failure
  // comes back as status 0 with code NETWORK_ERROR.
  async call(method, path, { body, bearer, headers } = {}) {
    const init = { method, credentials: "same-origin", headers: { ...(headers || {}) } };
    if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined && body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(path, init);
      const text = await response.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      return {
        ok: response.ok,
        status: response.status,
        body: json,
        code: response.ok ? null : (json && json.code) || `HTTP_${response.status}`,
        error: response.ok ? null : (json && json.error) || response.statusText,
        servedBy: response.headers.get("X-Served-By"),
        stateSource: response.headers.get("X-State-Source"),
      };
    } catch (err) {
      return { ok: false, status: 0, body: null, code: "NETWORK_ERROR", error: err.message, servedBy: null, stateSource: null };
    }
  },

  // A line for a person: "200 server-2" or "401 SESSION_LOST server-1".
  summary(answer) {
    const who = answer.servedBy ? ` ${answer.servedBy}` : "";
    return answer.ok ? `${answer.status}${who}` : `${answer.status} ${answer.code}${who}`;
  },

  // Shows an answer in a status element.
  status(id, answer, text) {
    const node = sc.el(id);
    node.textContent = text || (answer.ok ? sc.summary(answer) : `${sc.summary(answer)}: ${answer.error}`);
    node.className = answer.ok ? "ok" : "error";
  },

  // A random Idempotency-Key.
  key() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  },

  // A table cell with `text` (never parsed as HTML).
  cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  },

  // Money from cents.
  money(cents) {
    return `€${(cents / 100).toFixed(2)}`;
  },
};

for (const link of document.querySelectorAll("nav a")) {
  if (link.getAttribute("href") === window.location.pathname) link.setAttribute("aria-current", "page");
}
