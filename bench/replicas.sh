#!/usr/bin/env bash
# Ingest with 1, 2 and 3 `kelp server` replicas on this machine (issue #11, item 4).
#
# usage: bench/replicas.sh [DATASET] [RUNS]        (defaults: /tmp/ds-small, 1)
#   env: BASE_PORT (3300), COUNTS ("1 2 3"), SKIP_BUILD=1, BIN (a kelp binary),
#        COUNT_QUERY=0 skips the merged count (a dataset over replicas.max_merge_entries
#        lines per replica is refused with a 400)
#
# Per run and replica count N: N fresh replicas on 127.0.0.1:BASE_PORT+i, each with the
# others as replicas.peers. The dataset's streams are spread over the replicas by
# rendezvous hashing of their labels (SHA-256 here; agents use XXH3, the same spread) and
# each replica's share is pushed by its own shared/bench/pushload.py (Loki push JSON +
# gzip, 2 loader processes, ~1 MiB batches), all shares at the same time. Figures: the
# replicas' summed user+sys CPU across the load (`cpu_s`) and until they are idle again
# (`cpu_settled_s`), raw MB per CPU-second from both, the wall time and aggregate MB/s,
# the largest replica's VmHWM. Then, on replica 0, a metric query that merges every
# replica (`sum(count_over_time({namespace=~".+"}[25h]))`, checked against the dataset's
# line count) and a log query (last 1,000 lines of one pod), timed by curl (median of 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=${1:-/tmp/ds-small}
RUNS=${2:-1}
BASE_PORT=${BASE_PORT:-3300}
COUNTS=${COUNTS:-1 2 3}
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
BIN=${BIN:-$ROOT/target/release/kelp}
[ -f "$DS/manifest.json" ] || { echo "no $DS/manifest.json (python3 bench/small-dataset.py /tmp/ds2 $DS)" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p kelp --bin kelp)
fi
WORK=$(mktemp -d /tmp/kelp-replicas-bench.XXXXXX)
OUT=$WORK/results.jsonl
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sum_ticks() { local s=0; for p in "${PIDS[@]}"; do s=$((s + $(cpu_ticks "$p"))); done; echo $s; }
max_hwm() { local m=0 h; for p in "${PIDS[@]}"; do h=$(awk '/VmHWM/ {print $2}' "/proc/$p/status"); [ "$h" -gt "$m" ] && m=$h; done; echo $m; }

settle() { # until the replicas together use < 2 % of a core over a second (at most 120 s)
  local a b
  for _ in $(seq 1 120); do
    a=$(sum_ticks); sleep 1; b=$(sum_ticks)
    [ $((b - a)) -le 2 ] && return 0
  done
}

# Splits the manifest into one per replica (rendezvous hashing of the stream's labels).
split() { # $1: N; writes $WORK/share-<i>/manifest.json
  python3 - "$DS" "$WORK" "$1" "$BASE_PORT" <<'PY'
import hashlib, json, os, sys
ds, work, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = json.load(open(os.path.join(ds, "manifest.json")))
urls = [f"http://127.0.0.1:{port + i}" for i in range(n)]
shares = [[] for _ in urls]
for s in m["streams"]:
    key = f'{{container="{s["container"]}",namespace="{s["namespace"]}",pod="{s["pod"]}"}}'
    best = max(range(n), key=lambda i: hashlib.sha256((urls[i] + key).encode()).digest())
    shares[best].append(dict(s, path=os.path.join(os.path.abspath(ds), s["path"])))
for i, streams in enumerate(shares):
    os.makedirs(f"{work}/share-{i}", exist_ok=True)
    json.dump(dict(m, streams=streams), open(f"{work}/share-{i}/manifest.json", "w"))
print(json.dumps([len(s) for s in shares]))
PY
}

start() { # $1: N
  local peers="" i
  for i in $(seq 0 $(($1 - 1))); do peers="$peers${peers:+,}http://127.0.0.1:$((BASE_PORT + i))"; done
  for i in $(seq 0 $(($1 - 1))); do
    mkdir -p "$WORK/data-$i"
    KELP_SERVER_REPLICAS__PEERS=$peers KELP_SERVER_REPLICAS__SELF_URL="http://127.0.0.1:$((BASE_PORT + i))" \
      "$BIN" server --listen "127.0.0.1:$((BASE_PORT + i))" --data-dir "$WORK/data-$i" >"$WORK/server-$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in $(seq 0 $(($1 - 1))); do
    for _ in $(seq 1 200); do
      curl -sf "http://127.0.0.1:$((BASE_PORT + i))/ready" >/dev/null 2>&1 && break
      sleep 0.05
    done
  done
}

