#!/usr/bin/env bash
# The WebAssembly test: builds the native command line (the reference the wasm answers are compared with)
# and the wasm engine (tools/build-wasm.sh), then runs tests/wasm/*.test.mjs with Node's test runner.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/build-wasm.sh
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target surligne >/dev/null
timeout 900 node --test tests/wasm/*.test.mjs
