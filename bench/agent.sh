#!/usr/bin/env bash
# Benchmarks `kelp agent` on a simulated node, as shared/bench/ANCHORS.md measured Fluent Bit.
#
# usage: bench/agent.sh [RUNS]                   (default 3)
#   env: LINES (3900000: ≈1 GiB of CRI text over 50 pods), WORK (/tmp/kelp-agent-bench),
#        BIN (target/release/kelp), SKIP_BUILD=1, KEEP_TREE=1 (reuse WORK/node),
#        VERIFY (1: `kelp verify` after every server run; 0: never),
#        FOLLOW_RATE (20000 lines/s) and FOLLOW_SECS (60; 0 skips the follow case),
#        AGENT_ARGS (extra flags for every agent, e.g. "--max-in-flight 4"),
#        FLUENT_BIT=/path/to/fluent-bit also runs Fluent Bit on the same tree (FB_ADVISE=Off
#        turns its File_Cache_Advise off) and prints the ratios.
#
# (a) ship the tree once to a fresh `kelp server` (native sink), then `kelp verify` the
#     ledger: 0 lost, duplicated or altered; (b) ship it once to the null sink;
#     (c) follow a node written at FOLLOW_RATE lines/s for FOLLOW_SECS (kubelet rotation
#     defaults) to a server, sampling the agent's RSS every second, then verify.
# Agent CPU = utime+stime from /proc/<pid>/stat when the last line was acknowledged
# (kelp_agent_lines_shipped_total on /metrics reached the simulator's line count), so it
# includes start-up and discovery. Peak RSS = VmHWM. MiB = the tree's bytes (CRI framing
# included) / 2^20, as ANCHORS.md counts them. One JSON line per run, then medians.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
LINES=${LINES:-3900000}
WORK=${WORK:-/tmp/kelp-agent-bench}
BIN=${BIN:-$ROOT/target/release/kelp}
VERIFY=${VERIFY:-1}
FOLLOW_RATE=${FOLLOW_RATE:-20000}
FOLLOW_SECS=${FOLLOW_SECS:-60}
AGENT_ARGS=${AGENT_ARGS:-}
FB_ANCHOR=35   # Fluent Bit to HTTP, MiB per CPU-s (ANCHORS.md; 44.5 with File_Cache_Advise Off)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p kelp --bin kelp)
fi
mkdir -p "$WORK"
OUT=$WORK/results.jsonl
: >"$OUT"
SPID= APID= FPID=
cleanup() {
  for p in $APID $FPID $SPID; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  SPID= APID= FPID=
}
trap cleanup EXIT INT TERM

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# The tree: every line in 0.log (no rotation), as in ANCHORS.md; a ledger for verify.
TREE=$WORK/node
if [ "${KEEP_TREE:-0}" != 1 ] || [ ! -f "$WORK/sim.json" ]; then
  rm -rf "$TREE" "$WORK/ledger.jsonl"
  "$BIN" simulate --root "$TREE" --pods 50 --lines "$LINES" --max-size 64Gi --seed 1 \
    --ledger "$WORK/ledger.jsonl" --output json >"$WORK/sim.json"
fi
TREE_BYTES=$(du -sb "$TREE/var/log/pods" | cut -f1)
TREE_LINES=$(jq .lines "$WORK/sim.json")
echo "tree: $TREE_BYTES bytes, $TREE_LINES lines, $(find "$TREE/var/log/pods" -type f | wc -l) files" >&2
cat "$TREE"/var/log/pods/*/*/* >/dev/null   # warm page cache, as the anchor

start_server() { # $1: data dir; sets SPID and URL
  rm -rf "$1"
  "$BIN" server --listen 127.0.0.1:0 --data-dir "$1" >"$1.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 200); do
    URL=$(sed -n 's/^kelp server listening on //p' "$1.log" | head -1)
    [ -n "$URL" ] && curl -sf "$URL/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server never became ready" >&2; tail "$1.log" >&2; exit 1
}

start_agent() { # $1: pods dir, $2: state dir, rest: flags; sets APID and MURL
  local pods=$1 state=$2; shift 2
  rm -rf "$state"
  # shellcheck disable=SC2086
  RUST_LOG=warn "$BIN" agent --pods-dir "$pods" --state-dir "$state" --node-name bench \
    --listen 127.0.0.1:0 "$@" $AGENT_ARGS 2>"$state.log" &
  APID=$!
  for _ in $(seq 1 200); do
    MURL=$(sed -n 's/^kelp agent metrics on //p' "$state.log" | head -1)
    [ -n "$MURL" ] && return 0
    sleep 0.02
  done
  echo "agent never served metrics" >&2; tail "$state.log" >&2; exit 1
}

