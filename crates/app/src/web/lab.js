// The lab page: the latest `statecraft lab` results, side by side, from the
// results.json the server was pointed at (`serve --lab-results DIR`).
"use strict";

function fixed(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

function bytes(value) {
  if (typeof value !== "number") return "–";
  const units = [["GB", 1e9], ["MB", 1e6], ["KB", 1e3]];
  for (const [unit, scale] of units) if (value >= scale) return `${(value / scale).toFixed(1)} ${unit}`;
  return `${value} B`;
}

const COLUMNS = [
  ["strategy", (s) => s.title, false],
  ["requests/s", (s) => fixed(s.requestsPerSecond, 0), true],
  ["visits/s", (s) => fixed(s.visitsPerSecond, 1), true],
  ["p50 ms", (s) => fixed(s.latencyMs.p50, 2), true],
  ["p99 ms", (s) => fixed(s.latencyMs.p99, 2), true],
  ["sessions lost (before the kill)", (s) => `${s.sessionsLost} (${s.sessionsLostBeforeKill})`, true],
  ["other errors", (s) => String(Object.values(s.errors).reduce((a, b) => a + b, 0) - s.sessionsLost), true],
  ["served after logout", (s) => (s.revocation ? servedAfterLogout(s.revocation) : "–"), true],
  ["counter drift", (s) => String(s.counter.drift), true],
  ["bytes/session", (s) => String(s.memory.serverBytesPerSession), true],
  ["1M sessions", (s) => bytes(s.memory.projected1m), true],
  ["bytes/token logout", (s) => (s.memory.tokenCost ? String(s.memory.tokenCost.logoutBytes) : "–"), true],
  ["stateful − stateless ms", (s) => (s.overhead ? fixed(s.overhead.overheadMs, 3) : "–"), true],
];

// Served / tried after the logout, and how many answers showed neither
// (a store outage, no answer: not a revocation).
function servedAfterLogout(r) {
  const inconclusive = Object.values(r.inconclusiveAfterLogout || {}).reduce((a, b) => a + b, 0);
  const served = `${r.acceptedAfterLogout}/${r.probes}`;
  return inconclusive ? `${served} (${inconclusive} inconclusive)` : served;
}

function render(results) {
  const table = document.createElement("table");
  const caption = document.createElement("caption");
  caption.textContent = `${results.quick ? "Quick" : "Full"} run: ${results.plan.users} users × ${results.plan.run} s per strategy, ${results.cores} cores; shared store: ${results.sharedStore}`;
  table.append(caption);
  const head = table.createTHead().insertRow();
  for (const [title, , numeric] of COLUMNS) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    if (numeric) th.className = "num";
    head.append(th);
  }
  const body = table.createTBody();
  for (const strategy of results.strategies) {
    const row = body.insertRow();
    row.dataset.strategy = strategy.strategy;
    COLUMNS.forEach(([, value, numeric], index) => {
      const cell = document.createElement(index === 0 ? "th" : "td");
      if (index === 0) cell.scope = "row";
      cell.textContent = value(strategy);
      if (numeric) cell.className = "num";
      row.append(cell);
    });
  }
  sc.el("lab-table").replaceChildren(table);
  const findings = sc.el("lab-findings");
  findings.replaceChildren();
  for (const text of results.findings || []) {
    const item = document.createElement("li");
    item.textContent = text;
    findings.append(item);
  }
  const lines = sc.el("lab-lines");
  lines.replaceChildren();
  for (const s of results.strategies) {
    if (!s.overhead) continue;
    const item = document.createElement("li");
    item.textContent = `${s.title}: Stateful average request time: ${fixed(s.overhead.statefulMs, 3)} ms (${s.overhead.statefulForm}); ` +
      `Stateless average request time: ${fixed(s.overhead.statelessMs, 3)} ms; ` +
      `Estimated memory required for session state: ${bytes(s.memory.projected1m)} for 1,000,000 sessions.`;
    lines.append(item);
  }
}

(async () => {
  const answer = await sc.call("GET", "/lab/results.json");
  const status = sc.el("lab-status");
  if (!answer.ok) {
    status.textContent = answer.status === 404
      ? "No lab results yet: run `statecraft lab --quick`, then start the server where it wrote them (or with --lab-results DIR)."
      : `The server answered ${sc.summary(answer)}.`;
    return;
  }
  const when = new Date(answer.body.startedAtMs);
  status.textContent = `Run of ${when.toLocaleString()}, ${fixed(answer.body.totalSeconds, 0)} s in all.`;
  render(answer.body);
  sc.el("lab-report").hidden = false;
})();
