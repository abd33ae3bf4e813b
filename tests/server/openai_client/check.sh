#!/usr/bin/env bash
# The official `openai` npm package, unchanged, against `memembed serve`'s /v1/embeddings.
# Not part of ctest: it needs node and the npm registry (the package is installed into a temporary
# folder). Run from the repository root after building:
#   bash tests/server/openai_client/check.sh BUILD_DIR [SHARED_DIR]
set -euo pipefail
build=${1:?build directory}
shared=${2:-$(pwd)/../shared}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
(cd "$work" && npm install --silent openai@4 > /dev/null)
echo "checker sdk-key-0123456789abcdef" > "$work/keys"
"$build/memembed" serve --data "$work/data" --model "$shared/fixtures/bert-tiny" --port 0 \
  --api-keys-file "$work/keys" --host 127.0.0.1 2> "$work/serve.log" &
server=$!
for _ in $(seq 1 600); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break
  sleep 0.1
done
cp "$here/embeddings.mjs" "$work/"
node "$work/embeddings.mjs" "http://127.0.0.1:$port/v1" "sdk-key-0123456789abcdef"
