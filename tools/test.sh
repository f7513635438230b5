#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release) and runs the C suite with ctest, then
# builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the whole suite under them, then
# fuzzes every reader for a short while, then builds the WebAssembly engine and runs its Node tests, then the
# page's tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
# the sanitizer build also takes our own f32 kernels instead of OpenBLAS, so both paths are tested; it leaves
# MPI out (Open MPI's own allocations at start-up read as leaks; the Release suite runs mpirun)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DSURLIGNE_SANITIZE=ON \
  -DSURLIGNE_BLAS=OFF -DSURLIGNE_MPI=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure
# Fuzzing: every reader of outside bytes (GGUF model, safetensors + config.json, SentencePiece model, JSON,
# CoNLL, tokenizer, sl_recognize, the rule recogniser) under libFuzzer with ASan + UBSan, 45 s each
# (tests/fuzz/run.sh; its kept regression inputs also run in both suites above as ctest fuzz_<reader>)
bash tools/install-deps.sh fuzz
bash tests/fuzz/run.sh 45
# Export to Hugging Face checked with PyTorch (Debian's python3-torch): the exported folders load in the
# independent plain-torch CamemBERT and give the C engine's outputs (tests/export/)
bash tools/install-deps.sh reference
bash tests/export/run.sh
# WebAssembly: builds the wasm engine (tools/build-wasm.sh) and checks in Node that it gives the native
# command line's entities (tests/wasm/)
bash tests/wasm/run.sh
# The published models: files, sizes and sha256 of weights/models.json; the default model finds the people
# of the sample sentence (tests/weights/)
node --test tests/weights/
# Browser: the highlighting page, its worker, model store and service worker in Debian's Chromium,
# driven by playwright-core (tests/browser/)
bash tests/browser/run.sh
