#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/fuzz_*.cpp), one after another, each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every target
#
# Builds the fuzzers with scripts/sanitize.sh (clang, ASan + UBSan). Each target starts from its
# seed corpus (fuzz/corpus/<target>) plus what earlier runs found (build-sanitize/fuzz-work/); an
# input that crashes, hangs (over 10 s), runs out of memory or leaks is copied to
# fuzz/regressions/<target>/, where test_fuzz_replay (ctest) keeps replaying it once it is fixed.
# Prints executions and findings per target (one fuzzing process at a time). Environment:
# MEMEMBED_SANITIZE_DIR, JOBS (build parallelism).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEMEMBED_SANITIZE_DIR:-$here/build-sanitize}"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in "$here"/fuzz/fuzz_*.cpp; do
    name="$(basename "$source" .cpp)"
    [ "$name" = "fuzz_target" ] || targets+=("${name#fuzz_}")
  done
fi

"$here/scripts/sanitize.sh" --build "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/scripts/sanitizer-suppressions/lsan.txt}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
printf '%-22s %12s %8s %10s %s\n' target executions seconds exec/s findings
status=0
for target in "${targets[@]}"; do
  work="$build_dir/fuzz-work/$target"
  artifacts="$build_dir/fuzz-artifacts/$target"
  mkdir -p "$work" "$artifacts"
  log="$build_dir/fuzz-artifacts/$target.log"
  start=$(date +%s)
  # libFuzzer stops at the first finding; -max_total_time bounds the run either way.
  "$build_dir/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=6144 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "$here/fuzz/corpus/$target" >"$log" 2>&1 || true
  elapsed=$(( $(date +%s) - start ))
  executions=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
  findings=()
  for artifact in "$artifacts"/*; do
    [ -e "$artifact" ] || continue
    mkdir -p "$here/fuzz/regressions/$target"
    cp "$artifact" "$here/fuzz/regressions/$target/"
    findings+=("$(basename "$artifact")")
    rm "$artifact"
    status=1
  done
  printf '%-22s %12s %8s %10s %s\n' "$target" "$executions" "$elapsed" \
    "$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))" "${findings[*]:-none}"
done
exit $status
