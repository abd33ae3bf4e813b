#!/usr/bin/env bash
# Compares memembed's tokenizers with Hugging Face tokenizers itself on thousands of texts.
# Not part of ctest: it needs node and the npm package `tokenizers` (installed into a temporary
# folder). Run from the repository root after building:
#   bash tests/text/parity/parity.sh BUILD_DIR [SHARED_DIR] [SEED]
set -euo pipefail
build=${1:?build directory}
shared=${2:-$(pwd)/../shared}
seed=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --silent tokenizers@0.23.2 > /dev/null)
python3 "$here/make_texts.py" "$shared" "$seed" "$work/texts.jsonl"
status=0
for file in "$shared"/tokenizers/*/tokenizer.json "$shared"/fixtures/*/tokenizer.json; do
  for special in 1 0; do
    NODE_PATH="$work/node_modules" node "$here/hf_encode.js" "$file" "$work/texts.jsonl" "$work/hf.jsonl" "$special"
    "$build/tests/text/parity/text_parity_driver" "$file" "$work/texts.jsonl" "$work/us.jsonl" "$special"
    python3 "$here/compare.py" "$work/us.jsonl" "$work/hf.jsonl" "$work/texts.jsonl" "$file special=$special" || status=1
  done
done
exit $status
