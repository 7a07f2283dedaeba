#!/usr/bin/env bash
# Sessions on one Redis and on a Redis Cluster of three masters, side by side
# in one run: requests/s of the stateful counter and cart adds (wrk -t1 -c32,
# DUR seconds each, 4,096 sessions), how the keys of 20,000 sessions spread
# over the masters, and bytes per session (`capacity --measure`). Each Redis
# is this script's own, on free loopback ports. Figures for docs/scaling.md.
#   DUR=10 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
OUT=${OUT:-target/cluster-bench}
rm -rf "$OUT"
mkdir -p "$OUT"
NAME=cluster
# shellcheck source=bench/common.sh
source bench/common.sh
# A cluster node also listens on its port + 10000 (the cluster bus): a free
# pair below 55536.
free_node_port() {
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 29999)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
require redis-server redis-cli wrk curl python3 bc
release_build

redis_at() { # redis_at PORT [cluster]
  mkdir -p "$OUT/redis-$1"
  local extra=()
  [ "${2:-}" = cluster ] && extra=(--cluster-enabled yes --cluster-config-file nodes.conf)
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT/redis-$1" \
    "${extra[@]}" --loglevel warning >"$OUT/redis-$1.log" 2>&1 &
  spawned $!
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
SINGLE=$(free_port)
redis_at "$SINGLE"
MASTERS=("$(free_node_port)" "$(free_node_port)" "$(free_node_port)")
for port in "${MASTERS[@]}"; do redis_at "$port" cluster; done
redis-cli --cluster create "${MASTERS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do
  redis-cli -p "${MASTERS[0]}" cluster info | grep -q '^cluster_state:ok' && break
  sleep 0.2
done
CLUSTER_URL="redis+cluster://$(printf '127.0.0.1:%s,' "${MASTERS[@]}" | sed 's/,$//')"

serve() { # serve NAME STORE: sets PORT
  PORT=$(free_port)
  mkdir -p "$OUT/data-$1"
  "$STATECRAFT" serve --listen "127.0.0.1:$PORT" --insecure-cookies --session-store "$2" \
    --counter-store "$2" --data "sqlite:$OUT/data-$1" --keys-dir "$OUT/data-$1/keys" >"$OUT/$1.log" 2>&1 &
  spawned $!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
}
serve single "redis://127.0.0.1:$SINGLE"; SINGLE_APP=$PORT
serve cluster "$CLUSTER_URL"; CLUSTER_APP=$PORT

printf '| store | endpoint | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n' >"$OUT/throughput.md"
for pair in "one Redis|$SINGLE_APP" "Redis Cluster (3 masters)|$CLUSTER_APP"; do
  name=${pair%|*}; port=${pair#*|}
  for endpoint in "stateful counter|/increment|increment" "cart add|/cart/items|cart"; do
    IFS='|' read -r label path mode <<<"$endpoint"
    python3 bench/mkcookies.py "$port" 4096 >"$OUT/cookies-$port-$mode.txt"
    wrk -t1 -c32 -d"${DUR}s" --latency -s bench/lua/stateful.lua "http://127.0.0.1:$port$path" \
      -- "$OUT/cookies-$port-$mode.txt" "$mode" >"$OUT/wrk-$port-$mode.txt" 2>&1
    field() { grep -o " $1=[0-9.]*" "$OUT/wrk-$port-$mode.txt" | head -1 | cut -d= -f2; }
    printf '| %s | %s | %.0f | %.2f | %.2f | %s |\n' "$name" "$label" "$(field rps)" \
      "$(echo "$(field p50_us) / 1000" | bc -l)" "$(echo "$(field p99_us) / 1000" | bc -l)" \
      "$(field non2xx)" | tee -a "$OUT/throughput.md"
  done
done

log "filling 20,000 sessions on the cluster"
wrk -t1 -c1 -d600s -s bench/lua/fill.lua "http://127.0.0.1:$CLUSTER_APP/" -- 20000 typical >"$OUT/fill.txt" 2>&1
printf '\nKeys per master after 20,000 sessions (plus the load'"'"'s 8,192):\n\n| master | slots | keys |\n|---|---|---|\n' >"$OUT/spread.md"
for port in "${MASTERS[@]}"; do
  slots=$(redis-cli -p "$port" cluster nodes | awk '/myself/ {n=0; for (i=9;i<=NF;i++) {split($i,r,"-"); n+=r[2]-r[1]+1}; print n}')
  printf '| 127.0.0.1:%s | %s | %s |\n' "$port" "$slots" "$(redis-cli -p "$port" dbsize)" >>"$OUT/spread.md"
done
cat "$OUT/spread.md"

log "bytes per session (capacity --measure, 20,000 sessions each)"
for store in "redis://127.0.0.1:$SINGLE" "$CLUSTER_URL"; do
  "$STATECRAFT" capacity --measure --sessions 20000 --session-store "$store" 2>/dev/null |
    grep -i "measured session size" | sed "s|^|$store: |"
done
