#!/usr/bin/env bash
# Measures statecraft beside the axum + tower-sessions peer, in one run, on the
# same cores with the same wrk settings, and prints the tables for
# docs/benchmarks.md.
#
#   bench/run.sh                         # RUNS=3 DUR=10: about 18 minutes once built
#   RUNS=1 DUR=3 WARM=1 NSESS=20000 BIG=100000 bench/run.sh   # a quick smoke run
#
# Needs cargo, python3, taskset; installs Debian's wrk when absent. The peer is
# built from ../shared/peers (PEERS_SRC) in a copy under target/. Servers are
# pinned to core 0, wrk to core 1, all traffic on 127.0.0.1. Every process this
# script starts is stopped by its PID when it ends.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PEERS_SRC=${PEERS_SRC:-$ROOT/../shared/peers}
RUNS=${RUNS:-3}              # interleaved passes over every endpoint; medians reported
DUR=${DUR:-10}               # seconds per wrk run
WARM=${WARM:-2}              # seconds of warm-up per endpoint (first pass only)
CONNS=${CONNS:-32}           # wrk connections
NCOOKIES=${NCOOKIES:-4096}   # sessions the stateful load cycles over
NSESS=${NSESS:-100000}       # sessions created for the memory test
BIG=${BIG:-1000000}          # live sessions for the scale test
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
PARTS=${PARTS:-"throughput scale memory stores auth orders gateway"}  # which parts to run
REDIS_PORT=${REDIS_PORT:-6390}  # the bench's own redis-server
REDIS_CORE=${REDIS_CORE:-$SERVER_CORE}  # beside the servers by default, as in the peers' run
GW_RUNS=${GW_RUNS:-9}        # passes of the gateway part (short ones: see there)
GW_DUR=${GW_DUR:-4}          # seconds per wrk run in the gateway part
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/raw"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }

# ---- tools ---------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -q wrk >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; }
fi
for tool in cargo python3 taskset curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

log "building statecraft (release)"
(cd "$ROOT" && cargo build --release --quiet --bin statecraft)
STATECRAFT="$ROOT/target/release/statecraft"

[ -d "$PEERS_SRC/rust" ] || { echo "bench: peer sources not found at $PEERS_SRC (set PEERS_SRC)" >&2; exit 1; }
PEER_DIR=${PEER_DIR:-${TMPDIR:-/tmp}/statecraft-bench-peer}  # outside the workspace
mkdir -p "$PEER_DIR"
rm -rf "$PEER_DIR/rust-src" && cp -r "$PEERS_SRC/rust" "$PEER_DIR/rust-src"
log "building the axum + tower-sessions peer (release)"
(cd "$PEER_DIR/rust-src" && CARGO_TARGET_DIR="$PEER_DIR/target" cargo build --release --quiet)
PEER="$PEER_DIR/target/release/axum-sessions"

# ---- processes -------------------------------------------------------------
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME PORT CMD... : runs CMD pinned to the server core, waits for the
# port; the PID is left in STARTED.
start() {
  local name=$1 port=$2; shift 2
  taskset -c "${START_CORE:-$SERVER_CORE}" "$@" >"$OUT/raw/$name.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "bench: $name did not start on port $port" >&2; exit 1
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }

SERVE=(env -u RUST_LOG "$STATECRAFT" serve --insecure-cookies --instance-id bench --data "sqlite:$OUT/data" --listen)

