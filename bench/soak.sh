#!/usr/bin/env bash
# The soak: MINUTES (default 30) of mixed load on two servers at once, one
# with the memory store and one with Redis (a redis-server of its own on a free
# loopback port), each first filled with NSESS (default 100000) live sessions.
# Every minute it prints each server's RSS and live sessions and Redis's
# used_memory: after warm-up they must stay flat (the only growth allowed is
# the new sessions the load creates, each costing what a session costs).
# Errors are both kinds: answers that were not 2xx, and socket errors (wrk's
# connect, read, write and timeout counts), each per minute. The table and the
# command that made it are kept in bench/results/soak-<time>/.
# Not in CI (it takes half an hour); figures in docs/reliability.md.
#   MINUTES=10 NSESS=20000 bench/soak.sh      # a shorter pass
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(…) stops the soak too
cd "$(dirname "$0")/.."
BENCH=bench
MINUTES=${MINUTES:-30}
NSESS=${NSESS:-100000}
CONNS=${CONNS:-16}
OUT=${OUT:-bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
printf 'MINUTES=%s NSESS=%s CONNS=%s bench/soak.sh  # %s, commit %s\n' "$MINUTES" "$NSESS" "$CONNS" \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$OUT/command.txt"
NAME=soak
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -q wrk >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; }
fi
require redis-server redis-cli curl python3
release_build

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --loglevel warning >"$OUT/redis.log" 2>&1 &
spawned $!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

start() { # start NAME STORE : a serve process; sets PORT and PID
  PORT=$(free_port)
  mkdir -p "$OUT/data-$1"
  "$STATECRAFT" serve --listen "127.0.0.1:$PORT" --insecure-cookies --session-store "$2" \
    --data "sqlite:$OUT/data-$1" --keys-dir "$OUT/data-$1/keys" \
    --idle-timeout 2h --absolute-timeout 24h >"$OUT/$1.log" 2>&1 &
  PID=$!
  spawned "$PID"
}
start memory memory; MEM_PORT=$PORT; MEM_PID=$PID
start redis "redis://127.0.0.1:$REDIS_PORT"; RED_PORT=$PORT; RED_PID=$PID
for port in "$MEM_PORT" "$RED_PORT"; do
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done

rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
live() { curl -s "127.0.0.1:$1/metrics" | awk '/^statecraft_live_sessions / {print $2}'; }
used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }

log "filling $NSESS sessions on each (a counter and a 2-item cart)"
FILLS=()
for port in "$MEM_PORT" "$RED_PORT"; do
  wrk -t1 -c1 -d3600s --timeout 5s -s "$BENCH/lua/fill.lua" "http://127.0.0.1:$port/" -- "$NSESS" typical \
    >"$OUT/fill-$port.txt" 2>&1 &
  FILLS+=($!)
done
wait "${FILLS[@]}"
for port in "$MEM_PORT" "$RED_PORT"; do
  python3 "$BENCH/mkcookies.py" "$port" 4096 >"$OUT/cookies-$port.txt"
done

printf 'minute\tmemory_rss\tmemory_live\tmemory_req\tmemory_non2xx\tmemory_socket_errors\tredis_app_rss\tredis_live\tredis_used_memory\tredis_req\tredis_non2xx\tredis_socket_errors\n' | tee "$OUT/soak.tsv"
printf '0\t%s\t%s\t0\t0\t0\t%s\t%s\t%s\t0\t0\t0\n' "$(rss "$MEM_PID")" "$(live "$MEM_PORT")" \
  "$(rss "$RED_PID")" "$(live "$RED_PORT")" "$(used)" | tee -a "$OUT/soak.tsv"
for minute in $(seq 1 "$MINUTES"); do
  LOADS=()
  for port in "$MEM_PORT" "$RED_PORT"; do
    wrk -t1 -c"$CONNS" -d60s --timeout 5s -s "$BENCH/lua/soak.lua" "http://127.0.0.1:$port/" \
      -- "$OUT/cookies-$port.txt" >"$OUT/minute-$port.txt" 2>&1 &
    LOADS+=($!)
  done
  wait "${LOADS[@]}"
  # A minute without wrk's RESULT line (wrk died) is a failure, not zeros.
  field() {
    local value
    value=$(grep -o " $2=[0-9.]*" "$OUT/minute-$1.txt" | cut -d= -f2 || true)
    [ -n "$value" ] || { echo "soak: no $2 in wrk's output for port $1 (see $OUT/minute-$1.txt)" >&2; exit 1; }
    echo "$value"
  }
  # One server's figures for the minute: requests, non-2xx, socket errors
  # (assignments, so that a missing field stops the soak under set -e).
  figures() {
    local requests non2xx connect read write timeout
    requests=$(field "$1" requests); non2xx=$(field "$1" non2xx)
    connect=$(field "$1" connect); read=$(field "$1" read)
    write=$(field "$1" write); timeout=$(field "$1" timeout)
    printf '%s\t%s\t%s' "$requests" "$non2xx" "$((connect + read + write + timeout))"
  }
  mem=$(figures "$MEM_PORT")
  red=$(figures "$RED_PORT")
  # Assignments too: a server or Redis that died stops the soak, not a
  # row of empty cells.
  mem_rss=$(rss "$MEM_PID"); mem_live=$(live "$MEM_PORT")
  red_rss=$(rss "$RED_PID"); red_live=$(live "$RED_PORT"); red_used=$(used)
  for cell in "$mem_rss" "$mem_live" "$red_rss" "$red_live" "$red_used"; do
    [ -n "$cell" ] || { echo "soak: a server or Redis stopped answering in minute $minute (see $OUT/*.log)" >&2; exit 1; }
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$minute" \
    "$mem_rss" "$mem_live" "$mem" "$red_rss" "$red_live" "$red_used" "$red" |
    tee -a "$OUT/soak.tsv"
done
log "done: $OUT/soak.tsv"
