#!/usr/bin/env bash
# The scale-out topology of deploy/container/compose.yaml as plain processes, for machines without
# a container engine: one PostgreSQL, one S3 server (s3s-fs, which checks SigV4 and Content-MD5)
# and two `localrecord serve` instances sharing one config (S3 store, same database) on two
# loopback ports. Any instance continues any upload and runs any splice or callback; put a
# balancer in front of A and B (or point recorders at either).
#
#   deploy/topology.sh up         start everything; prints the env file to source
#   deploy/topology.sh down       stop everything (and drop the database it created)
#   deploy/topology.sh status     what runs, with addresses and pids
#   deploy/topology.sh kill a|b   SIGKILL one instance (a crash; its work must go to the other)
#   deploy/topology.sh start a|b  start one instance again
#
# State lives in TOPOLOGY_DIR (default target/topology): `env` (addresses, pids, the database
# URL, the S3 credentials: `. target/topology/env`), `config.toml` (the instances' shared config),
# logs/{a,b,s3,postgres}.log (instances log JSON lines).
#
# Inputs: LOCALRECORD_BIN (default target/release/localrecord, built if missing), S3S_FS_BIN
# (default s3s-fs on PATH or in ~/.cargo/bin), LOCALRECORD_TEST_DATABASE_URL (a Postgres the
# topology creates a fresh database in; when none answers, a private PostgreSQL runs under the
# state dir). Any other LOCALRECORD_* variable set at `up` (e.g. LOCALRECORD_JOBS_LEASE_SECS=4)
# is passed to both instances, then and on every `start`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${TOPOLOGY_DIR:-$ROOT/target/topology}"
BUCKET=localrecord

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'topology: %s\n' "$*" >&2; exit 1; }

# A loopback port nothing listens on (bash's /dev/tcp connects or fails), below Linux's ephemeral
# range (32768-60999): a port there can be taken by any outgoing connection before we bind it.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % 22000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_http() { # url seconds [pid: give up as soon as it exits]
  local i
  for i in $(seq $(($2 * 10))); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    if [ -n "${3:-}" ] && ! alive "$3"; then return 1; fi
    sleep 0.1
  done
  return 1
}

