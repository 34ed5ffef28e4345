#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, JOBS at a time, at low CPU
# priority, on its seeds (fuzz/seeds/<t>) and its growing corpus (fuzz/corpus/<t>), and
# prints one line per target: name, seconds, CPU seconds, execs, crashes.
#   cd fuzz && cargo +nightly fuzz build && SECONDS_EACH=1800 JOBS=4 ./run-all.sh [target...]
# Logs go to fuzz/logs/<target>.log; crashing inputs to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
each=${SECONDS_EACH:-600}
jobs=${JOBS:-2}
bin=target/x86_64-unknown-linux-gnu/release
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
mkdir -p logs
run_one() {
  t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  # libFuzzer writes new inputs to the first folder only; the seeds stay as they are.
  /usr/bin/time -f '%U %S' -o "logs/$t.time" nice -n 19 "$bin/$t" "corpus/$t" "seeds/$t" \
    -max_total_time="$each" -print_final_stats=1 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1 || true
  end=$(date +%s)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  cpu=$(awk '{printf "%.0f", $1 + $2}' "logs/$t.time")
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$(date +%F) $t $((end - start))s cpu=${cpu}s execs=$execs crashes=$crashes"
}
export -f run_one
export each bin
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
