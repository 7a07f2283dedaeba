# shellcheck shell=bash
# Makes sure the real services the tests use are running on loopback, starting
# them (and installing them from Debian's packages) where they are absent.
# Sourced by scripts/test; exports STATECRAFT_TEST_*_URL for the suites.

SERVICES_LOG_DIR="${SERVICES_LOG_DIR:-${TMPDIR:-/tmp}/statecraft-services}"
mkdir -p "$SERVICES_LOG_DIR"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

apt_install() {
  echo "installing $* from Debian's packages" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
    { as_root apt-get update -q >/dev/null 2>&1 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

ensure_redis() {
  local port=6379
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then apt_install redis-server redis-tools; fi
  if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    echo "starting redis-server on 127.0.0.1:$port" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --logfile "$SERVICES_LOG_DIR/redis.log" --dir "$SERVICES_LOG_DIR"
    wait_for 10 redis-cli -h 127.0.0.1 -p "$port" ping || { echo "redis did not start" >&2; return 1; }
  fi
  export STATECRAFT_TEST_REDIS_URL="redis://127.0.0.1:$port"
}

# A Redis Cluster on loopback: three masters (7101-7103), each with a replica
# (7104-7106), its data under the log directory; made on first use, reused
# while it answers. The cluster fails a master over to its replica, and
# clients follow (MOVED).
ensure_redis_cluster() {
  local masters=(7101 7102 7103) replicas=(7104 7105 7106) dir="$SERVICES_LOG_DIR/redis-cluster"
  local port out
  for port in "${masters[@]}" "${replicas[@]}"; do
    mkdir -p "$dir/$port"
    if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      # A stale node file of an earlier cluster would keep it from joining.
      rm -f "$dir/$port/nodes.conf"
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 2000 --save "" --appendonly no \
        --logfile "$dir/$port/redis.log" --dir "$dir/$port"
      wait_for 10 redis-cli -h 127.0.0.1 -p "$port" ping || { echo "redis $port did not start (see $dir/$port/redis.log)" >&2; return 1; }
    fi
  done
  # A cluster a test has just failed over is whole again within seconds; one
  # that is not (half made, a node restarted empty, an older cluster of
  # masters alone) is taken apart and made again.
  if ! wait_for 5 cluster_is_whole; then
    echo "making a Redis Cluster of 3 masters and 3 replicas on 127.0.0.1:7101-7106" >&2
    for port in "${masters[@]}" "${replicas[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null 2>&1
      redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null 2>&1
    done
    # The masters first, then each replica joined to the master that has
    # fewest: each step names what failed.
    out=$(timeout 60 redis-cli --cluster create "${masters[@]/#/127.0.0.1:}" --cluster-yes 2>&1) ||
      { echo "the Redis Cluster could not be made; redis-cli said:" >&2; tail -n 15 <<<"$out" >&2; return 1; }
    for port in "${replicas[@]}"; do
      out=$(timeout 60 redis-cli --cluster add-node "127.0.0.1:$port" "127.0.0.1:${masters[0]}" --cluster-slave 2>&1) ||
        { echo "redis $port could not join the cluster as a replica; redis-cli said:" >&2; tail -n 15 <<<"$out" >&2; return 1; }
    done
    wait_for 30 cluster_is_whole ||
      { echo "the Redis Cluster did not become whole:" >&2; redis-cli -h 127.0.0.1 -p "${masters[0]}" cluster nodes >&2; return 1; }
  fi
  local nodes
  nodes=$(printf '127.0.0.1:%s,' "${masters[@]}")
  export STATECRAFT_TEST_REDIS_CLUSTER_URL="redis+cluster://${nodes%,}"
}

# Whether the test cluster is whole: every slot served, each of its six nodes
# knowing all six, none marked failed, and three of them replicas.
cluster_is_whole() {
  local port nodes
  redis-cli -h 127.0.0.1 -p 7101 cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  for port in 7101 7102 7103 7104 7105 7106; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_known_nodes:6' || return 1
  done
  nodes=$(redis-cli -h 127.0.0.1 -p 7101 cluster nodes 2>/dev/null) || return 1
  ! grep -Eq 'fail|noaddr' <<<"$nodes" && [ "$(awk '$3 ~ /slave/' <<<"$nodes" | wc -l)" -eq 3 ]
}

# A replicated Redis watched by Sentinel on loopback: a primary (7201), two
# replicas (7202, 7203) and three sentinels (26401-26403) naming it
# `statecraft`, from the same redis-server (`--sentinel`). The primary refuses
# writes when it reaches no replica within 10 s (min-replicas-to-write 1,
# min-replicas-max-lag 10): cut off from its replicas, it stops accepting
# writes that a failover would discard. A failover is declared after 5 s
# without an answer (down-after-milliseconds), agreed by 2 of the 3: the
# tests that move the primary ask for it (SENTINEL FAILOVER), and a loaded
# machine must not move it under the others. A replica
# synchronises at once (repl-diskless-sync-delay 0; Redis's default waits 5 s
# to serve several with one transfer), since until one is in step the primary
# refuses writes.
ensure_redis_sentinel() {
  local dir="$SERVICES_LOG_DIR/redis-sentinel" primary=7201 port
  mkdir -p "$dir"
  for port in 7201 7202 7203; do
    if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      mkdir -p "$dir/$port"
      local follow=()
      [ "$port" = "$primary" ] || follow=(--replicaof 127.0.0.1 "$primary")
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --min-replicas-to-write 1 --min-replicas-max-lag 10 --repl-diskless-sync-delay 0 "${follow[@]}" \
        --logfile "$dir/$port/redis.log" --dir "$dir/$port"
      wait_for 10 redis-cli -h 127.0.0.1 -p "$port" ping || { echo "redis $port did not start" >&2; return 1; }
    fi
  done
  for port in 26401 26402 26403; do
    if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      mkdir -p "$dir/$port"
      # A sentinel rewrites its file with what it learns; each starts fresh.
      cat > "$dir/$port/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
logfile $dir/$port/sentinel.log
dir $dir/$port
sentinel monitor statecraft 127.0.0.1 $primary 2
sentinel down-after-milliseconds statecraft 5000
sentinel failover-timeout statecraft 5000
sentinel parallel-syncs statecraft 1
CONF
      redis-server "$dir/$port/sentinel.conf" --sentinel
      wait_for 10 redis-cli -h 127.0.0.1 -p "$port" ping || { echo "sentinel $port did not start" >&2; return 1; }
    fi
  done
  # Ready when a sentinel names a primary that has its two replicas.
  wait_for 20 bash -c 'addr=$(redis-cli -p 26401 sentinel get-master-addr-by-name statecraft | tail -n 1);
    [ -n "$addr" ] && redis-cli -p "$addr" info replication | grep -q "^connected_slaves:2"' ||
    { echo "the Sentinel-watched Redis did not become ready" >&2; return 1; }
  export STATECRAFT_TEST_REDIS_SENTINEL_URL="redis+sentinel://127.0.0.1:26401,127.0.0.1:26402,127.0.0.1:26403/statecraft"
}

# The newest installed PostgreSQL server's program directory (initdb, pg_ctl,
# postgres), empty when only a client is installed.
postgres_server_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] && echo "$bin"
  done | tail -n 1
}

