#!/usr/bin/env bash
# Packs built fuzz targets into a folder that runs on another x86-64 Linux machine (more cores):
# the stripped fuzz_<target> binaries, every shared library they load (with the dynamic loader, so
# the machine needs nothing installed), the seed corpora and kept regression inputs, the tokenizer
# files the targets read from ../shared, and fuzz/run_bundle.sh as run.sh.
#
#   scripts/fuzz-bundle.sh DEST TARGET:PROCESSES...      e.g. DEST tokenizer_json:11 tokenize_text:5
#   then, there:  OUT=DIR DEST/run.sh SECONDS             (see fuzz/run_bundle.sh)
#
# Build the targets first (scripts/sanitize.sh --build fuzz_<target> memembed_sentencepiece).
# The libraries go through scripts/bundle_libraries.py, compressed into lib.tar.xz: for the targets
# of the libtorch modules (safetensors, model_config, model_directory) OpenCV and FFmpeg, which
# Debian's libtorch_cpu lists but never calls into for memembed, are stood in by generated empty
# libraries, which brings the bundle from ~530 MB of libraries to ~50 MB compressed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEMEMBED_SANITIZE_DIR:-$here/build-sanitize}"
shared="${MEMEMBED_SHARED_DIR:-$here/../shared}"
dest=${1:?usage: scripts/fuzz-bundle.sh DEST TARGET:PROCESSES...}
shift
[ $# -gt 0 ] || { echo "fuzz-bundle: name at least one TARGET:PROCESSES" >&2; exit 2; }

mkdir -p "$dest/bin" "$dest/corpus" "$dest/shared/fixtures"
binaries=("$build_dir/libmemembed_sentencepiece.so")
for entry in "$@"; do
  target=${entry%%:*}
  binary="$build_dir/fuzz/fuzz_$target"
  [ -x "$binary" ] || { echo "fuzz-bundle: $binary is not built" >&2; exit 1; }
  binaries+=("$binary")
  mkdir -p "$dest/corpus/$target"
  cp "$here/fuzz/corpus/$target"/* "$dest/corpus/$target/"
  if [ -d "$here/fuzz/regressions/$target" ]; then cp "$here/fuzz/regressions/$target"/* "$dest/corpus/$target/"; fi
done
for binary in "${binaries[@]}"; do
  strip -o "$dest/bin/$(basename "$binary")" "$binary"
done
# libsentencepiece is loaded by the shim: its libraries are bundled with the shim's.
libraries=$(mktemp -d)
trap 'rm -rf "$libraries"' EXIT
python3 "$here/scripts/bundle_libraries.py" "$libraries" "${binaries[@]}" \
  --stand-in 'libopencv_*,libavcodec.*,libavformat.*,libavutil.*,libswscale.*,libswresample.*'
tar -C "$libraries" -cf - . | xz -T0 -6 >"$dest/lib.tar.xz"

# The tokenizers fuzz_tokenize_text loads (tokenizer files only, no weights).
for folder in tokenizers/bert-base-uncased tokenizers/gpt2 tokenizers/gpt-neox-20b tokenizers/llama2 tokenizers/t5 \
              fixtures/qwen3-embed-tiny fixtures/static-glove-25d/0_StaticEmbedding; do
  mkdir -p "$dest/shared/$folder"
  for file in tokenizer.json tokenizer.model spiece.model tokenizer_config.json special_tokens_map.json; do
    if [ -e "$shared/$folder/$file" ]; then cp "$shared/$folder/$file" "$dest/shared/$folder/"; fi
  done
done

# The model the libtorch targets load (fuzz/small_model.h cuts its vocabulary at start-up).
cp -r "$shared/fixtures/bert-tiny" "$dest/shared/fixtures/"
chmod -R u+w "$dest/shared"

cp "$here/fuzz/run_bundle.sh" "$dest/run.sh"
chmod +x "$dest/run.sh"
echo "$*" >"$dest/plan"
du -sh "$dest"
