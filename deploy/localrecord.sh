#!/usr/bin/env bash
# localrecord's one script: sets up a fresh Debian/Ubuntu machine and runs the server, the tests or
# the benchmarks. Run as root or as a user with sudo.
#
#   deploy/localrecord.sh install  install what is missing, build (release), put localrecord and
#                                  localrecord-recorder in $PREFIX/bin (default /usr/local), the config
#                                  at /etc/localrecord.toml (kept if present) and the hardened systemd
#                                  unit, and create the localrecord user
#   deploy/localrecord.sh run      install what is missing, build (release) and serve on 127.0.0.1:8080
#   deploy/localrecord.sh test     install what is missing, start s3s-fs and (if none answers) Postgres,
#                                  run the whole test suite
#   deploy/localrecord.sh bench    like test, then the ingest, splice, query, recorder, end-to-end and mixer
#                                  benchmarks (release)
#   deploy/localrecord.sh topology up|down|status|kill a|start a
#                                  the scale-out topology as processes (two instances, Postgres,
#                                  s3s-fs; see deploy/topology.sh), after installing what it needs
#   deploy/localrecord.sh chaos    like test, then the chaos suite in its long mode (20 recordings x 10
#                                  slices over 10 minutes; the test run includes a 1-minute short mode)
#   deploy/localrecord.sh lint     cargo fmt --check and clippy -D warnings
#   deploy/localrecord.sh schemathesis
#                                  like test's setup, then schemathesis (PyPI) against a real server
#                                  and its /openapi.json (deploy/schemathesis.sh)
#
# Environment: LOCALRECORD_* configures the server (see README); LOCALRECORD_TEST_DATABASE_URL is the
# Postgres the tests create their databases in (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/target/tools"
S3S_VERSION=0.14.1
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# System packages: FFmpeg libraries (splicing), clang + pkg-config (building against them),
# PostgreSQL (the embedded default and the tests), python3-venv (the tus client test), chromium (the
# admin console's browser tests; node and npm for them come with ensure_playwright).
PACKAGES=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
  libavfilter-dev libavdevice-dev libswscale-dev libswresample-dev postgresql postgresql-client
  python3 python3-venv ca-certificates curl xvfb pulseaudio chromium)
# The newest playwright-core that runs on Debian 12's nodejs 18 (1.62 needs node 20); it drives
# Debian's chromium (156 here) over CDP.
PLAYWRIGHT_VERSION=1.61.1

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.85 or newer (rustup)" >&2; exit 1; }
}

ensure_s3s() {
  # Installed into cargo's home (not target/), so fresh checkouts on the same machine reuse it.
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  if ! s3s-fs --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    log "installing s3s-fs $S3S_VERSION (the S3 test server)"
    cargo install s3s-fs --version "$S3S_VERSION" --features binary --locked
  fi
  S3S_FS_BIN="$(command -v s3s-fs)"
  export S3S_FS_BIN
}

ensure_python_tus() {
  if [ ! -x "$TOOLS/venv/bin/python" ] || ! "$TOOLS/venv/bin/python" -c "import tusclient" 2>/dev/null; then
    log "installing tuspy (a real tus client) into $TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q "tuspy==1.1.0"
  fi
  export LOCALRECORD_TEST_PYTHON="$TOOLS/venv/bin/python"
}

# playwright-core (no browser download: the tests drive Debian's /usr/bin/chromium) for the admin
# console's browser tests (tests/browser/*.mjs), pinned, and @tus/server for the recorder's tus
# upload tests, in target/tools/node.
ensure_playwright() {
  local dir="$TOOLS/node"
  # Debian's nodejs and npm, unless a node with its npm is already there (NodeSource's nodejs
  # bundles npm and conflicts with Debian's npm package).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs and npm"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
  fi
  if [ "$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
    log "installing playwright-core $PLAYWRIGHT_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION"
  fi
  # @tus/server 2 + @tus/file-store 2: the real tus server the recorder's mixer-output upload
  # tests send to (client/src/mixer/output/tests_tus.rs); they want node 20.19 or newer.
  local pkg
  for pkg in server file-store; do
    case "$(node -p "require('$dir/node_modules/@tus/$pkg/package.json').version" 2>/dev/null)" in
      2.*) ;;
      *)
        log "installing @tus/server 2 and @tus/file-store 2 into $dir"
        mkdir -p "$dir"
        npm install --prefix "$dir" --no-audit --no-fund --silent "@tus/server@2" "@tus/file-store@2"
        break
        ;;
    esac
  done
  export LOCALRECORD_TEST_NODE_MODULES="$dir/node_modules"
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

