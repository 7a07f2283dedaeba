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

    sc, peer = "statecraft", "axum+tower-sessions"
    print("\n## Goals\n")
    goals = [
        ("stateful counter / stateless counter (statecraft)", ratio((sc, "stateful counter (memory)"), (sc, "stateless counter")), ">= 0.90"),
        ("stateful counter: statecraft / peer", ratio((sc, "stateful counter (memory)"), (peer, "stateful counter (memory)")), ">= 1.3"),
        ("cart add: statecraft / peer", ratio((sc, "cart add (memory)"), (peer, "cart add (memory)")), ">= 1.8"),
    ]
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
    print(table([[g, f"{v:.2f}" if v < 100 else f"{v:,.0f}", want] for g, v, want in goals], ["goal", "measured", "target"]))
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
