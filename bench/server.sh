#!/usr/bin/env bash
# Benchmarks `kelp server` as shared/bench/ANCHORS.md measured Loki and VictoriaLogs.
#
# usage: bench/server.sh [DATASET] [RUNS]        (defaults: /tmp/ds2, 1)
#   env: PORT (3100), PROTO=1 also loads the dataset as protobuf+snappy into a second
#        fresh server, TAIL=1 (default) measures live-tail latency, SKIP_BUILD=1.
#
# Per run: a fresh data dir, `kelp server` on 127.0.0.1:$PORT, the dataset pushed with
# shared/bench/pushload.py (Loki push JSON + gzip, 2 loader processes, ~1 MiB batches).
# Server CPU = user+sys of the server process from /proc/<pid>/stat, before/after the load
# (and again once it is idle: flushes and compactions the load caused). Peak RSS = VmHWM.
# Then over HTTP query_range (keep-alive client, 1 warm-up + 5 timed runs, median):
# the needle over 24 h, sum by (pod) (count_over_time[5m]) at step 5m, the last 1,000
# lines of one pod. Prints one JSON line per run and a table of medians over the runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=${1:-/tmp/ds2}
RUNS=${2:-1}
PORT=${PORT:-3100}
PROTO=${PROTO:-0}
TAIL=${TAIL:-1}
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
BIN=${BIN:-$ROOT/target/release/kelp}   # BIN=/path/to/kelp compares builds
EX=$ROOT/target/release/examples
[ -f "$DS/manifest.json" ] || { echo "no $DS/manifest.json: python3 $SHARED/bench/mkdataset.py $DS --gib 2 --pods 50 --needles 10" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p kelp --bin kelp \
     && cargo build --release -p kelp-server --example pushload --example taillat)
fi
OUT=$(mktemp /tmp/kelp-server-bench.XXXXXX.jsonl)
PID= DATA=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; fi
  [ -n "$DATA" ] && rm -rf "$DATA" "$DATA.log"
  PID= DATA=
}
trap cleanup EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

start_server() {
  DATA=$(mktemp -d /tmp/kelp-server-data.XXXXXX)
  "$BIN" server --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server never became ready:" >&2; tail -20 "$DATA.log" >&2; exit 1
}

# Waits until the server used < 2 % of a core over a second (at most 120 s).
settle() {
  local a b
  for _ in $(seq 1 120); do
    a=$(cpu_ticks "$PID"); sleep 1; b=$(cpu_ticks "$PID")
    [ $((b - a)) -le 2 ] && return 0
  done
}

load() { # $1: loader command; prints a JSON object of the load's figures
  local hz c0 c1 c2 t0 t1 res
  hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks "$PID"); t0=$(date +%s.%N)
  res=$("$@")
  t1=$(date +%s.%N); c1=$(cpu_ticks "$PID")
  settle
  c2=$(cpu_ticks "$PID")
  python3 - "$res" "$hz" "$c0" "$c1" "$c2" "$t0" "$t1" "$(hwm_kib "$PID")" "$(du -sb "$DATA" | cut -f1)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
res = json.loads(sys.argv[1]); hz = int(sys.argv[2])
c0, c1, c2 = (int(x) / hz for x in sys.argv[3:6]); t0, t1 = float(sys.argv[6]), float(sys.argv[7])
mb = res["bytes"] / 1e6
print(json.dumps({"raw_bytes": res["bytes"], "lines": res["lines"], "errors": res["errors"],
  "wall_s": round(t1 - t0, 2), "cpu_s": round(c1 - c0, 2), "cpu_settled_s": round(c2 - c0, 2),
  "mb_per_cpu_s": round(mb / max(c1 - c0, 1e-9), 1), "mb_per_cpu_s_settled": round(mb / max(c2 - c0, 1e-9), 1),
  "peak_rss_mib": round(int(sys.argv[8]) / 1024), "disk_bytes": int(sys.argv[9]),
  "raw_per_disk": round(res["bytes"] / int(sys.argv[9]), 2), "loadavg_1m": float(sys.argv[10])}))
