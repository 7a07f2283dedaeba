// The counter page: one button, three ways to keep the count.
// stateful: POST /increment with the session cookie (the browser sends it).
// stateless: POST /increment {"currentCount": n}; the page keeps n.
// signed: POST /increment {"stateToken": t}; the page keeps the server's token.
"use strict";

const el = (id) => document.getElementById(id);
const state = { mode: "stateful", count: { stateful: 0, stateless: 0, signed: 0 }, token: null };

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
    el("count").textContent = answer.counter;
  }
  show(answer, response);
}

function switchMode() {
  const current = mode();
  el("count").textContent = state.count[current];
  el("tamper").hidden = current !== "signed";
}

el("increment").addEventListener("click", () => increment(false));
el("tamper").addEventListener("click", () => increment(true));
el("modes").addEventListener("change", switchMode);
switchMode();
