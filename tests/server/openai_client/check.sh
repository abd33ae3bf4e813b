#!/usr/bin/env bash
# The official `openai` npm package, unchanged, against `memembed serve`'s /v1/embeddings (ctest:
# openai_client_check). Skips (exit 77) without node/npm, the shared fixtures, or when the package
# cannot be installed (no registry); the package is installed once into BUILD_DIR/openai-client.
#   bash tests/server/openai_client/check.sh BUILD_DIR [SHARED_DIR]
set -euo pipefail
build=$(cd "${1:?build directory}" && pwd)
shared=${2:-$(pwd)/../shared}
here=$(cd "$(dirname "$0")" && pwd)
version=4.104.0

skip() { echo "SKIPPED: $*"; exit 77; }
command -v node > /dev/null && command -v npm > /dev/null || skip "node and npm are not installed"
[ -d "$shared/fixtures/bert-tiny" ] || skip "no shared fixtures at $shared"
client="$build/openai-client"
if [ "$(node -p "require('$client/node_modules/openai/package.json').version" 2>/dev/null)" != "$version" ]; then
  mkdir -p "$client"
  (cd "$client" && npm install --silent --no-audit --no-fund --no-save "openai@$version" > npm.log 2>&1) ||
    skip "npm could not install openai@$version (registry unreachable?): $(tail -n 3 "$client/npm.log")"
fi

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
echo "checker sdk-key-0123456789abcdef" > "$work/keys"
"$build/memembed" serve --data "$work/data" --model "$shared/fixtures/bert-tiny" --port 0 --threads 1 \
  --api-keys-file "$work/keys" 2> "$work/serve.log" &
server=$!
port=""
for _ in $(seq 1 600); do
  grep -q '"event":"ready"' "$work/serve.log" && break
  kill -0 "$server" 2> /dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/serve.log" | grep -o '[0-9]*$')
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/serve.log"; exit 1; }
cp "$here/embeddings.mjs" "$client/"
node "$client/embeddings.mjs" "http://127.0.0.1:$port/v1" "sdk-key-0123456789abcdef"
