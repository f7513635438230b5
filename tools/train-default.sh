#!/usr/bin/env bash
# Retrains the default model (weights/surligne-small-fr.gguf) from the shared data with a fixed seed:
# a 4-layer x 256 CamemBERT-architecture encoder with the CamemBERT vocabulary, trained from random weights
# by surligne's own trainer. Stage 1: WikiAnn-fr train, 12 epochs, best epoch by WikiAnn-fr dev F1.
# Stage 2: one more epoch from it on WikiAnn-fr train + Europeana-fr train (CC0; newspaper sentences with
# real punctuation, which WikiAnn's title-like fragments lack), best by WikiAnn-fr dev F1. Quantised to q8_0.
# About 65 minutes on this 2-core machine; run it in the background and watch OUT/train.log:
#   bash tools/train-default.sh [OUT_DIR] > /dev/null 2>&1 &   tail -f build/default-model/train.log
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target surligne >/dev/null
out=${1:-build/default-model}
data=../shared/data/wikiann-fr
mkdir -p "$out"
rm -f "$out"/surligne-small-fr.f32.state.gguf   # a fresh run, not a resume
./build/surligne train --config small --train "$data/train.conll" --dev "$data/dev.conll" \
  --epochs 12 --batch 16 --lr 5e-4 --warmup-ratio 0.06 --max-len 128 --seed 42 --threads 2 \
  -o "$out/surligne-small-fr.f32.gguf" 2>&1 | tee "$out/train.log"
cat "$data/train.conll" ../shared/data/europeana-fr-icdar/train.txt > "$out/mix.conll"
rm -f "$out"/surligne-small-fr.mix.state.gguf
./build/surligne train --init "$out/surligne-small-fr.f32.gguf" --train "$out/mix.conll" --dev "$data/dev.conll" \
  --epochs 1 --batch 16 --lr 2e-4 --warmup-ratio 0.06 --max-len 128 --seed 43 --threads 2 \
  -o "$out/surligne-small-fr.mix.gguf" 2>&1 | tee -a "$out/train.log"
./build/surligne quantize "$out/surligne-small-fr.mix.gguf" -o "$out/surligne-small-fr.gguf" --type q8_0
for m in surligne-small-fr.f32 surligne-small-fr.mix surligne-small-fr; do
  ./build/surligne eval -m "$out/$m.gguf" "$data/dev.conll" --json > "$out/$m.dev.json"
  echo "$m: $(cat "$out/$m.dev.json")"
done
sha256sum "$out/surligne-small-fr.gguf"
