#!/usr/bin/env python3
"""Turns a bench/run.sh results folder into the markdown tables of docs/benchmarks.md.

usage: report.py RESULTS_DIR
"""
import statistics
import sys
from pathlib import Path


def fields(result: str) -> dict:
    return {k: float(v) for k, v in (p.split("=") for p in result.split()[1:])}


def table(rows: list, header: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    out = Path(sys.argv[1])
    runs: dict = {}
    order = []
    tsv = out / "throughput.tsv"
    for line in (tsv.read_text().splitlines()[1:] if tsv.exists() else []):
        _run, server, endpoint, result = line.split("\t")
        key = (server, endpoint)
        if key not in runs:
            order.append(key)
        runs.setdefault(key, []).append(fields(result))
    med = {}
    rows = []
    for key in order:
        rs = runs[key]
        rps = statistics.median(r["rps"] for r in rs)
        med[key] = rps
        rows.append([
            key[0], key[1],
            " / ".join(f"{r['rps'] / 1000:.1f}k" for r in rs),
            f"**{rps / 1000:.1f}k**",
            f"{statistics.median(r['p50_us'] for r in rs) / 1000:.2f}",
            f"{statistics.median(r['p99_us'] for r in rs) / 1000:.2f}",
            int(sum(r["non2xx"] for r in rs)),
            int(sum(r["connect"] + r["read"] + r["write"] + r["timeout"] for r in rs)),
        ])
    print("## Throughput (wrk -t1 -c32, medians)\n")
    print(table(rows, ["server", "endpoint", "req/s per run", "median req/s", "p50 ms", "p99 ms", "non-2xx", "socket errors"]))

    def ratio(a, b):
        return med[a] / med[b] if a in med and b in med else float("nan")

    def paired(a, b):
        # Runs of one pass lie seconds apart: their ratio drifts less than
        # a ratio of medians taken over the whole part.
        if a not in runs or b not in runs:
            return float("nan")
        return statistics.median(x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b]))

    sc, peer = "statecraft", "axum+tower-sessions"
    print("\n## Goals\n")
    goals = [
        ("stateful counter / stateless counter (statecraft)", ratio((sc, "stateful counter (memory)"), (sc, "stateless counter")), ">= 0.90"),
        ("stateful counter: statecraft / peer", ratio((sc, "stateful counter (memory)"), (peer, "stateful counter (memory)")), ">= 1.3"),
        ("cart add: statecraft / peer", ratio((sc, "cart add (memory)"), (peer, "cart add (memory)")), ">= 1.8"),
    ]
    logins = out / "logins.txt"
    if logins.exists():
        print("\nLogins, one at a time (Argon2id verification included):\n\n" + "\n".join(f"- {l}" for l in logins.read_text().splitlines()) + "\n")
    if (sc, "GET /profile (bearer token)") in med:
        goals.append(("GET /profile: bearer token / session cookie (memory)", ratio((sc, "GET /profile (bearer token)"), (sc, "GET /profile (session cookie)")), ">= 0.8"))
    scale = out / "scale.tsv"
    if scale.exists():
        by_live: dict = {}
        for line in scale.read_text().splitlines()[1:]:
            live, _run, rss, result = line.split("\t")
            by_live.setdefault(int(live), []).append((int(rss), fields(result)))
        lives = sorted(by_live)
        small, big = lives[0], lives[-1]
        rps_small = statistics.median(r["rps"] for _, r in by_live[small])
        rps_big = statistics.median(r["rps"] for _, r in by_live[big])
        goals.append((f"stateful counter at {big:,} / at {small:,} live sessions", rps_big / rps_small, ">= 0.90"))
        rows = []
        for live in lives:
            rs = by_live[live]
            rows.append([f"{live:,}", " / ".join(f"{r['rps'] / 1000:.1f}k" for _, r in rs),
                         f"**{statistics.median(r['rps'] for _, r in rs) / 1000:.1f}k**",
                         f"{statistics.median(r['p99_us'] for _, r in rs) / 1000:.2f}",
                         f"{max(rss for rss, _ in rs) / 1e6:.0f}"])
    memory = out / "memory.tsv"
    mem_rows = []
    per = {}
    if memory.exists():
        for line in memory.read_text().splitlines()[1:]:
            server, n, before, after = line.split("\t")
            b = (int(after) - int(before)) / int(n)
            per[server] = b
            mem_rows.append([server, f"{int(n):,}", f"{int(before) / 1e6:.1f} → {int(after) / 1e6:.1f}", f"**{b:,.0f}**"])
        if sc in per:
            goals.append(("bytes per session, statecraft (counter + 2-item cart)", per[sc], "<= 256"))
    # Shared stores (bench part "stores")
    store_lines = []
    bench_runs = sorted(out.glob("raw/redis-benchmark-*.txt"))
    incr = [float(f.read_text().split()[1]) for f in bench_runs if f.read_text().strip()]
    if incr:
        ceiling = statistics.median(incr)
        store_lines.append(f"redis-benchmark -t incr -c 32 (same Redis, same run): {' / '.join(f'{v / 1000:.1f}k' for v in incr)}, median **{ceiling / 1000:.1f}k** req/s")
        for endpoint in ["stateful counter (redis)", "cart add (redis)"]:
            goals.append((f"{endpoint}: statecraft / peer", ratio((sc, endpoint), (peer, endpoint)), ">= 2.5"))
            if (sc, endpoint) in med:
                goals.append((f"{endpoint}: statecraft / redis-benchmark incr", med[(sc, endpoint)] / ceiling, ">= 0.6"))
    cmds = out / "commandstats.tsv"
    cmd_rows = []
    if cmds.exists():
        for line in cmds.read_text().splitlines():
            server, endpoint, n, stats = (line.split("\t") + ["", "", "", ""])[:4]
            calls = {}
            for part in stats.split():
                name, _, rest = part.partition(":")
                fields_ = dict(kv.split("=") for kv in rest.split(",") if "=" in kv)
                if "calls" in fields_:
                    calls[name.removeprefix("cmdstat_")] = int(fields_["calls"])
            total = int(n) if n.isdigit() else 0
            each = ", ".join(f"{k} {v / total:.2f}" for k, v in sorted(calls.items()) if total and not k.startswith(("config", "info"))) or "-"
            cmd_rows.append([server, endpoint, f"{total:,}", each])
            if endpoint == "named counter (redis)" and total:
                goals.append(("Redis commands per named-counter increment (INCR)", calls.get("incr", 0) / total, "= 1 (+ in-flight)"))
    rmem = out / "redis-memory.tsv"
    if rmem.exists():
        for line in rmem.read_text().splitlines():
            server, n, before, after = line.split("\t")
            per[f"{server} (redis)"] = (int(after) - int(before)) / int(n)
    if "statecraft (redis)" in per:
        goals.append(("bytes per session in Redis, statecraft (readable JSON)", per["statecraft (redis)"], f"<= peer ({per.get('axum+tower-sessions (redis)', float('nan')):,.0f}) and <= 244"))
    # The gateway (bench part "gateway")
    gw_p50 = {}
    for key, rs in runs.items():
        if key[1] == "GET /healthz (c1)":
            gw_p50[key[0]] = statistics.median(r["p50_us"] for r in rs)
    c32 = next((k[1] for k in med if k[1].startswith("GET /healthz (c") and k[1] != "GET /healthz (c1)"), None)
    if c32:
        goals.append(("gateway / nginx (1 worker, the same forwarding headers), GET /healthz req/s", ratio(("statecraft gateway", c32), ("nginx (1 worker)", c32)), ">= 1.0"))
        goals.append(("the same, median of the passes' own ratios (each pass measures both within seconds)", paired(("statecraft gateway", c32), ("nginx (1 worker)", c32)), ">= 1.0"))
        goals.append(("gateway / nginx passing on X-Forwarded-For only, for reference", ratio(("statecraft gateway", c32), ("nginx (1 worker, X-Forwarded-For only)", c32)), "-"))
    if "statecraft gateway" in gw_p50 and "direct" in gw_p50:
        goals.append(("p50 added by the gateway, 1 connection (µs)", gw_p50["statecraft gateway"] - gw_p50["direct"], "< 100"))
    if "nginx (1 worker)" in gw_p50 and "direct" in gw_p50:
        goals.append(("p50 added by nginx, 1 connection (µs), for comparison", gw_p50["nginx (1 worker)"] - gw_p50["direct"], "-"))
    capr = out / "capacity-redis.txt"
    cap_redis = capr.read_text().split()[3] if capr.exists() and capr.read_text().strip() else None
    goals = [g for g in goals if g[1] == g[1]]  # drop goals whose part was not run (NaN)
    print(table([[g, f"{v:.2f}" if v < 100 else f"{v:,.0f}", want] for g, v, want in goals], ["goal", "measured", "target"]))
    if store_lines or cmd_rows:
        print("\n## Shared stores\n")
        for l in store_lines:
            print(l + "\n")
        if cmd_rows:
            print(table(cmd_rows, ["server", "endpoint", "requests (last run)", "Redis commands per request (INFO commandstats)"]))
        for name in ["statecraft (redis)", "axum+tower-sessions (redis)"]:
            if name in per:
                print(f"\nRedis used_memory per typical session, {name}: **{per[name]:,.0f} bytes**")
        if cap_redis:
            print(f"\nRedis used_memory per typical session, statecraft `capacity --measure` (no HTTP): **{cap_redis}**")
        caps = out / "capacity-sqlite.txt"
        if caps.exists() and caps.read_text().strip():
            print(f"\nSQLite file bytes per typical session (`capacity --measure`): **{caps.read_text().split()[3]}**")
    if scale.exists():
        print("\n## Scale: stateful counter vs live sessions (statecraft, memory store)\n")
        print(table(rows, ["live sessions", "req/s per run", "median req/s", "p99 ms", "RSS MB"]))
    if mem_rows:
        print("\n## Memory per session (counter + 2-item cart, 3 requests each)\n")
        print(table(mem_rows, ["server", "sessions", "RSS before → after (MB)", "bytes/session"]))
    cap = out / "capacity.txt"
    if cap.exists():
        print("\n`statecraft capacity --measure`:\n\n```\n" + cap.read_text().strip() + "\n```")
    env = out / "env.txt"
    if env.exists():
        print("\n```\n" + env.read_text().strip() + "\n```")


if __name__ == "__main__":
    main()
