#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/fuzz_*.cpp), one after another, each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every target of the build
#
# Builds the fuzzers with scripts/sanitize.sh (clang, ASan + UBSan; MEMEMBED_ONLY_MODULES selects
# the modules, and with it the targets: "core;text;hub;retrieval;eval;select" builds every target
# but safetensors, model_config and model_directory without libtorch). Each target starts from its
# seed corpus (fuzz/corpus/<target>) plus what earlier runs found (build-sanitize/fuzz-work/); an
# input that crashes, hangs (over 10 s), runs out of memory (over 2 GiB) or leaks is copied to
# fuzz/regressions/<target>/, where test_fuzz_replay (ctest) keeps replaying it once it is fixed.
# One fuzzing process at a time. Prints, per target, libFuzzer's executions, the wall time, the
# rate, the corpus units it added and the findings; the same line is appended to
# build-sanitize/fuzz-results.tsv. Environment: MEMEMBED_SANITIZE_DIR, JOBS (build parallelism),
# MEMEMBED_FUZZ_RUNS (also stop a target after this many executions).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEMEMBED_SANITIZE_DIR:-$here/build-sanitize}"
seconds="${1:-60}"
shift || true
targets=("$@")

if [ ${#targets[@]} -eq 0 ]; then
  "$here/scripts/sanitize.sh" --build fuzzers
  for binary in "$build_dir"/fuzz/fuzz_*; do
    [ -x "$binary" ] && targets+=("$(basename "$binary" | sed 's/^fuzz_//')")
  done
else
  "$here/scripts/sanitize.sh" --build "${targets[@]/#/fuzz_}"
fi

limits=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048)
[ -n "${MEMEMBED_FUZZ_RUNS:-}" ] && limits+=(-runs="$MEMEMBED_FUZZ_RUNS")

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/scripts/sanitizer-suppressions/lsan.txt}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
results="$build_dir/fuzz-results.tsv"
[ -e "$results" ] || printf 'date\ttarget\texecutions\tseconds\texec_per_s\tnew_units\tfindings\n' >"$results"
printf '%-22s %12s %8s %10s %9s %s\n' target executions seconds exec/s new_units findings
status=0
for target in "${targets[@]}"; do
  work="$build_dir/fuzz-work/$target"
  artifacts="$build_dir/fuzz-artifacts/$target"
  mkdir -p "$work" "$artifacts"
  log="$build_dir/fuzz-artifacts/$target.log"
  start=$(date +%s)
  # libFuzzer stops at the first finding; the limits above bound the run either way.
  "$build_dir/fuzz/fuzz_$target" "${limits[@]}" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "$here/fuzz/corpus/$target" >"$log" 2>&1 || true
  elapsed=$(( $(date +%s) - start ))
  executions=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
  new_units=$(awk '/stat::new_units_added/ {print $2}' "$log" | tail -n1)
  findings=()
  for artifact in "$artifacts"/*; do
    [ -e "$artifact" ] || continue
    mkdir -p "$here/fuzz/regressions/$target"
    cp "$artifact" "$here/fuzz/regressions/$target/"
    findings+=("$(basename "$artifact")")
    rm "$artifact"
    status=1
  done
  rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
  printf '%-22s %12s %8s %10s %9s %s\n' "$target" "${executions:-0}" "$elapsed" "$rate" \
    "${new_units:-0}" "${findings[*]:-none}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${executions:-0}" \
    "$elapsed" "$rate" "${new_units:-0}" "${findings[*]:-none}" >>"$results"
done
exit $status
