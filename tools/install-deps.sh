#!/usr/bin/env bash
# Installs the Debian packages surligne builds and tests with (only those missing).
#   build:  gcc, cmake, pkg-config, libutf8proc-dev (Unicode properties),
#           libopenblas-dev (large f32 matrix products in native builds; -DSURLIGNE_BLAS=OFF does without),
#           libopenmpi-dev + openmpi-bin (data-parallel training: mpirun -np N surligne pretrain|train;
#           -DSURLIGNE_MPI=OFF does without)
# Extra groups: `tools/install-deps.sh reference` adds python3-torch, python3-numpy, python3-sentencepiece
# (the PyTorch reference scripts in tools/reference/; the tests do not need them).
# `tools/install-deps.sh wasm` adds emscripten (Debian's 3.1.6: emcc, clang 14, binaryen, Node.js),
# dpkg-dev (dpkg-source unpacks utf8proc's Debian source for tools/build-wasm.sh), and clang-19 and lld-19
# (wasm-ld-19), which build the relaxed-SIMD kernel module that emcc 3.1.6 cannot (engine/wasm_relaxed/).
# `tools/install-deps.sh fuzz` adds clang and libclang-rt-dev (libFuzzer and the sanitizers' runtimes for
# clang), which build the harnesses of tests/fuzz/.
# `tools/install-deps.sh browser` adds chromium (Debian's, driven by playwright-core in tests/browser/),
# nodejs, python3 (its http.server is the plain static host of tests/browser/site.test.mjs), and npm when no
# npm command is there (a Node.js that bundles npm needs no Debian npm).
# `tools/install-deps.sh bench` adds python3-onnx, python3-torch, python3-numpy, python3-sentencepiece
# (tools/reference/export_onnx.py writes the ONNX models of the comparison benchmark, tools/bench.sh),
# nodejs, and npm when no npm command is there (npm installs onnxruntime-web and onnxruntime-node).
set -euo pipefail
packages=(build-essential cmake pkg-config libutf8proc-dev libopenblas-dev libopenmpi-dev openmpi-bin)
for group in "$@"; do
  case "$group" in
    reference) packages+=(python3-torch python3-numpy python3-sentencepiece) ;;
    wasm) packages+=(emscripten nodejs dpkg-dev clang-19 lld-19) ;;
    fuzz) packages+=(clang libclang-rt-dev) ;;
    browser)
      packages+=(chromium nodejs python3)
      command -v npm >/dev/null || packages+=(npm)
      ;;
    bench)
      packages+=(python3-onnx python3-torch python3-numpy python3-sentencepiece nodejs)
      command -v npm >/dev/null || packages+=(npm)
      ;;
    *) echo "install-deps: unknown group '$group' (known: reference, wasm, fuzz, browser, bench)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