# wrkrun FILE SECONDS URL SCRIPT [ARGS...] : one wrk run, its RESULT line to FILE
wrkrun() {
  local file=$1 secs=$2 url=$3 script=$4; shift 4
  local args=()
  [ $# -gt 0 ] && args=(-- "$@")
  taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 2s -s "$BENCH/lua/$script" "$url" "${args[@]}" >"$file" 2>&1
}

result() { grep '^RESULT' "$1" | tail -n 1; }

# measure RUN TAG SERVER ENDPOINT URL SCRIPT [ARGS...] : one measured wrk run
# (after a warm-up in run 1), its line appended to throughput.tsv and logged
measure() {
  local run=$1 tag=$2 server=$3 endpoint=$4 url=$5 script=$6; shift 6
  if [ "$run" -eq 1 ] && [ "$WARM" -gt 0 ]; then wrkrun "$OUT/raw/warm-$tag.txt" "$WARM" "$url" "$script" "$@"; fi
  wrkrun "$OUT/raw/run$run-$tag.txt" "$DUR" "$url" "$script" "$@"
  local line; line=$(result "$OUT/raw/run$run-$tag.txt")
  [ -f "$OUT/throughput.tsv" ] || printf 'run\tserver\tendpoint\t%s\n' "result" >"$OUT/throughput.tsv"
  printf '%s\t%s\t%s\t%s\n' "$run" "$server" "$endpoint" "$line" >>"$OUT/throughput.tsv"
  log "run $run: $server, $endpoint: $(echo "$line" | sed 's/.*rps=\([0-9.]*\).*p50_us=\([0-9]*\).*p99_us=\([0-9]*\).*non2xx=\([0-9]*\).*/\1 req\/s, p50 \2 us, p99 \3 us, non2xx \4/')"
}

# fill PORT N MODE : creates N sessions (typical: counter + 2-item cart; counter: counter only)
fill() {
  local port=$1 n=$2 mode=$3 conns=1
  [ "$mode" = counter ] && conns=$CONNS
  taskset -c "$LOAD_CORE" wrk -t1 -c"$conns" -d3600s --timeout 5s -s "$BENCH/lua/fill.lua" \
    "http://127.0.0.1:$port/" -- "$n" "$mode" >"$OUT/raw/fill-$port-$n-$mode.txt" 2>&1
}

want() { case " $PARTS " in *" $1 "*) return 0;; *) return 1;; esac; }

# ---- throughput -----------------------------------------------------------
if want throughput; then
log "throughput: RUNS=$RUNS DUR=${DUR}s WARM=${WARM}s wrk -t1 -c$CONNS, $NCOOKIES sessions per stateful load"
SC_PORT=3301; PEER_PORT=3302
start statecraft $SC_PORT "${SERVE[@]}" 127.0.0.1:$SC_PORT; SC_PID=$STARTED
start peer $PEER_PORT env PORT=$PEER_PORT STORE=memory "$PEER"; PEER_PID=$STARTED
# Separate sessions for the counter and the cart loads, so that the counter's
# sessions stay as small as they start (a peer that rewrites the whole session
# per request slows down as carts grow).
for mode in increment cart; do
  python3 "$BENCH/mkcookies.py" $SC_PORT "$NCOOKIES" >"$OUT/cookies-statecraft-$mode.txt"
  python3 "$BENCH/mkcookies.py" $PEER_PORT "$NCOOKIES" >"$OUT/cookies-peer-$mode.txt"
done

# server|endpoint|url|script|args
CASES=(
  "statecraft|GET /healthz|http://127.0.0.1:$SC_PORT/healthz|get.lua|"
  "statecraft|stateless counter|http://127.0.0.1:$SC_PORT/increment|stateless.lua|"
  "statecraft|stateful counter (memory)|http://127.0.0.1:$SC_PORT/increment|stateful.lua|$OUT/cookies-statecraft-increment.txt increment"
  "statecraft|cart add (memory)|http://127.0.0.1:$SC_PORT/cart/items|stateful.lua|$OUT/cookies-statecraft-cart.txt cart"
  "axum+tower-sessions|GET /hello|http://127.0.0.1:$PEER_PORT/hello|get.lua|"
  "axum+tower-sessions|stateless counter|http://127.0.0.1:$PEER_PORT/stateless/increment|stateless.lua|"
  "axum+tower-sessions|stateful counter (memory)|http://127.0.0.1:$PEER_PORT/increment|stateful.lua|$OUT/cookies-peer-increment.txt increment"
  "axum+tower-sessions|cart add (memory)|http://127.0.0.1:$PEER_PORT/cart/items|stateful.lua|$OUT/cookies-peer-cart.txt cart"
)
rm -f "$OUT/throughput.tsv"
for run in $(seq "$RUNS"); do
  for i in "${!CASES[@]}"; do
    IFS='|' read -r server endpoint url script args <<<"${CASES[$i]}"
    # shellcheck disable=SC2086
    measure "$run" "$i" "$server" "$endpoint" "$url" "$script" $args
  done
done
stop "$SC_PID"; stop "$PEER_PID"
fi

