#!/usr/bin/env bash
# Installs every dependency memembed needs (Debian 12 packages) and builds it in Release.
# Idempotent: rerunning only installs what is missing and rebuilds what changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEMEMBED_BUILD_DIR:-$here/build}"

packages=(
  build-essential cmake pkg-config ninja-build ccache
  libtorch-dev libopenblas0-openmp libopenblas-openmp-dev
  nlohmann-json3-dev libsentencepiece-dev libutf8proc-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libcurl4-openssl-dev libcpp-httplib-dev libssl-dev
  libhnswlib-dev
  libstemmer-dev  # Snowball stems: the inflections of question-style fusion-tuning queries
  postgresql postgresql-server-dev-15 libpq-dev
  libgloo-dev
  libdnnl-dev
  python3
  python3-torch  # bench/tune: the PyTorch side of the training-step comparison
  python3-numpy python3-yaml python3-sentencepiece  # bench/llamacpp: gguf-py writes the GGUF files (SentencePiece vocabularies too)
)
command -v npm > /dev/null || packages+=(nodejs npm)  # the openai npm client check (tests/server)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's libtorch links libblas.so.3; make it resolve to OpenBLAS (OpenMP build), not the
# reference BLAS, which is ~20x slower.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-openmp | head -n1 || true)
  if [ -n "$target" ]; then "${sudo_cmd[@]}" update-alternatives --set "$alt" "$target" >/dev/null; fi
done

"$here/scripts/install-pgvector.sh"   # PostgreSQL backend: pgvector from Debian source

# Paths relative to the checkout in ccache's keys, so clones in other folders share the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built $build_dir/memembed"
