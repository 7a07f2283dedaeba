# shellcheck shell=bash
# What the soak, the leak pass and the cluster bench share; sourced after
# setting NAME (the log prefix). Children started with `spawned PID` are
# stopped, by PID, when the script exits.

log() { printf '[%s %s] %s\n' "$NAME" "$(date -u +%H:%M:%S)" "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# require TOOL… : exits naming the first one missing.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$NAME: $tool is required" >&2; exit 1; }
  done
}

# The release binary, built if stale.
release_build() {
  cargo build --release --locked -q -p statecraft-cli
  STATECRAFT=target/release/statecraft
}

PIDS=()
spawned() { PIDS+=("$1"); }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