# ---- scale: 1,000 vs 1,000,000 live sessions -----------------------------
if want scale; then
log "scale: stateful counter with 1,000 then $BIG live sessions"
BIG_PORT=3321
start statecraft-big $BIG_PORT "${SERVE[@]}" 127.0.0.1:$BIG_PORT; BIG_PID=$STARTED
python3 "$BENCH/mkcookies.py" $BIG_PORT 256 >"$OUT/cookies-big.txt"
fill $BIG_PORT 744 counter
printf 'live_sessions\trun\trss_bytes\tresult\n' >"$OUT/scale.tsv"
for phase in small big; do
  if [ "$phase" = big ]; then
    log "filling to $BIG sessions"
    fill $BIG_PORT $((BIG - 1000)) counter
    live=$BIG
  else
    live=1000
  fi
  wrkrun "$OUT/raw/scale-warm-$phase.txt" "$WARM" "http://127.0.0.1:$BIG_PORT/increment" stateful.lua "$OUT/cookies-big.txt" increment
  for run in $(seq "$RUNS"); do
    wrkrun "$OUT/raw/scale-$phase-$run.txt" "$DUR" "http://127.0.0.1:$BIG_PORT/increment" stateful.lua "$OUT/cookies-big.txt" increment
    printf '%s\t%s\t%s\t%s\n' "$live" "$run" "$(rss "$BIG_PID")" "$(result "$OUT/raw/scale-$phase-$run.txt")" >>"$OUT/scale.tsv"
  done
  log "$live live sessions: $(curl -s "http://127.0.0.1:$BIG_PORT/metrics" | grep '^statecraft_live_sessions')"
done
stop "$BIG_PID"
fi

# ---- memory per session ---------------------------------------------------
if want memory; then
log "memory: $NSESS sessions of a counter and a 2-item cart, 3 requests each"
printf 'server\tsessions\trss_before\trss_after\n' >"$OUT/memory.tsv"
for server in statecraft axum+tower-sessions; do
  port=3311
  if [ "$server" = statecraft ]; then
    start mem-statecraft $port "${SERVE[@]}" 127.0.0.1:$port
  else
    port=3312
    start mem-peer $port env PORT=$port STORE=memory "$PEER"
  fi
  pid=$STARTED
  fill $port 1000 typical # warm-up, stays in the baseline
  sleep 1
  before=$(rss "$pid")
  fill $port "$NSESS" typical
  sleep 1
  after=$(rss "$pid")
  printf '%s\t%s\t%s\t%s\n' "$server" "$NSESS" "$before" "$after" >>"$OUT/memory.tsv"
  log "$server: RSS $before -> $after bytes"
  stop "$pid"
done
"$STATECRAFT" capacity --measure --sessions "$NSESS" >"$OUT/capacity.txt" 2>/dev/null
log "statecraft capacity --measure: $(head -n 1 "$OUT/capacity.txt")"
fi

# ---- shared stores: sqlite and redis -------------------------------------
if want stores; then
log "stores: statecraft on sqlite and redis, the peer on redis, redis-benchmark as the ceiling"
command -v redis-server >/dev/null || { echo "bench: redis-server is required (apt-get install redis-server)" >&2; exit 1; }
RCLI=(redis-cli -p "$REDIS_PORT")
START_CORE=$REDIS_CORE start redis "$REDIS_PORT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no; REDIS_PID=$STARTED
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
RS_PORT=3331; SQ_PORT=3332; PR_PORT=3333
rm -f "$OUT/bench.db" "$OUT/bench.db-wal" "$OUT/bench.db-shm"
start statecraft-redis $RS_PORT "${SERVE[@]}" 127.0.0.1:$RS_PORT --session-store "$REDIS_URL"; RS_PID=$STARTED
start statecraft-sqlite $SQ_PORT "${SERVE[@]}" 127.0.0.1:$SQ_PORT --session-store "sqlite:$OUT/bench.db"; SQ_PID=$STARTED
start peer-redis $PR_PORT env PORT=$PR_PORT STORE=redis REDIS_URL="$REDIS_URL" "$PEER"; PR_PID=$STARTED
for name in statecraft-redis:$RS_PORT statecraft-sqlite:$SQ_PORT peer-redis:$PR_PORT; do
  for mode in increment cart; do
    python3 "$BENCH/mkcookies.py" "${name#*:}" "$NCOOKIES" >"$OUT/cookies-${name%%:*}-$mode.txt"
  done
