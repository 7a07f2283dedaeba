#!/usr/bin/env bash
# A short leak pass: `statecraft serve` (memory store, the soak's flags) under
# valgrind's memcheck, given SECONDS (default 60) of the soak's mixed load at a
# few connections (sessions made, used, logged in and out, expired by the
# sweeper), then stopped with SIGTERM so that it exits through main. Prints
# valgrind's leak summary; fails when any byte is "definitely lost".
# Built without jemalloc (valgrind sees only the system malloc). Not in CI
# (valgrind makes the server ~30x slower); figures in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-60}
OUT=${OUT:-target/leakcheck}
mkdir -p "$OUT"
NAME=leakcheck
# shellcheck source=bench/common.sh
source bench/common.sh
require valgrind wrk curl python3
# The system allocator: valgrind replaces malloc/free, and sees nothing of
# the jemalloc the release binary links by default.
cargo build --release --locked -q -p statecraft-cli --no-default-features
STATECRAFT=target/release/statecraft
PORT=$(free_port)
rm -rf "$OUT/data"
mkdir -p "$OUT/data"
# Short timeouts, so that sessions also expire and are swept during the pass.
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite --error-exitcode=99 \
  --log-file="$OUT/valgrind.log" "$STATECRAFT" serve --listen "127.0.0.1:$PORT" \
  --insecure-cookies --data "sqlite:$OUT/data" --keys-dir "$OUT/data/keys" \
  --idle-timeout 20s --absolute-timeout 40s >"$OUT/serve.log" 2>&1 &
PID=$!
spawned "$PID"
for _ in $(seq 600); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
log "server up under valgrind (pid $PID); $SECONDS_OF_LOAD s of mixed load"
python3 bench/mkcookies.py "$PORT" 200 >"$OUT/cookies.txt"
wrk -t1 -c4 -d"${SECONDS_OF_LOAD}s" --timeout 10s -s bench/lua/soak.lua "http://127.0.0.1:$PORT/" \
  -- "$OUT/cookies.txt" | tee "$OUT/wrk.txt" | grep -E "requests|Requests/sec" || true
log "stopping (SIGTERM)"
kill -TERM "$PID"
status=0
wait "$PID" || status=$?
# valgrind exits with the server's status, or 99 when it found an error (a
# memory error, or a definite leak: --errors-for-leak-kinds above).
sed -n '/HEAP SUMMARY/,$p' "$OUT/valgrind.log"
[ "$status" -eq 0 ] || { echo "leakcheck: valgrind or the server exited with $status (see $OUT/valgrind.log and $OUT/serve.log)" >&2; exit 1; }
# A summary must be there: without it (valgrind died, or the server never
# reached exit) there is nothing to judge, which is a failure, not 0 bytes.
grep -q 'LEAK SUMMARY\|All heap blocks were freed' "$OUT/valgrind.log" ||
  { echo "leakcheck: valgrind printed no leak summary (see $OUT/valgrind.log)" >&2; exit 1; }
lost=$(awk '/definitely lost:/ {gsub(",", "", $4); print $4}' "$OUT/valgrind.log")
[ "${lost:-0}" = "0" ] || { echo "leakcheck: $lost bytes definitely lost (see $OUT/valgrind.log)" >&2; exit 1; }
log "no byte definitely lost"