shipped() { curl -sf "$MURL/metrics" | awk '$1 == "kelp_agent_lines_shipped_total" {print $2}'; }

# Waits until the agent acknowledged $1 lines (or made no progress for 20 s).
wait_shipped() {
  local want=$1 last=-1 n still=0
  while :; do
    n=$(shipped || echo 0)
    [ "${n:-0}" -ge "$want" ] && return 0
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
    [ $still -ge 200 ] && { echo "agent stalled at $n of $want lines" >&2; return 1; }
    sleep 0.1
  done
}

verify() { # $1: ledger; prints the verify JSON summary (or an error object)
  local v
  local failed='{"error":"verify printed nothing"}'
  v=$("$BIN" verify --ledger "$1" --server "$URL" 2>/dev/null | tail -1) || true
  echo "${v:-$failed}"
}

once() { # $1: case name, $2: sink; prints one JSON line
  local name=$1 sink=$2 t0 t1 ticks hwm v='null'
  if [ "$sink" = kelp ]; then start_server "$WORK/data"; else URL=http://127.0.0.1:9; fi
  t0=$(date +%s.%N)
  start_agent "$TREE/var/log/pods" "$WORK/state" --sink "$sink" --server "$URL"
  wait_shipped "$TREE_LINES" || true
  t1=$(date +%s.%N); ticks=$(cpu_ticks "$APID"); hwm=$(hwm_kib "$APID")
  local got; got=$(shipped)
  kill -TERM "$APID"; wait "$APID" 2>/dev/null || true; APID=
  if [ "$sink" = kelp ] && [ "$VERIFY" = 1 ]; then v=$(verify "$WORK/ledger.jsonl"); fi
  [ -n "$SPID" ] && { kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; }
  python3 - "$name" "$TREE_BYTES" "$TREE_LINES" "$got" "$t0" "$t1" "$ticks" "$HZ" "$hwm" "$v" <<'PY'
import json, sys
name, b, lines, got, t0, t1, ticks, hz, hwm, v = sys.argv[1:]
cpu = int(ticks) / int(hz); mib = int(b) / 2**20
print(json.dumps({"case": name, "mib": round(mib, 1), "lines": int(lines), "shipped": int(got or 0),
  "wall_s": round(float(t1) - float(t0), 2), "cpu_s": round(cpu, 2),
  "mib_per_cpu_s": round(mib / max(cpu, 1e-9), 1), "lines_per_cpu_s": round(int(lines) / max(cpu, 1e-9)),
  "peak_rss_mib": round(int(hwm) / 1024, 1), "verify": json.loads(v)}))
PY
}