PY
}

queries() {
  python3 - "$DS" "$PORT" <<'PY'
import json, statistics, subprocess, sys, tempfile, urllib.parse
ds, port = sys.argv[1], int(sys.argv[2])
m = json.load(open(ds + "/manifest.json"))
start, end = m["start_ns"], m["end_ns"] + 1
pod = m["streams"][0]["pod"]
body = tempfile.NamedTemporaryFile(prefix="kelp-q.")
def q(params):
    # curl's own timer: a Python HTTP client adds ~10 ms reading a 400 KB answer.
    url = f"http://127.0.0.1:{port}/loki/api/v1/query_range?" + urllib.parse.urlencode(params)
    out = subprocess.run(["curl", "-s", "-o", body.name, "-w", "%{http_code} %{time_total}", url],
                         capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "200": raise SystemExit(f"{out[0]}: {open(body.name, 'rb').read(300)!r}")
    return float(out[1]) * 1e3, json.load(open(body.name))["data"]["result"]
def bench(params, check):
    q(params)  # warm-up
    times = []
    for _ in range(5):
        dt, res = q(params); times.append(dt); got = check(res)
    return round(statistics.median(times), 2), got
sel = '{namespace=~".+"}'
needle = bench({"query": f'{sel} |= "{m["needle"]}"', "start": start, "end": end, "limit": 100},
               lambda r: sum(len(s["values"]) for s in r))
count = bench({"query": f"sum by (pod) (count_over_time({sel}[5m]))", "start": start, "end": end - 1, "step": "300"},
              lambda r: (len(r), int(sum(float(v[1]) for s in r for v in s["values"])), max(len(s["values"]) for s in r)))
last = bench({"query": f'{{pod="{pod}"}}', "start": start, "end": end, "limit": 1000, "direction": "backward"},
             lambda r: sum(len(s["values"]) for s in r))
print(json.dumps({"needle_ms": needle[0], "needle_hits": needle[1], "needle_expected": m["needle_count"],
  "count_ms": count[0], "count_pods": count[1][0], "count_total": count[1][1], "count_points": count[1][2],
  "count_expected": m["lines"], "last1000_ms": last[0], "last1000_lines": last[1]}))
PY
}

for run in $(seq 1 "$RUNS"); do
  start_server
  L=$(load python3 "$SHARED/bench/pushload.py" "$DS" "http://127.0.0.1:$PORT")
  Q=$(queries)
  T='{}'
  [ "$TAIL" = 1 ] && T=$("$EX/taillat" "127.0.0.1:$PORT" --entries 1000 --rate 100 --clients 2 \
      | python3 -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps({"tail_p50_ms": j["p50_ms"], "tail_p99_ms": j["p99_ms"], "tail_max_ms": j["max_ms"], "tail_received": sum(c["received"] for c in j["clients"])}))')
  cleanup
  P='{}'
  if [ "$PROTO" = 1 ]; then
    start_server
    P=$(load "$EX/pushload" "$DS" "http://127.0.0.1:$PORT" --format protobuf \
        | python3 -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps({"proto_"+k: v for k, v in j.items()}))')
    cleanup
  fi
  python3 -c 'import json,sys; d={"run": int(sys.argv[1])}; [d.update(json.loads(a)) for a in sys.argv[2:]]; print(json.dumps(d))' \
      "$run" "$L" "$Q" "$T" "$P" | tee -a "$OUT"
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nmedians of {len(rows)} run(s) ({sys.argv[1]}):")
print("| figure | kelp server | runs |\n|---|---|---|")
for k in rows[0]:
    if k == "run": continue
    vals = [r[k] for r in rows if k in r]
    if all(isinstance(v, (int, float)) for v in vals):
        print(f"| {k} | {statistics.median(vals):g} | {', '.join(f'{v:g}' for v in vals)} |")
PY