median_ms() { # $@: curl args; median of 3 timed runs after a warm-up, in ms
  curl -sf -o /dev/null "$@"
  for _ in 1 2 3; do curl -sf -o /dev/null -w '%{time_total}\n' "$@"; done \
    | sort -n | sed -n 2p | awk '{printf "%.1f", $1 * 1000}'
}

for run in $(seq 1 "$RUNS"); do
  for n in $COUNTS; do
    shares=$(split "$n")
    start "$n"
    hz=$(getconf CLK_TCK)
    c0=$(sum_ticks); t0=$(date +%s.%N)
    lpids=()
    for i in $(seq 0 $((n - 1))); do
      python3 "$SHARED/bench/pushload.py" "$WORK/share-$i" "http://127.0.0.1:$((BASE_PORT + i))" --procs 2 >"$WORK/load-$i.json" &
      lpids+=($!)
    done
    for p in "${lpids[@]}"; do wait "$p"; done
    t1=$(date +%s.%N); c1=$(sum_ticks)
    settle
    c2=$(sum_ticks)
    hwm=$(max_hwm)
    end_ns=$(python3 -c "import json;print(json.load(open('$DS/manifest.json'))['end_ns'])")
    want=$(python3 -c "import json;print(sum(s['lines'] for s in json.load(open('$DS/manifest.json'))['streams']))")
    pod=$(python3 -c "import json;print(json.load(open('$DS/manifest.json'))['streams'][0]['pod'])")
    count_args=(-G "http://127.0.0.1:$BASE_PORT/loki/api/v1/query"
      --data-urlencode 'query=sum(count_over_time({namespace=~".+"}[25h]))'
      --data-urlencode "time=$end_ns")
    got=-1 count_ms=-1
    if [ "${COUNT_QUERY:-1}" = 1 ]; then
      got=$(curl -sf "${count_args[@]}" | python3 -c 'import json,sys;r=json.load(sys.stdin)["data"]["result"];print(r[0]["value"][1] if r else 0)')
      count_ms=$(median_ms "${count_args[@]}")
    fi
    last_args=(-G "http://127.0.0.1:$BASE_PORT/loki/api/v1/query_range"
      --data-urlencode "query={pod=\"$pod\"}" --data-urlencode limit=1000
      --data-urlencode "start=$((end_ns - 86400000000000 - 1))" --data-urlencode "end=$((end_ns + 1))")
    last_ms=$(median_ms "${last_args[@]}")
    python3 - "$n" "$shares" "$hz" "$c0" "$c1" "$c2" "$t0" "$t1" "$hwm" "$want" "$got" "$count_ms" "$last_ms" "$(cut -d' ' -f1 /proc/loadavg)" "$WORK" <<'PY' | tee -a "$OUT"
import json, sys, glob
n, shares, hz = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
c0, c1, c2 = (int(x) / hz for x in sys.argv[4:7]); t0, t1 = float(sys.argv[7]), float(sys.argv[8])
loads = [json.load(open(p)) for p in sorted(glob.glob(sys.argv[15] + "/load-*.json"))[:n]]
raw = sum(l["bytes"] for l in loads); mb = raw / 1e6
print(json.dumps({"replicas": n, "streams_per_replica": shares, "raw_bytes": raw,
  "errors": sum(l["errors"] for l in loads), "wall_s": round(t1 - t0, 2),
  "mb_per_s_wall": round(mb / (t1 - t0), 1), "cpu_s": round(c1 - c0, 2),
  "cpu_settled_s": round(c2 - c0, 2), "mb_per_cpu_s": round(mb / max(c1 - c0, 1e-9), 1),
  "mb_per_cpu_s_settled": round(mb / max(c2 - c0, 1e-9), 1),
  "max_peak_rss_mib": round(int(sys.argv[9]) / 1024), "lines_want": int(sys.argv[10]),
  "lines_counted_across_replicas": int(float(sys.argv[11])), "count_query_ms": float(sys.argv[12]),
  "last_1000_ms": float(sys.argv[13]), "loadavg_1m": float(sys.argv[14])}))
PY
    cleanup
    rm -rf "$WORK"/data-* "$WORK"/share-* "$WORK"/load-*.json
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = ["wall_s", "mb_per_s_wall", "cpu_s", "mb_per_cpu_s", "mb_per_cpu_s_settled", "max_peak_rss_mib", "count_query_ms", "last_1000_ms", "loadavg_1m"]
print("| replicas | " + " | ".join(keys) + " |")
print("|---" * (len(keys) + 1) + "|")
for n in sorted({r["replicas"] for r in rows}):
    rs = [r for r in rows if r["replicas"] == n]
    cells = [f'{statistics.median(r[k] for r in rs)} ({", ".join(str(r[k]) for r in rs)})' for k in keys]
    print(f"| {n} | " + " | ".join(cells) + " |")
PY