follow() { # prints one JSON line
  local f=$WORK/follow t0 t1 ticks hwm samples=() simpid v='null'
  rm -rf "$f"; mkdir -p "$f"
  start_server "$WORK/data"
  mkdir -p "$f/node/var/log/pods"
  start_agent "$f/node/var/log/pods" "$WORK/state" --sink kelp --server "$URL"
  t0=$(date +%s.%N)
  "$BIN" simulate --root "$f/node" --pods 50 --rate "$FOLLOW_RATE" --duration "$FOLLOW_SECS" \
    --seed 2 --ledger "$f/ledger.jsonl" --output json >"$f/sim.json" &
  simpid=$!
  while kill -0 "$simpid" 2>/dev/null; do
    samples+=("$(rss_kib "$APID")"); sleep 1
  done
  wait "$simpid"
  local lines; lines=$(jq .lines "$f/sim.json")
  wait_shipped "$lines" || true
  t1=$(date +%s.%N); ticks=$(cpu_ticks "$APID"); hwm=$(hwm_kib "$APID")
  local bytes; bytes=$(jq .bytes "$f/sim.json")
  kill -TERM "$APID"; wait "$APID" 2>/dev/null || true; APID=
  [ "$VERIFY" = 1 ] && v=$(verify "$f/ledger.jsonl")
  kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
  python3 - "$bytes" "$lines" "$t0" "$t1" "$ticks" "$HZ" "$hwm" "$v" "${samples[*]}" <<'PY'
import json, statistics, sys
b, lines, t0, t1, ticks, hz, hwm, v, samples = sys.argv[1:]
s = [int(x) / 1024 for x in samples.split()]
late = s[len(s) // 2:] or [0]
cpu = int(ticks) / int(hz); mib = int(b) / 2**20
print(json.dumps({"case": "follow", "mib": round(mib, 1), "lines": int(lines), "wall_s": round(float(t1) - float(t0), 2),
  "cpu_s": round(cpu, 2), "cpu_share": round(cpu / max(float(t1) - float(t0), 1e-9), 3),
  "mib_per_cpu_s": round(mib / max(cpu, 1e-9), 1),
  "steady_rss_mib_median": round(statistics.median(late), 1), "steady_rss_mib_max": round(max(late), 1),
  "peak_rss_mib": round(int(hwm) / 1024, 1), "verify": json.loads(v)}))
PY
}

fluent_bit() { # Fluent Bit on the same tree, Loki output to a fresh kelp server
  local d=$WORK/fb t0 t1 ticks hwm n last=-1 still=0
  rm -rf "$d"; mkdir -p "$d"
  start_server "$WORK/data"
  local port=${URL##*:}
  cat >"$d/fb.conf" <<EOF
[SERVICE]
    Flush        1
    Log_Level    warn
    HTTP_Server  On
    HTTP_Listen  127.0.0.1
    HTTP_Port    ${FB_PORT:-2021}
[INPUT]
    Name              tail
    Path              $TREE/var/log/pods/*/*/*.log
    multiline.parser  cri
    Read_from_Head    On
    DB                $d/offsets.db
    File_Cache_Advise ${FB_ADVISE:-On}
[OUTPUT]
    Name   loki
    Match  *
    Host   127.0.0.1
    Port   $port
    Labels job=fluent-bit
EOF
  t0=$(date +%s.%N)
  "$FLUENT_BIT" -c "$d/fb.conf" >"$d/fb.log" 2>&1 &
  FPID=$!
  while :; do
    n=$(curl -sf "http://127.0.0.1:${FB_PORT:-2021}/api/v1/metrics" \
        | jq '[.output[]?.proc_records] | add // 0' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge "$TREE_LINES" ] && break
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
    [ $still -ge 100 ] && { echo "fluent-bit stalled at $n records" >&2; break; }
    sleep 0.1
  done
  t1=$(date +%s.%N); ticks=$(cpu_ticks "$FPID"); hwm=$(hwm_kib "$FPID")
  kill -TERM "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=
  kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
  python3 - "$TREE_BYTES" "$n" "$t0" "$t1" "$ticks" "$HZ" "$hwm" <<'PY'
import json, sys
b, n, t0, t1, ticks, hz, hwm = sys.argv[1:]
cpu = int(ticks) / int(hz); mib = int(b) / 2**20
print(json.dumps({"case": "fluent-bit", "mib": round(mib, 1), "records": int(n), "wall_s": round(float(t1) - float(t0), 2),
  "cpu_s": round(cpu, 2), "mib_per_cpu_s": round(mib / max(cpu, 1e-9), 1), "peak_rss_mib": round(int(hwm) / 1024, 1)}))
PY
}

for i in $(seq 1 "$RUNS"); do
  once server kelp | tee -a "$OUT"
  once null null | tee -a "$OUT"
  if [ -n "${FLUENT_BIT:-}" ]; then fluent_bit | tee -a "$OUT"; fi
done
if [ "$FOLLOW_SECS" != 0 ]; then follow | tee -a "$OUT"; fi

python3 - "$OUT" "$FB_ANCHOR" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
anchor = float(sys.argv[2])
med = {}
print("\ncase        runs  MiB/CPU-s  lines/CPU-s  wall s  CPU s  peak RSS MiB  verify")
for case in ["server", "null", "fluent-bit", "follow"]:
    rs = [r for r in rows if r["case"] == case]
    if not rs:
        continue
    m = lambda k: statistics.median(r.get(k, 0) for r in rs)
    med[case] = m("mib_per_cpu_s")
    ver = {json.dumps(r.get("verify")) for r in rs if r.get("verify") is not None}
    print(f"{case:<11} {len(rs):>4}  {m('mib_per_cpu_s'):>9.1f}  {m('lines_per_cpu_s'):>11.0f}  "
          f"{m('wall_s'):>6.1f}  {m('cpu_s'):>5.1f}  {m('peak_rss_mib'):>12.1f}  {' '.join(ver) or '-'}")
    if case == "follow":
        print(f"            steady RSS median {m('steady_rss_mib_median')} MiB, max {m('steady_rss_mib_max')} MiB, "
              f"CPU share {m('cpu_share')}")
if "server" in med:
    print(f"\nto the server: {med['server'] / anchor:.2f}x Fluent Bit's anchor ({anchor} MiB/CPU-s to HTTP); goal 130 MiB/CPU-s")
if "fluent-bit" in med:
    for case in ["server", "null"]:
        if case in med:
            print(f"{case} / fluent-bit (same run): {med[case] / med['fluent-bit']:.2f}x")
PY
