#!/usr/bin/env bash
# Instructions the server executes for one JSON + gzip push of a small dataset, under
# callgrind: a count that does not depend on what else the machine is doing, for comparing
# two builds of the ingest path (startup, the push, the flushes and a graceful stop).
#
# usage: bench/callgrind-ingest.sh BIN [SMALL_DATASET]   (default /tmp/ds-small, made by
#        python3 bench/small-dataset.py /tmp/ds2 /tmp/ds-small)
# prints: the loader's figures and callgrind's instruction total; the top functions go to
# a file named on the last line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1
DS=${2:-/tmp/ds-small}
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
PORT=${PORT:-3197}
D=$(mktemp -d /tmp/kelp-cg.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$D.out" "$BIN" server \
  --listen "127.0.0.1:$PORT" --data-dir "$D/data" >"$D.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.2; done
python3 "$SHARED/bench/pushload.py" "$DS" "http://127.0.0.1:$PORT" --procs 1 >"$D.push"
kill -TERM "$PID"; wait "$PID" || true
echo "$BIN $(cat "$D.push") $(grep -h '^summary' "$D.out" | head -1)"
callgrind_annotate "$D.out" 2>/dev/null | head -60 >"$D.annot"
rm -rf "$D/data"
echo "$D.annot"
