#!/usr/bin/env bash
# Runs the fuzz targets of a bundle made by scripts/fuzz-bundle.sh, on the machine it was copied to.
#
#   OUT=DIR ./run.sh SECONDS [TARGET:PROCESSES...]     default plan: the bundle's file `plan`
#
# Each target runs in PROCESSES libFuzzer processes at once (one per core) for SECONDS, sharing one
# working corpus that starts from the bundled seeds; a process that stops on a finding is started
# again for the time left. Writes under $OUT/fuzz/ ($OUT may hold other jobs' results):
#   summary.tsv           per target: processes, executions (libFuzzer's final stats summed over
#                         every process and restart), seconds, executions/s, findings
#   logs/<target>.<p>.<run>.log   the end of each libFuzzer log (final stats, any report)
#   crashes/<target>/     every input that crashed, hung (30 s), ran out of memory or leaked
#   corpus/<target>.tar.gz        the working corpus at the end (new seeds for the next run)
#   machine.txt           cores, load average before and after
set -u

seconds=${1:?usage: OUT=DIR run.sh SECONDS [TARGET:PROCESSES...]}
shift
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:?set OUT to the folder that receives the results}/fuzz
plan=("$@")
[ ${#plan[@]} -gt 0 ] || read -r -a plan <"$bundle/plan"

export MEMEMBED_SHARED_DIR="$bundle/shared"
export MEMEMBED_SENTENCEPIECE_SHIM="$bundle/bin/libmemembed_sentencepiece.so"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
work=$(mktemp -d "${TMPDIR:-/tmp}/memembed-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/logs" "$out/corpus"
{ echo "cores: $(nproc)"; echo "before: $(uptime)"; } >"$out/machine.txt"

# The bundled loader and libraries, so that the binaries run whatever the machine has installed.
if [ ! -d "$bundle/lib" ]; then
  mkdir "$bundle/lib.partial" && tar -C "$bundle/lib.partial" -xJf "$bundle/lib.tar.xz" && mv "$bundle/lib.partial" "$bundle/lib"
fi
run_fuzzer() {
  "$bundle/lib/ld-linux-x86-64.so.2" --library-path "$bundle/lib" "$bundle/bin/fuzz_$1" "${@:2}"
}

worker() {
  local target=$1 process=$2 run=0 left
  local deadline=$(($(date +%s) + seconds))
  while left=$((deadline - $(date +%s))); [ "$left" -gt 2 ]; do
    run=$((run + 1))
    local log="$work/$target.$process.$run.log"
    run_fuzzer "$target" -max_total_time="$left" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$target/" "$work/corpus/$target" "$bundle/corpus/$target" >"$log" 2>&1
    tail -n 80 "$log" >"$out/logs/$target.$process.$run.log"
  done
}

start=$(date +%s)
for entry in "${plan[@]}"; do
  target=${entry%%:*}
  processes=${entry##*:}
  mkdir -p "$work/corpus/$target" "$out/crashes/$target"
  for process in $(seq 1 "$processes"); do worker "$target" "$process" & done
done
wait
elapsed=$(($(date +%s) - start))

printf 'target\tprocesses\texecutions\tseconds\texec_per_s\tfindings\n' >"$out/summary.tsv"
for entry in "${plan[@]}"; do
  target=${entry%%:*}
  processes=${entry##*:}
  executions=0
  for log in "$work/$target".*.log; do
    # The final stats; a process killed before printing them counts its last status line.
    count=$(awk '/stat::number_of_executed_units/ {n = $2} END {print n}' "$log")
    [ -n "$count" ] || count=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    executions=$((executions + ${count:-0}))
  done
  findings=$(find "$out/crashes/$target" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$processes" "$executions" "$elapsed" \
    "$((executions / (elapsed > 0 ? elapsed : 1)))" "$findings" >>"$out/summary.tsv"
  tar czf "$out/corpus/$target.tar.gz" -C "$work/corpus" "$target"
done
echo "after: $(uptime)" >>"$out/machine.txt"
cat "$out/summary.tsv"
