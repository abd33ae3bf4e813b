#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of the whole test suite, with clang, in its
# own build directory (the Release build is untouched), then the test suite in it.
#
#   scripts/sanitize.sh [ctest arguments]       build everything, run ctest (e.g. -R test_safetensors)
#   scripts/sanitize.sh --build TARGET...       only build the given targets (scripts/fuzz.sh uses this)
#
# Environment: MEMEMBED_SANITIZE_DIR (default build-sanitize), JOBS (default 2),
# MEMEMBED_ONLY_MODULES (default: every module; e.g. "core;text;hub;retrieval;eval;select" leaves
# out libtorch and builds in a fraction of the time; the tests and fuzz targets of the modules left
# out are not built). The module list is re-applied at each run. Everything is also
# compiled with -fsanitize=fuzzer-no-link, so the libFuzzer binaries (fuzz_<target>) come from the
# same build. Any sanitizer report fails the test that triggered it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEMEMBED_SANITIZE_DIR:-$here/build-sanitize}"
jobs="${JOBS:-2}"

flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# -O1 and line tables only (as OSS-Fuzz builds): reports keep file:line, and the libtorch modules
# compile faster than with -O2 -g.
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DMEMEMBED_FUZZ=ON -DMEMEMBED_BUILD_BENCH=OFF \
  -DMEMEMBED_ONLY_MODULES="${MEMEMBED_ONLY_MODULES:-}" >/dev/null

if [ "${1:-}" = "--build" ]; then
  shift
  cmake --build "$build_dir" -j "$jobs" --target "$@"
  exit 0
fi

cmake --build "$build_dir" -j "$jobs"
# Leaks are reported (LeakSanitizer is part of ASan); suppressions only for libraries we do not
# build (see scripts/sanitizer-suppressions/).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/scripts/sanitizer-suppressions/lsan.txt:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "$@"
