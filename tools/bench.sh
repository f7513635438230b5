#!/usr/bin/env bash
# The comparison benchmark against onnxruntime (what transformers.js runs): `npm run bench` or
#   bash tools/bench.sh [--quick] [--repeat N] [--warmup N] [--budget S] [--seq 32,128,512] [--threads 1,2]
#                       [--settings node,chromium,native] [--rounds R]
# (README.md, "Speed"). Steps, each skipped when already done:
#   1. installs what is missing: tools/install-deps.sh bench (python3-onnx, python3-torch, ...) and browser
#      (chromium) when Chromium is among the settings, the native and wasm builds (cmake; tools/build-wasm.sh),
#      onnxruntime-web, onnxruntime-node and playwright-core (npm ci, package-lock.json);
#   2. tools/reference/export_onnx.py writes one random camembert-base-shaped token-classification checkpoint
#      (12 x 768, 7 labels, fixed seed) as a Hugging Face folder, ONNX fp32 and ONNX int8 (quantize_dynamic's
#      rewrite) into build/bench/base/; surligne convert and surligne quantize make its f32 and q8_0 GGUF;
#   3. node tools/bench/bench.mjs times every engine in WebAssembly in Node, in WebAssembly in headless
#      Chromium, and natively (--settings: any of node, chromium, native; all by default), and prints the table
#      and the logits agreement (also written to build/bench/base/results.md and results.json).
# --quick: a smoke run (2 layers x 32 in build/bench/tiny/, seq 32, one timed run): checks it all works.
# --rounds R: each pair of engines R times in alternating order, the median of the R figures (bench.mjs).
# Takes about 12 minutes in full on 2 cores (more on a busy machine); the models take 1.1 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
name=base
settings=node,chromium,native
shape=()
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) name=tiny; shape=(--layers 2 --hidden 32 --heads 4 --intermediate 64)
      bench_args+=(--seq 32 --repeat 1 --warmup 1) ;;
    --repeat | --warmup | --seq | --threads | --budget | --rounds) bench_args+=("$1" "${2:?$1 needs a value}"); shift ;;
    --settings) settings=${2:?--settings needs a value}; bench_args+=("$1" "$2"); shift ;;
    *) echo "bench.sh: unknown argument '$1' (--quick, --repeat N, --warmup N, --budget S, --seq LIST, --threads LIST," \
      "--settings LIST, --rounds R)" >&2
      exit 2 ;;
  esac
  shift
done

dep_groups=(bench)
case ",$settings," in *,chromium,*) dep_groups+=(browser) ;; esac
bash tools/install-deps.sh "${dep_groups[@]}"
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build build -j"$(nproc)" --target surligne >/dev/null
bash tools/build-wasm.sh >/dev/null
if [ ! -f node_modules/onnxruntime-web/package.json ] || [ ! -f node_modules/onnxruntime-node/package.json ] ||
  [ ! -f node_modules/playwright-core/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error # .npmrc: onnxruntime-node's postinstall fetches no CUDA libraries
fi

dir=build/bench/$name
stamp=$dir/.exported
if [ ! -f "$stamp" ] || [ tools/reference/export_onnx.py -nt "$stamp" ] ||
  [ tools/reference/camembert_torch.py -nt "$stamp" ]; then
  rm -rf "$dir"
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/reference/export_onnx.py "$dir" "${shape[@]}" 2> >(grep -v -i warn >&2)
  touch "$stamp"
fi
if [ ! -f "$dir/model.gguf" ] || [ build/surligne -nt "$dir/model.gguf" ]; then
  build/surligne convert "$dir/hf" -o "$dir/model.gguf"
  build/surligne quantize "$dir/model.gguf" -o "$dir/model-q8_0.gguf"
fi
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
node tools/bench/bench.mjs "$dir" "${bench_args[@]}"
