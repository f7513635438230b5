#!/usr/bin/env bash
# The browser tests: installs Debian's Chromium (tools/install-deps.sh browser) and playwright-core
# (npm ci: the version in package-lock.json; it drives /usr/bin/chromium and downloads no browser),
# builds the WebAssembly engine (tools/build-wasm.sh; a no-op when up to date) and the static site (dist/,
# tools/build-site.mjs), then runs
# tests/browser/*.test.mjs with Node's test runner, one file at a time (extension.test.mjs builds and loads
# the browser extension, tools/build-extension.mjs). A screenshot of the page and the measured figures land
# in build/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/install-deps.sh browser
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --omit=optional --no-audit --no-fund --loglevel=error  # onnxruntime (optional) is for npm run bench only
bash tools/build-wasm.sh
node tools/build-site.mjs # dist/: the site every test serves
# one file at a time: the timings are not shared with another browser (Node 20's flag; 18 runs files in turn)
concurrency=()
[ "$(node -p 'parseInt(process.versions.node)')" -ge 20 ] && concurrency=(--test-concurrency=1)
timeout 900 node --test "${concurrency[@]}" tests/browser/*.test.mjs
