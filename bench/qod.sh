#!/usr/bin/env bash
# Queries of death (issue #9): a release `kelp server` with a 10 s query
# timeout, loaded with LINES lines (200 streams), then crates/server/examples/qod.rs
# measures ingest throughput (PUSHERS concurrent pushers of 100-line batches) for SECS
# seconds alone and again while nine queries of death run one after another in a loop,
# ROUNDS times alternating (medians of the rounds are printed last);
# each query's answers and times; the server's peak RSS (VmRSS sampled every 20 ms from
# /proc, and VmHWM); and how long a dropped request's evaluation takes to stop.
#
# usage: bench/qod.sh [LINES] [SECS]        (defaults: 1000000, 20)
#   env: PORT (3190), PUSHERS (2), TIMEOUT_SECS (10), ROUNDS (1), SKIP_BUILD=1, BIN (the
#   server binary); KELP_SERVER_* variables reach the server (for example
#   KELP_SERVER_LIMITS__QUERY_NICE=0 to measure the query pool at the server's priority)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LINES=${1:-1000000}
SECS=${2:-20}
PORT=${PORT:-3190}
PUSHERS=${PUSHERS:-2}
TIMEOUT_SECS=${TIMEOUT_SECS:-10}
ROUNDS=${ROUNDS:-1}
BIN=${BIN:-$ROOT/target/release/kelp}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  # The harness only sends requests and times them: a dev build (its dependencies are the
  # test build's) is enough; the server is a release build.
  (cd "$ROOT" && cargo build --release -p kelp --bin kelp && cargo build -p kelp-server --example qod)
fi
DATA=$(mktemp -d /tmp/kelp-qod.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT INT TERM
KELP_SERVER_LIMITS__QUERY_TIMEOUT_SECS=$TIMEOUT_SECS KELP_SERVER_LIMITS__MAX_ENTRIES_PER_QUERY=5000 \
  "$BIN" server --listen "127.0.0.1:$PORT" --data-dir "$DATA/data" >"$DATA.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.05
done
echo "{\"machine\":\"$(nproc) cpu, loadavg $(cut -d' ' -f1-3 /proc/loadavg)\",\"lines\":$LINES,\"secs\":$SECS,\"pushers\":$PUSHERS,\"rounds\":$ROUNDS,\"query_timeout_secs\":$TIMEOUT_SECS,\"server_env\":\"$(env | grep '^KELP_SERVER_' | tr '\n' ' ')\"}"
"$ROOT/target/debug/examples/qod" "http://127.0.0.1:$PORT" "$PID" --lines "$LINES" --secs "$SECS" --pushers "$PUSHERS" --rounds "$ROUNDS"
echo "{\"machine_after\":\"loadavg $(cut -d' ' -f1-3 /proc/loadavg)\"}"
