#!/usr/bin/env bash
# The export round trip checked with PyTorch: Hugging Face folder -> `surligne convert` -> GGUF ->
# `surligne export` -> Hugging Face folder, then tools/reference/check_export.py loads the exported folder with
# the independent plain-torch CamemBERT (camembert_torch.py) and compares its outputs with the C engine's
# (`surligne logits` on the GGUF) and with the converted checkpoint's, to 1e-4, and its sentencepiece.bpe.model
# with camembert-base's under python3-sentencepiece. Needs /usr/bin/python3 with python3-torch, python3-numpy
# and python3-sentencepiece (bash tools/install-deps.sh reference). BUILD=DIR picks the build folder (build).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target surligne >/dev/null
sl="$build/surligne"
check() { /usr/bin/python3 tools/reference/check_export.py "$@" --text tests/export/sample.txt; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shared_text=../shared/data/french-text/raw-eltec-fra/eltec-fra-level1.txt
more_text=()
[ -f "$shared_text" ] && more_text=(--text "$shared_text")

echo "== token classification (tests/fixtures/tiny-hf)"
"$sl" convert tests/fixtures/tiny-hf -o "$tmp/tc.gguf"
"$sl" export "$tmp/tc.gguf" -o "$tmp/tc"
"$sl" tokenize -m "$tmp/tc.gguf" < tests/export/sample.txt > "$tmp/ids.txt"
"$sl" logits -m "$tmp/tc.gguf" --batch 4 < "$tmp/ids.txt" > "$tmp/tc.logits"
check "$tmp/tc" --ids "$tmp/ids.txt" --logits "$tmp/tc.logits" --reference tests/fixtures/tiny-hf "${more_text[@]}"

echo "== q8_0: exported dequantised; converted back, the C engine and PyTorch agree on those weights"
"$sl" quantize "$tmp/tc.gguf" -o "$tmp/q8.gguf" --type q8_0
"$sl" export "$tmp/q8.gguf" -o "$tmp/q8"
"$sl" convert "$tmp/q8" -o "$tmp/q8-f32.gguf"
"$sl" logits -m "$tmp/q8-f32.gguf" < "$tmp/ids.txt" > "$tmp/q8.logits"
check "$tmp/q8" --ids "$tmp/ids.txt" --logits "$tmp/q8.logits"

echo "== masked LM (tests/fixtures/tiny-mlm-hf)"
"$sl" convert tests/fixtures/tiny-mlm-hf -o "$tmp/mlm.gguf"
"$sl" export "$tmp/mlm.gguf" -o "$tmp/mlm"
head -n 4 "$tmp/ids.txt" > "$tmp/ids4.txt" # the MLM logits are 32,005 a token: a few lines
"$sl" logits -m "$tmp/mlm.gguf" --mlm < "$tmp/ids4.txt" > "$tmp/mlm.logits"
check "$tmp/mlm" --ids "$tmp/ids4.txt" --logits "$tmp/mlm.logits" --reference tests/fixtures/tiny-mlm-hf

echo "== an encoder pre-trained by surligne pretrain, exported: PyTorch gives its MLM logits"
printf '%s\n' "Le roman commence à Paris, au printemps de l'année 1848." "La séance est ouverte à quinze heures." \
  "Article 1er : la présente loi entre en vigueur le premier janvier." > "$tmp/text.txt"
for i in $(seq 40); do cat "$tmp/text.txt"; done > "$tmp/text40.txt"
"$sl" pretrain --config tiny --tokenizer tests/fixtures/tiny-mlm-hf/sentencepiece.bpe.model --text "$tmp/text40.txt" \
  --max-len 32 --batch 4 --steps 6 --eval-every 3 --valid-fraction 0 --lr 1e-3 -o "$tmp/pt.gguf" > "$tmp/pt.log"
"$sl" export "$tmp/pt.gguf" -o "$tmp/pt"
"$sl" logits -m "$tmp/pt.gguf" --mlm < "$tmp/ids4.txt" > "$tmp/pt.logits"
check "$tmp/pt" --ids "$tmp/ids4.txt" --logits "$tmp/pt.logits"
# the exported encoder as fine-tuning starts from it: a fresh classifier, the C engine against PyTorch
"$sl" convert "$tmp/mlm" -o "$tmp/mlm-tc.gguf" --labels PER,ORG,LOC --seed 7
"$sl" export "$tmp/mlm-tc.gguf" -o "$tmp/mlm-tc"
"$sl" logits -m "$tmp/mlm-tc.gguf" < "$tmp/ids.txt" > "$tmp/mlm-tc.logits"
check "$tmp/mlm-tc" --ids "$tmp/ids.txt" --logits "$tmp/mlm-tc.logits"
echo "tests/export: ok"
