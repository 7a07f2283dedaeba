// The lab page: pick a preset or change its figures, start a run, watch its
// figures arrive every half second (Server-Sent Events), and browse, compare
// and download the runs kept on the server.
"use strict";

const FAULTS = [
  ["kill", "an instance killed"], ["storeStop", "the store stopped"],
  ["storePartition", "an instance cut off from the store"],
  ["gatewayPartition", "the gateway cut off from an instance"],
  ["slowStore", "a slow store"], ["overload", "an overloaded instance"],
  ["rollingRestart", "a rolling restart"], ["logout", "a logout, its credential tried again"],
];
// Plan field of each fault's moment.
const FAULT_FIELD = {
  kill: "killAt", storeStop: "storeStopAt", storePartition: "storePartitionAt",
  gatewayPartition: "gatewayPartitionAt", slowStore: "slowStoreAt", overload: "overloadAt",
  rollingRestart: "rollingRestartAt", logout: "revokeAt",
};

const lab = { presets: [], preset: "article", source: null, samples: 0, chart: [], faults: [], phase: 0, run: 1 };

function formFromPlan(plan) {
  for (const box of document.querySelectorAll("input[name=strategy]")) box.checked = plan.strategies.includes(box.value);
  sc.el("lab-users").value = plan.users;
  sc.el("lab-duration").value = plan.run;
  sc.el("lab-instances").value = plan.instances;
  sc.el("lab-balancer").value = plan.balancer || "builtin";
  sc.el("lab-cart").value = plan.cartItems;
  sc.el("lab-rtts").value = plan.storeRtts.join(", ");
  sc.el("lab-failover").checked = plan.failover;
  for (const [name] of FAULTS) {
    const at = plan[FAULT_FIELD[name]];
    sc.el(`lab-fault-${name}`).checked = typeof at === "number";
    sc.el(`lab-fault-${name}-at`).value = typeof at === "number" ? at : "";
  }
}

function specFromForm() {
  const spec = { preset: lab.preset };
  spec.strategies = [...document.querySelectorAll("input[name=strategy]:checked")].map((b) => b.value);
  spec.users = Number(sc.el("lab-users").value);
  spec.durationSeconds = Number(sc.el("lab-duration").value);
  spec.instances = Number(sc.el("lab-instances").value);
  spec.balancer = sc.el("lab-balancer").value;
  spec.cartItems = Number(sc.el("lab-cart").value);
  const rtts = sc.el("lab-rtts").value.split(",").map((v) => v.trim()).filter((v) => v !== "");
  spec.storeRttMs = rtts.map(Number);
  spec.failover = sc.el("lab-failover").checked;
  spec.faults = {};
  for (const [name] of FAULTS) {
    spec.faults[name] = sc.el(`lab-fault-${name}`).checked ? Number(sc.el(`lab-fault-${name}-at`).value) : null;
  }
  const store = sc.el("lab-store").value.trim();
  if (store) spec.store = { url: store };
  return spec;
}

function choosePreset(preset) {
  lab.preset = preset.id;
  for (const button of document.querySelectorAll("#lab-presets button")) {
    button.setAttribute("aria-checked", String(button.dataset.preset === preset.id));
  }
  sc.el("lab-preset-text").textContent = preset.description;
  if (preset.plan) formFromPlan(preset.plan);
}

async function loadPresets() {
  const faults = sc.el("lab-faults");
  for (const [name, title] of FAULTS) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `lab-fault-${name}`;
    const at = document.createElement("input");
    at.type = "number"; at.min = "0.05"; at.max = "0.95"; at.step = "0.01";
    at.id = `lab-fault-${name}-at`;
    at.className = "moment";
    at.setAttribute("aria-label", `${title}: moment`);
    label.append(box, ` ${title} at `, at);
    faults.append(label);
  }
  const answer = await sc.call("GET", "/lab/presets");
  if (!answer.ok) return;
  lab.presets = answer.body.presets;
  const holder = sc.el("lab-presets");
  for (const preset of lab.presets) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.setAttribute("role", "radio");
    button.dataset.preset = preset.id;
    button.textContent = preset.title;
    button.addEventListener("click", () => choosePreset(preset));
    holder.append(button);
  }
  choosePreset(lab.presets[0]);
}