# PostgreSQL on 127.0.0.1:5432 with a `test` database, and the server's own
# programs installed: the chaos suite runs a PostgreSQL of its own with them,
# so a client alone (or a server on 5432 from elsewhere) is not enough.
ensure_postgres() {
  if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null || [ -z "$(postgres_server_bin)" ]; then
    apt_install postgresql
  fi
  [ -n "$(postgres_server_bin)" ] || { echo "PostgreSQL's server programs (initdb, pg_ctl) are missing after installing postgresql" >&2; return 1; }
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then apt_install postgresql; version=$(ls /etc/postgresql | sort -V | tail -n 1); fi
    echo "starting PostgreSQL $version" >&2
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for 20 pg_isready -h 127.0.0.1 -p 5432 || { echo "postgresql did not start" >&2; return 1; }
  fi
  # Trust authentication (as on the CI machines) ignores the password; a fresh
  # Debian install asks for one on TCP, so give the role one and make the
  # database when the first connection fails.
  local url="postgres://postgres:postgres@127.0.0.1:5432/test"
  if ! psql "$url" -qAt -c 'SELECT 1' >/dev/null 2>&1; then
    echo "preparing the PostgreSQL role and database for the tests" >&2
    as_root runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
    as_root runuser -u postgres -- createdb test 2>/dev/null || true
    psql "$url" -qAt -c 'SELECT 1' >/dev/null || { echo "cannot connect to PostgreSQL as postgres" >&2; return 1; }
  fi
  export STATECRAFT_TEST_POSTGRES_URL="$url"
}