done
SCASES=(
  "statecraft|stateful counter (redis)|http://127.0.0.1:$RS_PORT/increment|stateful.lua|$OUT/cookies-statecraft-redis-increment.txt increment"
  "statecraft|cart add (redis)|http://127.0.0.1:$RS_PORT/cart/items|stateful.lua|$OUT/cookies-statecraft-redis-cart.txt cart"
  "statecraft|named counter (redis)|http://127.0.0.1:$RS_PORT/counters/bench/increment|post.lua|"
  "statecraft|stateful counter (sqlite)|http://127.0.0.1:$SQ_PORT/increment|stateful.lua|$OUT/cookies-statecraft-sqlite-increment.txt increment"
  "statecraft|cart add (sqlite)|http://127.0.0.1:$SQ_PORT/cart/items|stateful.lua|$OUT/cookies-statecraft-sqlite-cart.txt cart"
  "axum+tower-sessions|stateful counter (redis)|http://127.0.0.1:$PR_PORT/increment|stateful.lua|$OUT/cookies-peer-redis-increment.txt increment"
  "axum+tower-sessions|cart add (redis)|http://127.0.0.1:$PR_PORT/cart/items|stateful.lua|$OUT/cookies-peer-redis-cart.txt cart"
)
[ -f "$OUT/throughput.tsv" ] || printf 'run\tserver\tendpoint\t%s\n' "result" >"$OUT/throughput.tsv"
for run in $(seq "$RUNS"); do
  for i in "${!SCASES[@]}"; do
    IFS='|' read -r server endpoint url script args <<<"${SCASES[$i]}"
    # shellcheck disable=SC2086
    if [ "$run" -eq 1 ] && [ "$WARM" -gt 0 ]; then wrkrun "$OUT/raw/swarm-$i.txt" "$WARM" "$url" "$script" $args; fi
    "${RCLI[@]}" config resetstat >/dev/null
    # shellcheck disable=SC2086
    wrkrun "$OUT/raw/srun$run-$i.txt" "$DUR" "$url" "$script" $args
    line=$(result "$OUT/raw/srun$run-$i.txt")
    printf '%s\t%s\t%s\t%s\n' "$run" "$server" "$endpoint" "$line" >>"$OUT/throughput.tsv"
    # Redis commands per request: calls in INFO commandstats / requests wrk completed.
    "${RCLI[@]}" info commandstats | tr -d '\r' | grep '^cmdstat_' >"$OUT/raw/scmd$run-$i.txt" || true
    log "run $run: $server, $endpoint: $(echo "$line" | sed 's/.*rps=\([0-9.]*\).*/\1 req\/s/')"
  done
  "${RCLI[@]}" config resetstat >/dev/null
  taskset -c "$LOAD_CORE" redis-benchmark -p "$REDIS_PORT" -q -n 200000 -t incr -P 1 -c "$CONNS" \
    | tr '\r' '\n' | grep -E 'INCR: [0-9.]+ requests per second' | tail -n 1 >"$OUT/raw/redis-benchmark-$run.txt"
  log "run $run: redis-benchmark -t incr -c $CONNS: $(cat "$OUT/raw/redis-benchmark-$run.txt")"
done
# the commandstats of each statecraft/peer case in the last run, for the report
for i in "${!SCASES[@]}"; do
  IFS='|' read -r server endpoint _ <<<"${SCASES[$i]}"
  n=$(result "$OUT/raw/srun$RUNS-$i.txt" | sed 's/.*requests=\([0-9]*\).*/\1/')
  printf '%s\t%s\t%s\t%s\n' "$server" "$endpoint" "$n" "$(tr '\n' ' ' <"$OUT/raw/scmd$RUNS-$i.txt")"