// The chart: requests/s (left scale) and p99 ms (right) of the phase on
// show, faults as red lines, lost sessions as dots; SVG drawn from DOM
// nodes (no inline code, no library).
function draw() {
  const svg = sc.el("lab-chart");
  const ns = "http://www.w3.org/2000/svg";
  const node = (name, attrs) => {
    const el = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  };
  const [w, h, left, right, top, bottom] = [720, 220, 48, 48, 10, 24];
  const points = lab.chart;
  // The phase's whole length: the lines grow across as the load goes on.
  const tMax = Math.max(lab.run, ...points.map((p) => p.t));
  const rMax = Math.max(1, ...points.map((p) => p.requestsPerSecond)) * 1.1;
  const pMax = Math.max(1, ...points.map((p) => p.p99Ms)) * 1.1;
  const x = (t) => left + (t / tMax) * (w - left - right);
  const y = (v, max) => top + (1 - v / max) * (h - top - bottom);
  const parts = [node("rect", { x: left, y: top, width: w - left - right, height: h - top - bottom, fill: "#fafbfc", stroke: "#dde1e8" })];
  for (const [value, anchor, at] of [[rMax, "end", left - 4], [pMax, "start", w - right + 4]]) {
    const label = node("text", { x: at, y: top + 10, "text-anchor": anchor, "font-size": 11, fill: "#556" });
    label.textContent = value.toFixed(value >= 10 ? 0 : 1);
    parts.push(label);
  }
  const axis = node("text", { x: w - right, y: h - 6, "text-anchor": "end", "font-size": 11, fill: "#556" });
  axis.textContent = `${tMax.toFixed(1)} s`;
  parts.push(axis);
  for (const fault of lab.faults) {
    parts.push(node("line", { x1: x(fault.t), x2: x(fault.t), y1: top, y2: h - bottom, stroke: "#b3261e", "stroke-dasharray": "4 3" }));
    const label = node("text", { x: x(fault.t) + 3, y: h - bottom - 4, "font-size": 11, fill: "#b3261e" });
    label.textContent = fault.kind;
    parts.push(label);
  }
  const line = (value, max, colour) => node("polyline", {
    points: points.map((p) => `${x(p.t).toFixed(1)},${y(value(p), max).toFixed(1)}`).join(" "),
    fill: "none", stroke: colour, "stroke-width": 2,
  });
  if (points.length) {
    parts.push(line((p) => p.requestsPerSecond, rMax, "#3056d3"));
    parts.push(line((p) => p.p99Ms, pMax, "#e07b00"));
  }
  for (const p of points.filter((p) => p.sessionsLost > 0)) {
    parts.push(node("circle", { cx: x(p.t), cy: y(0, 1) - 4, r: 3 + Math.min(6, p.sessionsLost), fill: "#b3261e" }));
  }
  svg.replaceChildren(...parts);
  svg.dataset.samples = String(lab.samples);
}

function logLine(text) {
  const item = document.createElement("li");
  item.textContent = text;
  sc.el("lab-log").append(item);
}

function onEvent(event) {
  const phases = sc.el("lab-phases");
  switch (event.type) {
    case "started":
      lab.run = event.plan && typeof event.plan.run === "number" ? event.plan.run : 1;
      phases.replaceChildren(...event.phases.map((title, n) => {
        const item = document.createElement("li");
        item.textContent = title;
        item.dataset.phase = String(n + 1);
        return item;
      }));
      break;
    case "stage":
      logLine(`phase ${event.phase}: ${event.what}`);
      break;
    case "sample": {
      if (event.phase !== lab.phase) {
        lab.phase = event.phase; lab.chart = []; lab.faults = [];
        for (const item of phases.children) item.classList.toggle("current", item.dataset.phase === String(event.phase));
      }
      lab.samples += 1;
      lab.chart.push(event);
      sc.el("lab-rps").textContent = event.requestsPerSecond.toFixed(0);
      sc.el("lab-p50").textContent = event.p50Ms.toFixed(2);
      sc.el("lab-p99").textContent = event.p99Ms.toFixed(2);
      const errors = Object.entries(event.errors).map(([code, n]) => `${code} ${n}`);
      sc.el("lab-errors").textContent = errors.length ? errors.join(", ") : "0";
      sc.el("lab-lost").textContent = String(event.sessionsLostTotal);
      draw();
      break;
    }
    case "fault":
      lab.faults.push(event);
      logLine(`phase ${event.phase}, ${event.t.toFixed(1)} s: ${event.kind}: ${event.what}`);
      draw();
      break;
    case "phaseDone":
      logLine(`phase ${event.phase} done: ${event.summary}`);
      break;
    case "phaseFailed":
      logLine(`phase ${event.phase} failed: ${event.error}`);
      break;
    case "ended":
      sc.el("lab-live").dataset.status = event.status;
      logLine(`run ${event.status}${event.error ? `: ${event.error}` : ""}`);
      sc.el("lab-cancel").hidden = true;
      if (lab.source) { lab.source.close(); lab.source = null; }
      loadHistory();
      break;
    default:
      break;
  }
}

function watch(id) {
  if (lab.source) lab.source.close();
  Object.assign(lab, { samples: 0, chart: [], faults: [], phase: 0 });
  sc.el("lab-live").hidden = false;
  sc.el("lab-live").dataset.status = "running";
  sc.el("lab-live-id").textContent = id;
  sc.el("lab-log").replaceChildren();
  sc.el("lab-cancel").hidden = false;
  sc.el("lab-cancel").dataset.run = id;
  lab.source = new EventSource(`/lab/runs/${encodeURIComponent(id)}/events`);
  lab.source.onmessage = (message) => {
    try { onEvent(JSON.parse(message.data)); } catch (_) { /* not an event: skipped */ }
  };
}

// Starting and cancelling are control actions: from loopback they need
// nothing, elsewhere the server's admin token.
function adminToken() {
  return sc.el("lab-admin-token").value.trim() || undefined;
}

