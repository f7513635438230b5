#!/usr/bin/env bash
# The main job: builds the WebAssembly engine (tools/build-wasm.sh: installs what is missing, then a no-op
# when up to date) and the static site dist/ (tools/build-site.mjs, as `npm run build`), and serves it on
# http://127.0.0.1:8080/ with the headers that allow threads (tools/serve.mjs). Open the printed URL: type or
# paste French text, the entities are highlighted as you type, in the browser, offline after the first visit.
#   bash tools/demo.sh [PORT]      (or PORT=… in the environment; 0 picks a free port)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build-wasm.sh
node tools/build-site.mjs
exec node tools/serve.mjs "${1:-${PORT:-8080}}"