# Use the Postgres at LOCALRECORD_TEST_DATABASE_URL if it answers; otherwise run a private one
# for the tests under target/tools/pg (as the postgres user when root).
ensure_postgres() {
  export LOCALRECORD_TEST_DATABASE_URL="${LOCALRECORD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if psql "$LOCALRECORD_TEST_DATABASE_URL" -Atqc "select 1" >/dev/null 2>&1; then
    log "using Postgres at $LOCALRECORD_TEST_DATABASE_URL"
    return
  fi
  local bin dir port=55432 run=()
  bin="$(pg_bindir)"
  dir="$TOOLS/pg"
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir" && chmod o+x "$ROOT" "$ROOT/target" "$TOOLS"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "creating a private test Postgres in $dir"
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! "${run[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off" start
  fi
  export LOCALRECORD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  log "using private Postgres at $LOCALRECORD_TEST_DATABASE_URL"
}

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
  else
    cargo test --workspace --no-fail-fast
  fi
}

# Installs the binaries, the example config (never over an existing one) and the systemd unit.
# LOCALRECORD_PREBUILT=<dir> takes the binaries from there instead of building; PREFIX,
# LOCALRECORD_ETC and LOCALRECORD_SYSTEMD_DIR move the targets (the tests install into a temp dir).
install_all() {
  local prefix="${PREFIX:-/usr/local}" etc="${LOCALRECORD_ETC:-/etc}" units="${LOCALRECORD_SYSTEMD_DIR:-/etc/systemd/system}"
  local from="${LOCALRECORD_PREBUILT:-}"
  if [ -z "$from" ]; then
    log "building localrecord and localrecord-recorder (release)"
    cargo build --release -p localrecord -p localrecord-client --bins
    from="$ROOT/target/release"
  fi
  $SUDO install -D -m 0755 "$from/localrecord" "$prefix/bin/localrecord"
  $SUDO install -D -m 0755 "$from/localrecord-recorder" "$prefix/bin/localrecord-recorder"
  if [ ! -f "$etc/localrecord.toml" ]; then
    $SUDO install -D -m 0640 deploy/localrecord.example.toml "$etc/localrecord.toml"
  fi
  sed "s#/usr/local/bin/localrecord#$prefix/bin/localrecord#; s#/etc/localrecord.toml#$etc/localrecord.toml#" \
    deploy/localrecord.service | $SUDO install -D -m 0644 /dev/stdin "$units/localrecord.service"
  if [ "$etc" = /etc ] && ! id localrecord >/dev/null 2>&1; then
    $SUDO useradd --system --home-dir /var/lib/localrecord --shell /usr/sbin/nologin localrecord
  fi
  if [ "$units" = /etc/systemd/system ] && [ -d /run/systemd/system ]; then
    $SUDO systemctl daemon-reload
  fi
  log "installed: $prefix/bin/localrecord, $prefix/bin/localrecord-recorder, $etc/localrecord.toml, $units/localrecord.service"
  log "next: systemctl enable --now localrecord; localrecord app create --sdkappid 1400000001"
}

case "${1:-}" in
  install)
    install_packages
    install_all
    ;;
  run)
    install_packages
    cargo build --release --bin localrecord
    exec "$ROOT/target/release/localrecord" serve
    ;;
  test)
    install_packages
    ensure_s3s
    ensure_python_tus
    ensure_playwright
    ensure_postgres
    run_tests
    ;;
  bench)
    install_packages
    ensure_s3s
    ensure_postgres
    cargo bench --bench ingest
    cargo bench --bench splice
    cargo bench --bench query
    cargo bench --bench recorder
    cargo bench --bench e2e
    cargo bench --bench mixer
    ;;
  topology)
    shift
    if [ "${1:-}" = up ]; then
      install_packages
      ensure_s3s
      ensure_postgres
    fi
    exec "$ROOT/deploy/topology.sh" "$@"
    ;;
  chaos)
    install_packages
    ensure_s3s
    CHAOS_RECORDINGS="${CHAOS_RECORDINGS:-20}" CHAOS_SLICES="${CHAOS_SLICES:-10}" CHAOS_SECS="${CHAOS_SECS:-600}" \
      cargo test --release --test chaos -- --nocapture
    ;;
  schemathesis)
    install_packages
    ensure_postgres
    exec "$ROOT/deploy/schemathesis.sh"
    ;;
  lint)
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    ;;
  *)
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
