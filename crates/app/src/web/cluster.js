// The cluster page: the gateway's instances (refreshed every second) with
// buttons to kill and restart them, and a demo user whose requests show
// which instance served them and whether their session survived.
"use strict";

const demo = { auth: "cookie", token: null, stateToken: null, loggedIn: false, timer: null, lastServedBy: null };
// The last `/_cluster` answer drawn.
const shown = { view: null };

function badge(text, kind) {
  const span = document.createElement("span");
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

function logRequest(what, answer) {
  const row = document.createElement("tr");
  const outcome = sc.cell(answer.ok ? String(answer.status) : `${answer.status} ${answer.code}`, answer.ok ? "ok" : "error");
  row.append(sc.cell(new Date().toLocaleTimeString()), sc.cell(what), outcome, sc.cell(answer.servedBy || "–"));
  const log = sc.el("request-log");
  log.prepend(row);
  while (log.rows.length > 50) log.deleteRow(-1);
}

async function control(id, action) {
  const answer = await sc.call("POST", `/_cluster/instances/${encodeURIComponent(id)}/${action}`);
  logRequest(`${action} ${id}`, answer);
  await refresh();
}

function actionButton(id, action, label, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.dataset.instance = id;
  button.dataset.action = action;
  button.setAttribute("aria-label", `${label} ${id}`);
  button.addEventListener("click", () => control(id, action));
  return button;
}

async function refresh() {
  const answer = await sc.call("GET", "/_cluster");
  const status = sc.el("cluster-status");
  if (!answer.ok) {
    status.textContent = answer.status === 404
      ? "This server is not behind a gateway: run `statecraft cluster --instances 3 --balance sticky` and open its address."
      : `The gateway answered ${sc.summary(answer)}.`;
    status.className = "error";
    return;
  }
  status.textContent = `${answer.body.instances.filter((i) => i.healthy).length} of ${answer.body.instances.length} instances in rotation`;
  status.className = "muted";
  // Rebuilt only when something changed: replacing the buttons every second
  // would take keyboard focus (and a click in progress) away from them.
  const view = JSON.stringify(answer.body);
  if (view === shown.view) return;
  shown.view = view;
  sc.el("policy").textContent = answer.body.policy;
  const body = sc.el("instances");
  body.replaceChildren();
  for (const instance of answer.body.instances) {
    const row = document.createElement("tr");
    row.dataset.instance = instance.id;
    const health = document.createElement("td");
    health.append(instance.healthy
      ? badge(instance.ready === false ? "serving, not ready" : "healthy", "good")
      : badge("down", "bad"));
    if (instance.draining) health.append(" ", badge("draining", ""));
    const actions = document.createElement("td");
    actions.append(actionButton(instance.id, "stop", "Kill", "danger"), " ", actionButton(instance.id, "start", "Restart", "secondary"));
    row.append(sc.cell(instance.id), sc.cell(instance.url), health, sc.cell(String(instance.inFlight ?? 0), "num"), actions);
    body.append(row);
  }
}

function authMode() {
  return document.querySelector("input[name=auth]:checked").value;
}

async function login() {
  demo.auth = authMode();
  const credentials = { user: "alice", password: "correct-password" };
  const answer = await sc.call("POST", demo.auth === "token" ? "/token" : "/login", { body: credentials });
  logRequest(demo.auth === "token" ? "POST /token" : "POST /login", answer);
  demo.loggedIn = answer.ok;
  demo.token = answer.ok && demo.auth === "token" ? answer.body.token : null;
  demo.stateToken = null;
  demo.lastServedBy = answer.servedBy;
  sc.el("demo-explain").textContent = "–";
  sc.el("demo-who").textContent = answer.ok ? `alice, with a ${demo.auth === "token" ? "bearer token" : "session cookie"}` : "no";
  sc.el("demo-counter").textContent = "–";
  sc.status("demo-status", answer);
}

// One request that needs the demo user's state: the session's counter (cookie),
// or the signed client-held counter with the bearer token.
async function request() {
  let answer;
  if (demo.auth === "token") {
    const body = demo.stateToken ? { stateToken: demo.stateToken } : { currentCount: 0 };
    answer = await sc.call("POST", "/increment", { body, bearer: demo.token });
    if (answer.ok) demo.stateToken = answer.body.stateToken;
  } else {
    answer = await sc.call("POST", "/increment");
  }
  logRequest("POST /increment", answer);
  if (answer.ok) sc.el("demo-counter").textContent = String(answer.body.counter);
  if (answer.code === "SESSION_LOST" || answer.code === "SESSION_MISSING") {
    demo.loggedIn = false;
    sc.el("demo-who").textContent = "no (the session is gone: log in again)";
  }
  sc.el("demo-served").textContent = answer.servedBy || "–";
  sc.status("demo-status", answer);
  explain(answer);
  if (answer.ok) demo.lastServedBy = answer.servedBy;
}

// Whether the instance `id` is down in the last view of the cluster.
function isDown(id) {
  const view = shown.view ? JSON.parse(shown.view) : null;
  const instance = view && view.instances.find((i) => i.id === id);
  return Boolean(instance && !instance.healthy);
}

// Says in words what the last request shows, when an instance was lost.
function explain(answer) {
  const before = demo.lastServedBy;
  const text = sc.el("demo-explain");
  if (answer.code === "SESSION_LOST") {
    text.textContent = `The session lived in the memory of ${before || "the instance that was killed"}; ` +
      `that process is gone, so the session is gone with it. ${answer.servedBy || "Another instance"} answered SESSION_LOST: log in again.`;
  } else if (answer.ok && before && answer.servedBy && answer.servedBy !== before && isDown(before)) {
    const where = demo.auth === "token"
      ? "the signed token it sent carries the login and the count, so any instance can serve it"
      : "the session is in a store every instance shares";
    text.textContent = `${before}, which served the last request, is down. This request survived: ` +
      `${answer.servedBy} served it, because ${where}.`;
  } else if (answer.ok) {
    text.textContent = `Served by ${answer.servedBy}.`;
  }
}

sc.el("demo-login").addEventListener("click", login);
sc.el("demo-request").addEventListener("click", request);
sc.el("demo-auto").addEventListener("change", (event) => {
  clearInterval(demo.timer);
  demo.timer = event.target.checked ? setInterval(request, 1000) : null;
});

refresh();
setInterval(refresh, 1000);