async function start(submit) {
  submit.preventDefault();
  const answer = await sc.call("POST", "/lab/runs", { body: specFromForm(), bearer: adminToken() });
  const status = sc.el("lab-start-status");
  if (answer.ok) {
    sc.status("lab-start-status", answer, `Run ${answer.body.id} started.`);
    watch(answer.body.id);
    loadHistory();
  } else if (answer.status === 409) {
    sc.status("lab-start-status", answer, `${answer.error}`);
    status.dataset.running = answer.body.runningId;
  } else {
    sc.status("lab-start-status", answer);
  }
}

async function cancel() {
  const id = sc.el("lab-cancel").dataset.run;
  sc.el("lab-cancel").disabled = true;
  const answer = await sc.call("DELETE", `/lab/runs/${encodeURIComponent(id)}`, { bearer: adminToken() });
  sc.el("lab-cancel").disabled = false;
  sc.status("lab-start-status", answer, answer.ok ? `Run ${id} cancelled: everything it started is stopped.` : undefined);
  loadHistory();
}

function ticked() {
  return [...document.querySelectorAll("#lab-history input[type=checkbox]:checked")].map((b) => b.value);
}

async function loadHistory() {
  const answer = await sc.call("GET", "/lab/runs");
  if (!answer.ok) return;
  const table = document.createElement("table");
  table.id = "lab-runs";
  const head = table.createTHead().insertRow();
  for (const title of ["compare", "run", "preset", "strategies", "status", "s in all", "requests/s (each strategy)", "files"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.append(th);
  }
  const body = table.createTBody();
  for (const run of answer.body.runs) {
    const row = body.insertRow();
    row.dataset.run = run.id;
    row.dataset.status = run.status;
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.value = run.id;
    pick.disabled = run.status !== "finished";
    pick.setAttribute("aria-label", `compare run ${run.id}`);
    pick.addEventListener("change", () => { sc.el("lab-compare").disabled = ticked().length !== 2; });
    const cell = document.createElement("td");
    cell.append(pick);
    row.append(cell, sc.cell(run.id), sc.cell(run.preset || "–"), sc.cell(run.strategies.join(", ")));
    row.append(sc.cell(run.error ? `${run.status}: ${run.error}` : run.status));
    row.append(sc.cell(labResults.fixed(run.totalSeconds, 0), "num"));
    row.append(sc.cell(run.headline.map((h) => `${h.strategy} ${labResults.fixed(h.requestsPerSecond, 0)}`).join("; ")));
    const files = document.createElement("td");
    if (run.status === "finished") {
      for (const [name, path] of [["show", null], ["report", "report.html"], ["JSON", "results.json"], ["CSV", "results.csv"]]) {
        const link = document.createElement("a");
        link.textContent = name;
        if (path) {
          link.href = `/lab/runs/${run.id}/${path}`;
          if (path !== "report.html") link.setAttribute("download", `lab-${run.id}.${path.split(".")[1]}`);
        } else {
          link.href = "#results-title";
          link.addEventListener("click", () => showRun(run.id));
        }
        files.append(link, " ");
      }
    }
    row.append(files);
  }
  sc.el("lab-history").replaceChildren(table);
  sc.el("lab-compare").disabled = true;
  if (answer.body.running && !lab.source) watch(answer.body.running);
}

async function compareTicked() {
  const [a, b] = ticked().sort();
  const [ra, rb] = await Promise.all([a, b].map((id) => sc.call("GET", `/lab/runs/${id}/results.json`)));
  if (!ra.ok || !rb.ok) {
    sc.el("lab-comparison").textContent = `The results could not be read: ${(ra.ok ? rb : ra).error}`;
    return;
  }
  sc.el("lab-comparison").replaceChildren(labResults.compare(ra.body, rb.body));
}

async function showRun(id) {
  const path = id ? `/lab/runs/${id}/results.json` : "/lab/results.json";
  const answer = await sc.call("GET", path);
  const status = sc.el("lab-status");
  if (!answer.ok) {
    status.textContent = answer.status === 404
      ? "No lab results yet: start a run above (A glance takes half a minute), or run `statecraft lab --quick`."
      : `The server answered ${sc.summary(answer)}.`;
    return;
  }
  const results = answer.body;
  const when = new Date(results.startedAtMs);
  status.textContent = `Run ${results.id || ""} of ${when.toLocaleString()}, ${labResults.fixed(results.totalSeconds, 0)} s in all.`;
  labResults.render(results);
  const base = results.id ? `/lab/runs/${results.id}` : "/lab";
  for (const [link, file] of [["lab-report", "report.html"], ["lab-json", "results.json"], ["lab-csv", "results.csv"]]) {
    sc.el(link).href = `${base}/${file}`;
    sc.el(link).hidden = !results.id && file === "results.csv";
  }
}

sc.el("lab-form").addEventListener("submit", start);
sc.el("lab-cancel").addEventListener("click", cancel);
sc.el("lab-compare").addEventListener("click", compareTicked);
loadPresets();
loadHistory();
showRun(null);
