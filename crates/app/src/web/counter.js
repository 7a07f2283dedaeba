// The counter page: one button, three ways to keep the count.
// stateful: POST /increment with the session cookie (the browser sends it).
// stateless: POST /increment {"currentCount": n}; the page keeps n.
// signed: POST /increment {"stateToken": t}; the page keeps the server's token.
// On load each mode shows the count it holds: the session's from GET /session,
// the client-held ones from this tab's storage (which is where they live).
"use strict";

const el = (id) => document.getElementById(id);
const saved = (key) => window.sessionStorage.getItem(`statecraft.${key}`);
const state = {
  mode: "stateful",
  count: { stateful: 0, stateless: Number(saved("stateless") || 0), signed: Number(saved("signed") || 0) },
  token: saved("token"),
  // Where each mode's count came from, said under it.
  origin: { stateful: "loading the session…", stateless: "kept by this tab", signed: "kept by this tab, signed by the server" },
};

// Client-held state lives with the client: this tab keeps it across reloads.
function keep() {
  window.sessionStorage.setItem("statecraft.stateless", String(state.count.stateless));
  window.sessionStorage.setItem("statecraft.signed", String(state.count.signed));
  if (state.token !== null) window.sessionStorage.setItem("statecraft.token", state.token);
}

// The session's count, as the server holds it now (after a reload too).
async function loadSession() {
  const answer = await sc.call("GET", "/session");
  if (answer.ok) {
    state.count.stateful = answer.body.counter;
    state.origin.stateful = answer.body.sessionId
      ? `loaded from the session on ${answer.servedBy} (${answer.stateSource})`
      : "no session yet: the first increment makes one";
  } else {
    state.count.stateful = 0;
    state.origin.stateful = `the session is gone (${answer.code}): the next increment starts a new one`;
  }
  if (mode() === "stateful") switchMode();
}

function mode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function show(answer, response) {
  el("stored-on").textContent = answer.storedOn ?? "–";
  el("served-by").textContent = response.headers.get("X-Served-By") ?? "–";
  el("state-source").textContent = response.headers.get("X-State-Source") ?? "–";
  el("holder").textContent = answer.sessionId ?? answer.stateToken ?? "–";
  const status = el("status");
  status.textContent = response.ok ? `${response.status}` : `${response.status} ${answer.code}: ${answer.error}`;
  status.className = response.ok ? "" : "error";
  const item = document.createElement("li");
  item.textContent = `${response.status} ${response.headers.get("X-Served-By")} ` +
    (response.ok ? `counter=${answer.counter} storedOn=${answer.storedOn}` : answer.code);
  el("log").prepend(item);
}

function bodyFor(current, forged) {
  if (current === "stateless") return { currentCount: state.count.stateless };
  if (current === "signed") {
    if (state.token === null) return { currentCount: state.count.signed };
    return forged ? { stateToken: state.token, currentCount: state.count.signed + 100 } : { stateToken: state.token };
  }
  return null;
}

async function increment(forged) {
  const current = mode();
  const body = bodyFor(current, forged);
  const init = { method: "POST", credentials: "same-origin" };
  if (body !== null) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let response;
  let answer;
  try {
    response = await fetch("/increment", init);
    answer = await response.json();
  } catch (err) {
    el("status").textContent = `network error: ${err.message}`;
    el("status").className = "error";
    return;
  }
  if (response.ok) {
    state.count[current] = answer.counter;
    if (current === "signed") state.token = answer.stateToken;
    state.origin[current] = current === "stateful"
      ? `the session on ${response.headers.get("X-Served-By")}`
      : state.origin[current];
    keep();
    el("count").textContent = answer.counter;
    el("count-origin").textContent = state.origin[current];
  } else if (current === "signed" && !forged) {
    // The server no longer accepts the kept token (a restart with another
    // key, say): start again rather than fail on every click and reload.
    state.token = null;
    state.count.signed = 0;
    window.sessionStorage.removeItem("statecraft.token");
    keep();
    el("count").textContent = "0";
    el("count-origin").textContent = `the kept token was refused (${answer.code}): the next increment starts again`;
  }
  show(answer, response);
}

function switchMode() {
  const current = mode();
  el("count").textContent = state.count[current];
  el("count-origin").textContent = state.origin[current];
  el("tamper").hidden = current !== "signed";
}

el("increment").addEventListener("click", () => increment(false));
el("tamper").addEventListener("click", () => increment(true));
el("modes").addEventListener("change", switchMode);
switchMode();
loadSession();
