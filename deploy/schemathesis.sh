#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a real localrecord server: a fresh database, the fs store, an app
# made with `localrecord app create`, an admin's UserSig from `localrecord usersig`, and a few real
# tasks and an upload for the path parameters. Every operation of /openapi.json is called with
# generated valid and invalid input; the run fails on any 5xx, any answer whose status, content
# type or body the document does not describe. Exits with schemathesis' status.
#
#   deploy/schemathesis.sh            (or: deploy/localrecord.sh schemathesis)
#
# ST_MAX_EXAMPLES (default 40) bounds the cases per operation, ST_SEED fixes the generation.
# Needs the Postgres at LOCALRECORD_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ST_VERSION=4.32.5
VENV="$ROOT/target/tools/st-venv"
ADMIN_DB="${LOCALRECORD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
SDKAPPID=1400000001

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  log "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

log "building localrecord (debug)"
cargo build -q --bin localrecord
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/localrecord"

WORK="$(mktemp -d)"
DB="st_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
DB_URL="${ADMIN_DB%/*}/$DB"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql "$ADMIN_DB" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql "$ADMIN_DB" -qc "CREATE DATABASE $DB" >/dev/null

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
export LOCALRECORD_DATABASE_URL="$DB_URL" LOCALRECORD_DATA_DIR="$WORK/data" LOCALRECORD_LISTEN="127.0.0.1:$PORT"
export LOCALRECORD_STORE_BACKEND=fs LOCALRECORD_METRICS_TOKEN="st-metrics-$RANDOM$RANDOM"
# Generated bad credentials must not lock the run's own address out (429s would hide the rest).
export LOCALRECORD_EDGE_AUTH_FAILURES_PER_MINUTE=1000000
export RUST_LOG="${RUST_LOG:-warn}"

KEYS="$("$BIN" app create --sdkappid "$SDKAPPID")"
key() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$KEYS"; }
export ST_SDKAPPID="$SDKAPPID" ST_TIC_KEY="$(key TicKey)" ST_METRICS_TOKEN="$LOCALRECORD_METRICS_TOKEN"
export ST_USERSIG="$("$BIN" usersig --sdkappid "$SDKAPPID" --identifier administrator --expire 3600)"

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$BASE/health" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

# Real objects for the path parameters (see hooks.py).
AUTH="Authorization: UserSig sdkappid=$SDKAPPID,identifier=administrator,usersig=$ST_USERSIG"
task() {
  curl -fsS -X POST "$BASE/localrecord/v1/tasks" -H "$AUTH" -H 'content-type: application/json' -d "{\"ClassId\": $1}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Response"]["TaskId"])'
}
T1="$(task 101)"
T2="$(task 102)"
b64() { printf %s "$1" | base64 -w0; }
UPLOAD="$(curl -fsS -o /dev/null -w '%header{location}' -X POST "$BASE/localrecord/v1/uploads" -H "$AUTH" \
  -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 1000' -H "Upload-Metadata: task_id $(b64 "$T1"),slice_index $(b64 0)")"
# And one spliced recording (2 s of the test pattern, one slice) for the recordings' path.
T3="$(task 103)"
ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=15 -t 2 -pix_fmt yuv420p -c:v libx264 -preset ultrafast \
  -f flv "$WORK/0.flv"
SIZE="$(stat -c %s "$WORK/0.flv")"
curl -fsS -o /dev/null -X POST "$BASE/localrecord/v1/uploads" -H "$AUTH" -H 'Tus-Resumable: 1.0.0' \
  -H "Upload-Length: $SIZE" -H "Upload-Metadata: task_id $(b64 "$T3"),slice_index $(b64 0)" \
  -H 'Content-Type: application/offset+octet-stream' --data-binary "@$WORK/0.flv"
curl -fsS -o /dev/null -X POST "$BASE/localrecord/v1/tasks/$T3/stop" -H "$AUTH" -H 'content-type: application/json' \
  -d '{"SliceCount": 1}'
RECORDING=""
for _ in $(seq 1 300); do
  RECORDING="$(curl -fsS "$BASE/localrecord/v1/tasks/$T3" -H "$AUTH" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["Response"]; print(r.get("VideoOutputId", "") if r["State"] == "done" else "")')"
  [ -n "$RECORDING" ] && break
  sleep 0.2
done
[ -n "$RECORDING" ] || { echo "the recording was not spliced" >&2; cat "$WORK/server.log" >&2; exit 1; }
export ST_TASKS="$T1,$T2,$T3" ST_UPLOADS="${UPLOAD##*/}" ST_RECORDINGS="$RECORDING.mp4"

log "schemathesis against $BASE/openapi.json"
set +e
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/deploy/schemathesis" \
  "$VENV/bin/st" --config-file "$ROOT/deploy/schemathesis/schemathesis.toml" run "$BASE/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-40}" ${ST_SEED:+--seed "$ST_SEED"} \
  --workers 2 --request-timeout 30 --no-color \
  --report "${ST_REPORTS:-junit}" --report-dir "$ROOT/target/schemathesis"
STATUS=$?
set -e
if grep -q '"level":"ERROR"\|ERROR' "$WORK/server.log"; then
  log "the server logged errors:"
  grep 'ERROR' "$WORK/server.log" | tail -n 20 >&2
fi
exit "$STATUS"