done >"$OUT/commandstats.tsv"
stop "$RS_PID"; stop "$SQ_PID"; stop "$PR_PID"
"${RCLI[@]}" flushall >/dev/null
"$STATECRAFT" capacity --measure --sessions "$NSESS" --session-store "$REDIS_URL" >"$OUT/capacity-redis.txt" 2>/dev/null
# used_memory per session, both servers filled the same way over HTTP: 1,000
# sessions first (so the dicts' first growths are not counted), then NSESS more
used_memory() { "${RCLI[@]}" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }
: >"$OUT/redis-memory.tsv"
for server in statecraft axum+tower-sessions; do
  "${RCLI[@]}" flushall >/dev/null
  if [ "$server" = statecraft ]; then
    start mem-statecraft-redis 3334 "${SERVE[@]}" 127.0.0.1:3334 --session-store "$REDIS_URL"; pid=$STARTED
  else
    start mem-peer-redis 3334 env PORT=3334 STORE=redis REDIS_URL="$REDIS_URL" "$PEER"; pid=$STARTED
  fi
  fill 3334 1000 typical
  before=$(used_memory)
  fill 3334 "$NSESS" typical
  after=$(used_memory)
  stop "$pid"
  printf '%s\t%s\t%s\t%s\n' "$server" "$NSESS" "$before" "$after" >>"$OUT/redis-memory.tsv"
done
rm -f "$OUT/bench.db"*
"$STATECRAFT" capacity --measure --sessions "$NSESS" --session-store "sqlite:$OUT/bench.db" >"$OUT/capacity-sqlite.txt" 2>/dev/null
rm -f "$OUT/bench.db"*
stop "$REDIS_PID"
fi

# ---- auth: GET /profile by session cookie vs by bearer token ----------------
if want auth; then
log "auth: GET /profile by session cookie and by bearer token, memory store"
AU_PORT=3341
start statecraft-auth $AU_PORT "${SERVE[@]}" 127.0.0.1:$AU_PORT; AU_PID=$STARTED
python3 "$BENCH/mklogins.py" $AU_PORT 256 cookie 2>>"$OUT/logins.txt" >"$OUT/logins-cookie.txt"
python3 "$BENCH/mklogins.py" $AU_PORT 256 bearer 2>>"$OUT/logins.txt" >"$OUT/logins-bearer.txt"
log "$(tr '\n' ';' <"$OUT/logins.txt")"
ACASES=(
  "statecraft|GET /profile (session cookie)|http://127.0.0.1:$AU_PORT/profile|profile.lua|$OUT/logins-cookie.txt cookie"
  "statecraft|GET /profile (bearer token)|http://127.0.0.1:$AU_PORT/profile|profile.lua|$OUT/logins-bearer.txt bearer"
)
for run in $(seq "$RUNS"); do
  for i in "${!ACASES[@]}"; do
    IFS='|' read -r server endpoint url script args <<<"${ACASES[$i]}"
    # shellcheck disable=SC2086
    measure "$run" "auth-$i" "$server" "$endpoint" "$url" "$script" $args
  done
done
stop "$AU_PID"
fi