wait_port() { # port seconds
  local i
  for i in $(seq $(($2 * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

load_env() {
  [ -f "$DIR/env" ] || die "no topology in $DIR (run: $0 up)"
  # shellcheck disable=SC1091
  . "$DIR/env"
}

# Rewrites one KEY=value line of the env file (pids change on start).
set_env() {
  local tmp="$DIR/env.tmp"
  (umask 077 && : >"$tmp")
  grep -v "^$1=" "$DIR/env" >>"$tmp" || true
  printf '%s=%q\n' "$1" "$2" >>"$tmp"
  mv "$tmp" "$DIR/env"
}

s3s_bin() {
  if [ -n "${S3S_FS_BIN:-}" ]; then echo "$S3S_FS_BIN"; return; fi
  command -v s3s-fs 2>/dev/null || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
}

# Postgres: a fresh database in the server at LOCALRECORD_TEST_DATABASE_URL when it answers, else a
# private cluster under the state dir (as the postgres user when root: initdb refuses root).
start_postgres() {
  local admin="${LOCALRECORD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  local name="localrecord_topo_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  if psql "$admin" -Atqc "select 1" >/dev/null 2>&1; then
    psql "$admin" -qc "CREATE DATABASE $name" >/dev/null
    printf 'TOPO_PG_ADMIN_URL=%q\nTOPO_PG_DB=%q\nTOPO_DATABASE_URL=%q\n' \
      "$admin" "$name" "${admin%/*}/$name" >>"$DIR/env"
    log "Postgres: database $name at ${admin%%@*}@..."
    return
  fi
  local bin port run=()
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$bin" ] || die "no PostgreSQL server installed (apt-get install postgresql)"
  port="$(free_port)"
  mkdir -p "$DIR/pg"
  if [ "$(id -u)" = 0 ]; then
    # The postgres user needs to reach its own dir and log file, nothing else of ours.
    run=(runuser -u postgres --)
    touch "$DIR/logs/postgres.log"
    chown postgres:postgres "$DIR/pg" "$DIR/logs/postgres.log"
    chmod 711 "$DIR"
  fi
  "${run[@]}" "$bin/initdb" -D "$DIR/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$DIR/pg/data" -l "$DIR/logs/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$DIR/pg" start >/dev/null
  psql "postgres://postgres@127.0.0.1:$port/postgres" -qc "CREATE DATABASE localrecord" >/dev/null
  printf 'TOPO_PG_DATA=%q\nTOPO_PG_BIN=%q\nTOPO_DATABASE_URL=%q\n' \
    "$DIR/pg/data" "$bin" "postgres://postgres@127.0.0.1:$port/localrecord" >>"$DIR/env"
  log "Postgres: private cluster on 127.0.0.1:$port"
}

stop_postgres() {
  if [ -n "${TOPO_PG_DB:-}" ]; then
    psql "$TOPO_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $TOPO_PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  elif [ -n "${TOPO_PG_DATA:-}" ]; then
    local run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    "${run[@]}" "$TOPO_PG_BIN/pg_ctl" -D "$TOPO_PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
}

start_s3() {
  local port bin key
  bin="$(s3s_bin)"
  [ -x "$bin" ] || die "s3s-fs not found (deploy/localrecord.sh test installs it; or set S3S_FS_BIN)"
  port="$(free_port)"
  key="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  mkdir -p "$DIR/s3/$BUCKET"
  setsid "$bin" --host 127.0.0.1 --port "$port" --access-key topology --secret-key "$key" "$DIR/s3" \
    >>"$DIR/logs/s3.log" 2>&1 </dev/null &
  printf 'TOPO_S3_PID=%q\nTOPO_S3_ENDPOINT=%q\nTOPO_S3_BUCKET=%q\nTOPO_S3_ACCESS_KEY=%q\nTOPO_S3_SECRET_KEY=%q\nTOPO_S3_ROOT=%q\n' \
    "$!" "http://127.0.0.1:$port" "$BUCKET" topology "$key" "$DIR/s3" >>"$DIR/env"
  wait_port "$port" 30 || die "s3s-fs did not start (see $DIR/logs/s3.log)"
  log "S3: s3s-fs on 127.0.0.1:$port, bucket $BUCKET"
}

write_config() {
  (umask 077 && : >"$DIR/config.toml" && : >"$DIR/instances.env")
  cat >"$DIR/config.toml" <<EOF
# Shared by instances A and B (each gets its listen address and data dir from the environment).
database_url = "$TOPO_DATABASE_URL"
shutdown_grace_secs = 5

[store]
backend = "s3"
endpoint = "$TOPO_S3_ENDPOINT"
bucket = "$TOPO_S3_BUCKET"
region = "us-east-1"
access_key_id = "$TOPO_S3_ACCESS_KEY"
secret_access_key = "$TOPO_S3_SECRET_KEY"
EOF
  # What the caller set for the instances, minus what the topology decides itself.
  env | grep -E '^LOCALRECORD_[A-Z0-9_]+=' \
    | grep -vE '^LOCALRECORD_(BIN|CONFIG|DATABASE_URL|LISTEN|DATA_DIR|PUBLIC_URL|TEST_[A-Z_]*|STORE_[A-Z_]*)=' \
    | while IFS='=' read -r k v; do printf '%s=%q\n' "$k" "$v"; done >"$DIR/instances.env" || true
}

start_instance() { # a|b
  local i="$1" port pid
  load_env
  port="$(eval echo "\$TOPO_${i^^}_PORT")"
  pid="$(eval echo "\${TOPO_${i^^}_PID:-}")"
  alive "$pid" && die "instance $i already runs (pid $pid)"
  mkdir -p "$DIR/$i"
  (
    set -a
    # shellcheck disable=SC1091
    . "$DIR/instances.env"
    set +a
    unset LOCALRECORD_DATABASE_URL LOCALRECORD_CONFIG
    export LOCALRECORD_LISTEN="127.0.0.1:$port" LOCALRECORD_DATA_DIR="$DIR/$i" \
      LOCALRECORD_PUBLIC_URL="http://127.0.0.1:$port" LOCALRECORD_LOG_FORMAT=json
    exec setsid "$TOPO_BIN" --config "$DIR/config.toml" serve >>"$DIR/logs/$i.log" 2>&1 </dev/null
  ) &
  pid=$!
  set_env "TOPO_${i^^}_PID" "$pid"
  if ! wait_http "http://127.0.0.1:$port/health" 60 "$pid"; then
    tail -n 5 "$DIR/logs/$i.log" >&2 || true
    die "instance $i did not answer on 127.0.0.1:$port (see $DIR/logs/$i.log)"
  fi
  log "instance $i: http://127.0.0.1:$port (pid $pid)"
}

stop_pid() { # pid: TERM, up to 10 s, then KILL
  local pid="$1" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

up() {
  [ -f "$DIR/env" ] && die "a topology is recorded in $DIR (run: $0 down)"
  local bin="${LOCALRECORD_BIN:-$ROOT/target/release/localrecord}"
  if [ ! -x "$bin" ]; then
    log "building localrecord (release)"
    (cd "$ROOT" && cargo build --release --bin localrecord)
  fi
  if [ -f "$DIR/env.down" ]; then
    # A topology that ran here before and is down: start from nothing (its data went with it).
    rm -rf "$DIR/pg" "$DIR/s3" "$DIR/a" "$DIR/b" "$DIR/logs" "$DIR/env.down"
  fi
  mkdir -p "$DIR/logs"
  chmod 700 "$DIR"
  (umask 077 && : >"$DIR/env")
  printf 'TOPO_DIR=%q\nTOPO_BIN=%q\nTOPO_CONFIG=%q\n' "$DIR" "$bin" "$DIR/config.toml" >>"$DIR/env"
  trap '[ $? -eq 0 ] || { log "up failed: stopping what started"; down; }' EXIT
  start_postgres
  start_s3
  load_env
  write_config
  "$bin" --config "$DIR/config.toml" migrate >>"$DIR/logs/migrate.log" 2>&1 \
    || die "migrating the database failed (see $DIR/logs/migrate.log)"
  local a b
  a="$(free_port)"
  b="$(free_port)"
  while [ "$b" = "$a" ]; do b="$(free_port)"; done
  printf 'TOPO_A_PORT=%q\nTOPO_A_URL=%q\nTOPO_B_PORT=%q\nTOPO_B_URL=%q\n' \
    "$a" "http://127.0.0.1:$a" "$b" "http://127.0.0.1:$b" >>"$DIR/env"
  start_instance a
  start_instance b
  trap - EXIT
  log "up: . $DIR/env   (then: \$TOPO_BIN --config \$TOPO_CONFIG app create --sdkappid 1400000001)"
}

down() {
  [ -f "$DIR/env" ] || return 0
  load_env
  stop_pid "${TOPO_A_PID:-}"
  stop_pid "${TOPO_B_PID:-}"
  stop_pid "${TOPO_S3_PID:-}"
  stop_postgres
  mv "$DIR/env" "$DIR/env.down"
  log "down (logs kept in $DIR/logs)"
}

status() {
  load_env
  local i pid url state
  for i in a b; do
    pid="$(eval echo "\${TOPO_${i^^}_PID:-}")"
    url="$(eval echo "\$TOPO_${i^^}_URL")"
    state=down
    alive "$pid" && state=up
    curl -fsS -o /dev/null --max-time 2 "$url/health" 2>/dev/null && state="up, healthy"
    echo "instance $i  $url  pid ${pid:--}  $state"
  done
  state=down
  alive "${TOPO_S3_PID:-}" && state=up
  echo "s3        $TOPO_S3_ENDPOINT  pid $TOPO_S3_PID  $state  bucket $TOPO_S3_BUCKET"
  state=down
  psql "$TOPO_DATABASE_URL" -Atqc "select 1" >/dev/null 2>&1 && state=up
  echo "postgres  ${TOPO_DATABASE_URL##*@}  $state"
}

instance_arg() {
  case "${1:-}" in a|b) echo "$1" ;; *) die "which instance: a or b" ;; esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill)
    i="$(instance_arg "${2:-}")"
    load_env
    pid="$(eval echo "\${TOPO_${i^^}_PID:-}")"
    alive "$pid" || die "instance $i is not running"
    kill -KILL "$pid"
    while alive "$pid"; do sleep 0.05; done
    log "instance $i (pid $pid) killed"
    ;;
  start) start_instance "$(instance_arg "${2:-}")" ;;
  *)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
