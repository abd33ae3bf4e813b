#!/bin/bash
# Packs onednn_kernel_check with every shared library it loads (libdnnl gzipped: 40 MB -> 11 MB),
# the dynamic loader included, into DEST, with a run.sh that needs nothing on the target machine
# but bash, gzip and an x86-64 Linux kernel. For running the int8/bf16 kernels on CPUs this one
# lacks (AVX512_BF16, AVX-512 VNNI, AMX); docs/bench.md says how to read its output.
#
#   bench/model/make-onednn-bundle.sh build DEST    (after building the onednn_kernel_check target)
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR DEST}
dest=${2:?usage: $0 BUILD_DIR DEST}
binary="$build/bench/model/onednn_kernel_check"
[ -x "$binary" ] || { echo "$binary is missing: cmake --build $build --target onednn_kernel_check" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest/lib"
strip -o "$dest/onednn_kernel_check" "$binary"
# Every library ldd resolves, plus the loader itself (the target's glibc may be older than ours).
ldd "$binary" | awk '/=> \// { print $3 } /ld-linux-x86-64/ && !/=>/ { print $1 }' | while read -r lib; do
  name=$(basename "$lib")
  if [ "$name" = libdnnl.so.2 ]; then
    gzip -9 -c "$(readlink -f "$lib")" > "$dest/lib/$name.gz"
  else
    cp -L "$lib" "$dest/lib/$name"
  fi
done
[ -e "$dest/lib/ld-linux-x86-64.so.2" ] || { echo "ldd listed no ld-linux-x86-64.so.2" >&2; exit 1; }

cat > "$dest/run.sh" <<'EOF'
#!/bin/bash
# oneDNN kernel check (memembed bench/model/onednn_kernel_check): the CPU's flags, then the full
# check at the CPU's own instruction sets, then quick checks with oneDNN capped at each lower one
# (DNNL_MAX_CPU_ISA) to show the fallback branches. Results in $OUT/onednn-check.txt.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/out}
mkdir -p "$out"
libs=$(mktemp -d)
trap 'rm -rf "$libs"' EXIT
cp "$here"/lib/*.so* "$libs"/
gzip -dc "$here/lib/libdnnl.so.2.gz" > "$libs/libdnnl.so.2"
check() {  # check SECONDS [ARGS...]: one run under the bundled loader and libraries
  local limit=$1
  shift
  timeout "$limit" "$libs/ld-linux-x86-64.so.2" --library-path "$libs" "$here/onednn_kernel_check" "$@" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || echo "onednn_kernel_check exited with $rc"
}
{
  if command -v lscpu > /dev/null; then
    lscpu | grep -i '^flags'
    lscpu | grep -i 'model name\|^cpu(s)\|socket\|numa node(s)\|l2 cache\|l3 cache'
  else
    grep -m1 '^flags' /proc/cpuinfo
    grep -m1 '^model name' /proc/cpuinfo
  fi
  echo "== $(date -u) $(uname -srm)"
  echo "== native"
  check 70
  for isa in AVX512_CORE_BF16 AVX512_CORE_VNNI AVX512_CORE AVX2_VNNI AVX2 SSE41; do
    echo "== DNNL_MAX_CPU_ISA=$isa (quick)"
    DNNL_MAX_CPU_ISA=$isa check 12 --quick --max-seconds 0.1
  done
} 2>&1 | tee "$out/onednn-check.txt"
EOF
chmod +x "$dest/run.sh"
du -sh "$dest"
