#!/usr/bin/env bash
# Query latency on cold bucket data vs cached (issue #11), against a real S3-compatible
# server (s3s-fs, as the tests use; `bash .ci/deps` installs it).
#
# usage: bench/bucket.sh [DATASET] [RUNS]        (defaults: /tmp/ds-small, 3)
#   env: PORT (9014), SKIP_BUILD=1, WORK (a scratch directory, /tmp/kelp-bucket-bench)
#
# Runs crates/bucket/examples/cold.rs: loads the dataset into a store over the bucket (and
# into one on local disk), then per run and query (bench/server.sh's three, at the store
# API: no HTTP, no LogQL parsing) opens a fresh node with an empty data directory, runs the
# query once cold (blocks fetched with ranged GETs) and five times cached; the local-disk
# store gives the reference. Prints one JSON line per run and the medians.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=${1:-/tmp/ds-small}
RUNS=${2:-3}
PORT=${PORT:-9014}
WORK=${WORK:-/tmp/kelp-bucket-bench}
[ -f "$DS/manifest.json" ] || { echo "no $DS/manifest.json (bench/README.md: mkdataset.py, small-dataset.py)" >&2; exit 2; }
S3S=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
[ -x "$S3S" ] || { echo "s3s-fs not found: bash .ci/deps" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p kelp-bucket --example cold)
fi
S3DATA=$(mktemp -d /tmp/kelp-s3s.XXXXXX)
mkdir "$S3DATA/bench"
export AWS_ACCESS_KEY_ID=kelp-bench AWS_SECRET_ACCESS_KEY=kelp-bench-secret-0123456789
"$S3S" --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" \
  --secret-key "$AWS_SECRET_ACCESS_KEY" "$S3DATA" >"$S3DATA.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$S3DATA" "$S3DATA.log" "$WORK"' EXIT INT TERM
for _ in $(seq 1 200); do
  (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done
SETTINGS="{\"backend\": \"s3\", \"bucket\": \"bench\", \"prefix\": \"kelp\", \"endpoint\": \"http://127.0.0.1:$PORT\", \"region\": \"us-east-1\", \"cache_size\": \"4Gi\"}"
"$ROOT/target/release/examples/cold" "$DS" "$SETTINGS" "$WORK" "$RUNS"