ensure_nats() {
  if ! command -v nats-server >/dev/null; then apt_install nats-server; fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    echo "starting nats-server with JetStream on 127.0.0.1:4222" >&2
    mkdir -p "$SERVICES_LOG_DIR/nats"
    nats-server -a 127.0.0.1 -p 4222 -js -sd "$SERVICES_LOG_DIR/nats" -l "$SERVICES_LOG_DIR/nats.log" &
    disown || true
    wait_for 10 bash -c '(exec 3<>/dev/tcp/127.0.0.1/4222)' || { echo "nats did not start" >&2; return 1; }
  fi
  export STATECRAFT_TEST_NATS_URL="nats://127.0.0.1:4222"
}

# Programs single tests run: openssl (the Redis TLS test's private CA),
# taskset from util-linux (the one-core test), curl and jq (the README's
# examples, which scripts/readme-check runs).
ensure_tools() {
  local tool package missing=""
  for tool in openssl:openssl taskset:util-linux curl:curl jq:jq; do
    package=${tool#*:}; tool=${tool%%:*}
    command -v "$tool" >/dev/null || apt_install "$package"
    command -v "$tool" >/dev/null || missing="$missing $tool"
  done
  [ -z "$missing" ] || { echo "missing after installing them:$missing" >&2; return 1; }
}

# HAProxy and nginx, as programs the tests start with configurations of
# their own, never as services: a policy-rc.d keeps their packages from
# starting a daemon on port 80 while they install.
ensure_balancers() {
  # Debian puts both in /usr/sbin, which a user's PATH may lack.
  case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac
  command -v haproxy >/dev/null && command -v nginx >/dev/null && return 0
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    made=1
  fi
  apt_install --no-install-recommends haproxy nginx || true
  [ -n "$made" ] && as_root rm -f "$policy"
  command -v haproxy >/dev/null && command -v nginx >/dev/null ||
    { echo "haproxy or nginx is missing after installing them" >&2; return 1; }
}

# What the deployment tests use: podman (with runc, which starts containers
# where crun cannot: cgroups v1 with a bare v2 entry), chroot, yamllint and
# kubernetes-validate (PyPI) for the manifests, systemd-analyze for the units.
ensure_deploy_tools() {
  case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac
  command -v podman >/dev/null && command -v runc >/dev/null ||
    apt_install podman runc
  command -v yamllint >/dev/null || apt_install --no-install-recommends yamllint
  command -v systemd-analyze >/dev/null || apt_install --no-install-recommends systemd
  command -v kubernetes-validate >/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate
  local tool missing=""
  for tool in podman runc chroot yamllint systemd-analyze kubernetes-validate; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
  done
  [ -z "$missing" ] || { echo "missing after installing them:$missing" >&2; return 1; }
}

# Headless Chromium and its WebDriver for the web UI's browser tests.
ensure_chromium() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install --no-install-recommends chromium chromium-driver
  fi
  command -v chromedriver >/dev/null || { echo "chromedriver is missing" >&2; return 1; }
}