# ---- orders: POST /orders per backend pair ------------------------------------
# SQLite + in-process bus always; PostgreSQL + NATS JetStream when both answer
# (BENCH_PG_URL, BENCH_NATS_URL; a database of its own, dropped afterwards).
if want orders; then
log "orders: POST /orders, SQLite + in-process bus, and PostgreSQL + NATS when available"
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}
BENCH_NATS_URL=${BENCH_NATS_URL:-nats://127.0.0.1:4222}
OCASES=("sqlite + in-process bus|3351|sqlite:$OUT/orders-data|memory")
BENCH_DB="statecraft_bench_$$"
if psql "$BENCH_PG_URL" -qAt -c "CREATE DATABASE $BENCH_DB" >/dev/null 2>&1 && (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  OCASES+=("postgresql + NATS JetStream|3352|${BENCH_PG_URL%/*}/$BENCH_DB|$BENCH_NATS_URL")
fi
for case in "${OCASES[@]}"; do
  IFS='|' read -r label port data events <<<"$case"
  start "orders-$port" "$port" env -u RUST_LOG "$STATECRAFT" serve --insecure-cookies --instance-id bench \
    --listen "127.0.0.1:$port" --data "$data" --events "$events" --events-namespace "bench-$$" \
    --keys-dir "$OUT/keys"; pid=$STARTED
  python3 "$BENCH/mklogins.py" "$port" 64 bearer 2>/dev/null >"$OUT/orders-tokens-$port.txt"
  for run in $(seq "$RUNS"); do
    measure "$run" "orders-$port" statecraft "POST /orders ($label)" "http://127.0.0.1:$port/orders" orders.lua "$OUT/orders-tokens-$port.txt"
  done
  stop "$pid"
done
psql "$BENCH_PG_URL" -qAt -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
fi

# ---- gateway: the instance direct, behind the gateway, behind nginx --------------
# One instance on the server core; the proxy (gateway or nginx with one worker
# and keep-alive upstream connections) on the same core, so that neither gets a
# core of its own; wrk on the load core. GET /healthz, so the proxy's cost is
# most of what is measured: at 32 connections for requests/s, at 1 for the
# latency a proxy adds.
if want gateway; then
log "gateway: GET /healthz direct, through statecraft gateway, through nginx (1 worker)"
if ! command -v nginx >/dev/null; then
  log "installing nginx from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # No service may start at install: the bench starts its own nginx.
  NO_START=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d && NO_START=1
  fi
  $SUDO apt-get install -y -q nginx >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q nginx >/dev/null; }
  [ -n "$NO_START" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
GW_APP=3361; GW_PORT=3362; NGX_PORT=3363; NGX_XFF_PORT=3364
start gw-app $GW_APP "${SERVE[@]}" 127.0.0.1:$GW_APP; GW_APP_PID=$STARTED
start gateway $GW_PORT env -u RUST_LOG "$STATECRAFT" gateway --listen 127.0.0.1:$GW_PORT \
  --upstream "http://127.0.0.1:$GW_APP" --balance round-robin; GW_PID=$STARTED
# nginx as it would stand in front of this app doing the gateway's job: the
# forwarding headers the gateway must pass on (X-Forwarded-For and -Proto, the
# client's request ID or a new one). The new ID is the cheapest unique one
# nginx can make (worker, connection and request serials), as the gateway's
# is a prefix and a counter: nginx's random $request_id costs it ~7% more
# requests/s, which would flatter the gateway. Beside it the same nginx
# passing on only X-Forwarded-For, the bare proxy of earlier runs.
nginx_conf() {  # nginx_conf NAME PORT EXTRA-DIRECTIVES
  local dir="$OUT/$1"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
user root;
pid $dir/nginx.pid;
error_log $OUT/raw/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  map \$http_x_request_id \$forward_request_id { default \$http_x_request_id; "" \$pid-\$connection-\$connection_requests; }
  upstream app { server 127.0.0.1:$GW_APP; keepalive 64; }
  server {
    listen 127.0.0.1:$2;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      $3
    }
  }
}
NGINX
  echo "$dir/nginx.conf"
}
conf=$(nginx_conf nginx $NGX_PORT 'proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Request-Id $forward_request_id;')
start nginx $NGX_PORT nginx -c "$conf" -e "$OUT/raw/nginx-error.log"; NGX_PID=$STARTED
conf=$(nginx_conf nginx-xff $NGX_XFF_PORT '')
start nginx-xff $NGX_XFF_PORT nginx -c "$conf" -e "$OUT/raw/nginx-xff-error.log"; NGX_XFF_PID=$STARTED
# Two proxies a few percent apart on a machine whose speed moves by more than
# that within a minute: many short passes, each visiting every target in an
# order rotated by one from the last, so that no target is always measured
# first or just after another; medians over the passes.
TARGETS=("direct|$GW_APP" "statecraft gateway|$GW_PORT" "nginx (1 worker)|$NGX_PORT"
  "nginx (1 worker, X-Forwarded-For only)|$NGX_XFF_PORT")
for run in $(seq "$GW_RUNS"); do
  for k in "${!TARGETS[@]}"; do
    IFS='|' read -r label port <<<"${TARGETS[$(((k + run) % ${#TARGETS[@]}))]}"
    DUR=$GW_DUR measure "$run" "gw-$port" "$label" "GET /healthz (c$CONNS)" "http://127.0.0.1:$port/healthz" get.lua
    DUR=$GW_DUR CONNS=1 measure "$run" "gw1-$port" "$label" "GET /healthz (c1)" "http://127.0.0.1:$port/healthz" get.lua
  done
done
stop "$NGX_XFF_PID"; stop "$NGX_PID"; stop "$GW_PID"; stop "$GW_APP_PID"
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "settings: RUNS=$RUNS DUR=$DUR WARM=$WARM CONNS=$CONNS NCOOKIES=$NCOOKIES NSESS=$NSESS BIG=$BIG GW_RUNS=$GW_RUNS GW_DUR=$GW_DUR"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "tools: $(rustc --version), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
} >"$OUT/env.txt"
python3 "$BENCH/report.py" "$OUT" | tee "$OUT/summary.md"
