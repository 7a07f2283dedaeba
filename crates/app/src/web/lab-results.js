// The lab page's results: one run's table, findings and formula lines, and
// two runs side by side with each figure's difference. Shared by lab.js.
"use strict";

const labResults = (() => {
  function fixed(value, digits) {
    return typeof value === "number" ? value.toFixed(digits) : "–";
  }

  function bytes(value) {
    if (typeof value !== "number") return "–";
    const units = [["GB", 1e9], ["MB", 1e6], ["KB", 1e3]];
    for (const [unit, scale] of units) if (value >= scale) return `${(value / scale).toFixed(1)} ${unit}`;
    return `${value} B`;
  }

  function errorsOtherThanSessions(s) {
    return Object.values(s.errors).reduce((a, b) => a + b, 0) - s.sessionsLost;
  }

  // Served / tried after the logout, and how many answers showed neither
  // (a store outage, no answer: not a revocation).
  function servedAfterLogout(r) {
    const inconclusive = Object.values(r.inconclusiveAfterLogout || {}).reduce((a, b) => a + b, 0);
    const served = `${r.acceptedAfterLogout}/${r.probes}`;
    return inconclusive ? `${served} (${inconclusive} inconclusive)` : served;
  }

  // Title, text, the number compared (null: not a number), digits.
  const COLUMNS = [
    ["requests/s", (s) => s.requestsPerSecond, 0],
    ["visits/s", (s) => s.visitsPerSecond, 1],
    ["p50 ms", (s) => s.latencyMs.p50, 2],
    ["p99 ms", (s) => s.latencyMs.p99, 2],
    ["sessions lost", (s) => s.sessionsLost, 0],
    ["sessions lost before the kill", (s) => s.sessionsLostBeforeKill, 0],
    ["other errors", errorsOtherThanSessions, 0],
    ["counter drift", (s) => s.counter.drift, 0],
    ["bytes/session", (s) => s.memory.serverBytesPerSession, 0],
    ["stateful − stateless ms", (s) => (s.overhead ? s.overhead.overheadMs : null), 3],
  ];

  function headRow(table, titles) {
    const head = table.createTHead().insertRow();
    titles.forEach((title, index) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      if (index > 0) th.className = "num";
      head.append(th);
    });
  }

  function render(results) {
    const table = document.createElement("table");
    const caption = document.createElement("caption");
    caption.textContent = `Run ${results.id || ""}: ${results.plan.users} users × ${results.plan.run} s per strategy, ${results.plan.instances || 3} instances, ${results.cores} cores; shared store: ${results.sharedStore}`;
    table.append(caption);
    headRow(table, ["strategy", ...COLUMNS.map(([title]) => title), "served after logout", "1M sessions"]);
    const body = table.createTBody();
    for (const s of results.strategies) {
      const row = body.insertRow();
      row.dataset.strategy = s.strategy;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = s.title;
      row.append(th);
      for (const [, value, digits] of COLUMNS) row.append(sc.cell(fixed(value(s), digits), "num"));
      row.append(sc.cell(s.revocation ? servedAfterLogout(s.revocation) : "–", "num"));
      row.append(sc.cell(bytes(s.memory.projected1m), "num"));
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

  // "+12.5 (+3.1%)" from a to b.
  function difference(a, b, digits) {
    if (typeof a !== "number" || typeof b !== "number") return "–";
    const delta = b - a;
    const sign = delta > 0 ? "+" : "";
    const percent = a !== 0 ? ` (${sign}${((delta / a) * 100).toFixed(1)}%)` : "";
    return `${sign}${delta.toFixed(digits)}${percent}`;
  }

  // Two runs side by side: for every strategy either ran, each figure in
  // A, in B, and B − A.
  function compare(a, b) {
    const table = document.createElement("table");
    table.id = "lab-comparison-table";
    const caption = document.createElement("caption");
    caption.textContent = `A: run ${a.id} · B: run ${b.id} (differences are B − A)`;
    table.append(caption);
    headRow(table, ["strategy / figure", "A", "B", "B − A"]);
    const body = table.createTBody();
    const ids = [...new Set([...a.strategies, ...b.strategies].map((s) => s.strategy))];
    for (const id of ids) {
      const sa = a.strategies.find((s) => s.strategy === id);
      const sb = b.strategies.find((s) => s.strategy === id);
      const title = body.insertRow();
      const th = document.createElement("th");
      th.scope = "rowgroup";
      th.colSpan = 4;
      th.textContent = (sa || sb).title;
      title.append(th);
      for (const [name, value, digits] of COLUMNS) {
        const va = sa ? value(sa) : null;
        const vb = sb ? value(sb) : null;
        const row = body.insertRow();
        row.className = "figure";
        row.append(sc.cell(name));
        row.append(sc.cell(fixed(va, digits), "num"));
        row.append(sc.cell(fixed(vb, digits), "num"));
        row.append(sc.cell(difference(va, vb, digits), "num"));
      }
    }
    return table;
  }

  return { render, compare, fixed };
})();
