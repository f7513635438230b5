#!/usr/bin/env bash
# Reproduces the default model (weights/surligne-small-fr.gguf) from the shared data with fixed seeds. Every stage
# is surligne's own C trainer on the CamemBERT architecture (hidden 256; 4 layers, grown to 6) and vocabulary:
#   1. the encoder, by SURLIGNE_ENCODER:
#        pretrain (the default, and the published model's recipe): masked-language-model pre-training by
#          runs/pretrain-local/run.sh (`--config small --local-heads`: two heads of each of the first two layers
#          start on the previous / next token) on the six sources of ../shared/data/french-text/, in the stages
#          the published encoder was made in (runs/pretrain-local/README.md):
#          a. steps 1-8,000 of the 24,000-step schedule (32.8 M tokens) -> OUT/pt3.gguf, copied to f16
#             (OUT/pt3.f16.gguf, as the committed runs/pretrain-local/pt3.f16.gguf);
#          b. a warm restart from that copy (new Adam moments; lr 4.86e-4, 1 % warm-up, linear decay over
#             16,000 steps, seed 2) stopped after 4,500 steps (51.2 M tokens in all) -> OUT/pt4.gguf, copied to
#             f16 (OUT/pt4.f16.gguf, as the committed runs/pretrain-local/pt4.f16.gguf);
#          c. a warm restart from that copy (lr 3.5e-4, 1 % warm-up, linear decay to 0 over 12,000 steps, seed 3):
#             100.4 M tokens in all -> OUT/pt5.gguf, copied to f16 (OUT/pt5.f16.gguf, as the committed
#             runs/pretrain-local/pt5.f16.gguf);
#          d. a warm restart from that copy (lr 3e-4, 1 % warm-up, linear decay to 0 over 16,000 steps, seed 4):
#             165.9 M tokens in all -> OUT/pt6.gguf, copied to f16 (OUT/pt6.f16.gguf, as the committed
#             runs/pretrain-local/pt6.f16.gguf);
#          e. that encoder grown to 6 layers (`surligne stack --layers 0,1,2,2,3,3`: layers 2 and 3 repeated), steps
#             1-2,000 of a 24,000-step schedule (lr 3e-4, 1 % warm-up, seed 5) -> OUT/st6a.gguf and its f16 copy,
#             then a warm restart from that copy (lr 3e-4, 1 % warm-up, linear decay to 0 over 14,000 steps, seed 6):
#             231.4 M tokens in all -> OUT/st6.gguf, copied to f16 (OUT/st6.f16.gguf, as the committed
#             runs/pretrain-local/st6.f16.gguf), which fine-tuning reads.
#          About 8 h 15 min with 2 threads in bf16 on a 2-core Intel Xeon with AMX (a-d 5 h 15 min at 8,900
#          tokens/s, e 3 h at 6,200 tokens/s when the machine is not shared), about 1.3 times that on a 2-core AMD
#          EPYC (Zen 4), about 3 times that without AVX-512 BF16; a re-run resumes each stage from its
#          state file (OUT/NAME.state.gguf). The published encoder's steps ran with 1 or 2 threads and on two bf16
#          kernels (its README): one thread count and kernel throughout is the same run to float rounding, not
#          bit for bit;
#        random: fresh random weights (`--config small --local-heads`);
#        FILE.gguf: that encoder (for instance the committed runs/pretrain-local/st6.f16.gguf, to skip a-e);
#      f. SURLIGNE_TAPT=1 (not the published recipe; not for random) adds task-adaptive pre-training of that
#         encoder: 1,800 more MLM steps (7.4 M tokens) on the six sources plus the words of WikiAnn-fr train and
#         Europeana-fr train (40 % of the sequences; lr 3.5e-4, 1 % warm-up, linear decay, seed 3) ->
#         OUT/tapt.gguf, copied to f16 (OUT/tapt.f16.gguf), which fine-tuning then reads: 29 min with 2 threads
#         on a 2-core Intel Xeon with AVX-512 BF16. Measured over two seeds (the card): WikiAnn-fr dev +0.0,
#         Europeana-fr dev +1.0, within the seed spread.
#   2. fine-tuning (a fresh classifier) on WikiAnn-fr train + Europeana-fr train, 6 epochs, lr 3e-4, batches
#      grouped by length (`--shuffle grouped`), half of the places where French writes no space tokenised as
#      running text (`--glue 0.5`: "Darmanin," "(Paris)" "l'Europe" as a page has them; README, "Words as running
#      text"; SURLIGNE_GLUE=0 trains word by word), keeping the epoch with the best WikiAnn-fr dev F1 (Viterbi
#      decoding with the training data's label transitions, weight 0.5, which the file stores):
#      a. three teachers, that recipe at seeds 42, 7 and 1 (1 thread each, 20-23 min each on a 2-core Intel
#         Xeon with AMX, two at a time) -> OUT/teacher-sS.f32.gguf;
#      b. WikiAnn-fr train once more with every entity mention replaced by a mention of its type drawn from
#         the same file (tools/mention_replace.py, seed 11: 20,000 sentences);
#      c. the model (seed 42, 2 threads): the recipe on the labelled data + those 20,000 sentences, each token's
#         target half its label and half the three teachers' probabilities (`--teacher` x 3, `--distill 0.5
#         --distill-temperature 2`; README "Ensembles and distillation") -> OUT/surligne-small-fr.f32.gguf:
#         6.5 min for the teachers' pass and 22 min for 18,030 steps with 2 threads on the AMX Xeon.
#      SURLIGNE_DISTILL=0 runs the recipe alone instead (the default before 2026-12-05's last one: 20 min with
#      1 thread; the 4-layer model's took 65 min on a 2-core AMD EPYC without AVX-512, where bf16 products
#      fall back to f32, and 6 layers take about 1.3 times as long).
#   3. q8_0 Linear weights and q5_0 word embeddings -> OUT/surligne-small-fr.gguf, and the scores of both files
#      on WikiAnn-fr dev and Europeana-fr dev -> OUT/scores.json.
# Run it in the background and watch OUT/*.log:
#   bash tools/train-default.sh [OUT_DIR] > /dev/null 2>&1 &   tail -f build/default-model/finetune.log
# SURLIGNE_THREADS sets the thread count of the model's fine-tuning (default 2 with the teachers, as published;
# 1 without: another count is the same run rounded apart);
# SURLIGNE_SEED (42), SURLIGNE_LR (3e-4) and SURLIGNE_EPOCHS (6) change the fine-tuning run, to measure its
# spread over seeds or to search the recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target surligne >/dev/null
out=${1:-build/default-model}
threads=${SURLIGNE_THREADS:-1}
wikiann=../shared/data/wikiann-fr
europeana=../shared/data/europeana-fr-icdar
mkdir -p "$out"

# A pre-training stage: `stage NAME RUN.SH-OPTIONS...` runs runs/pretrain-local/run.sh with those options (an
# --init first) -> OUT/NAME.gguf, resuming from OUT/NAME.state.gguf when there is one, then its f16 copy
# OUT/NAME.f16.gguf; nothing when that copy exists
stage() {
  local name=$1 resume=()
  shift
  [ -f "$out/$name.f16.gguf" ] && return
  [ -f "$out/$name.state.gguf" ] && resume=(--resume "$out/$name.state.gguf")
  bash runs/pretrain-local/run.sh "$@" -o "$out/$name.gguf" --threads "$threads" "${resume[@]}" 2>&1 |
    tee -a "$out/pretrain.log"
  ./build/surligne quantize "$out/$name.gguf" -o "$out/$name.f16.gguf" --type f16
}

# 1. the encoder
encoder=${SURLIGNE_ENCODER:-pretrain}
case "$encoder" in
  random) init=(--config small --local-heads --tokenizer weights/sentencepiece.bpe.model) ;;
  pretrain)
    # a. the first 8,000 steps of the schedule; b. the warm restart from their f16 copy, 4,500 steps; c. the
    # warm restart from that one's, 12,000 steps; d. the warm restart from c's, 16,000 steps; e. below
    stage pt3 --stop-at 8000
    stage pt4 --init "$out/pt3.f16.gguf" --steps 16000 --lr 4.86e-4 --warmup-ratio 0.01 --seed 2 --save-every 250 \
      --stop-at 4500
    stage pt5 --init "$out/pt4.f16.gguf" --steps 12000 --lr 3.5e-4 --warmup-ratio 0.01 --seed 3 --save-every 250
    stage pt6 --init "$out/pt5.f16.gguf" --steps 16000 --lr 3e-4 --warmup-ratio 0.01 --seed 4 --save-every 250
    # e. grown to 6 layers (layers 2 and 3 repeated), then steps 1-2,000 of a 24,000-step schedule and a warm
    # restart of 14,000 steps from their f16 copy
    [ -f "$out/st6-init.gguf" ] ||
      ./build/surligne stack "$out/pt6.f16.gguf" --layers 0,1,2,2,3,3 -o "$out/st6-init.gguf"
    stage st6a --init "$out/st6-init.gguf" --steps 24000 --lr 3e-4 --warmup-ratio 0.01 --seed 5 --save-every 250 \
      --stop-at 2000
    stage st6 --init "$out/st6a.f16.gguf" --steps 14000 --lr 3e-4 --warmup-ratio 0.01 --seed 6 --save-every 250
    init=(--init "$out/st6.f16.gguf")
    ;;
  *) init=(--init "$encoder") ;;
esac

# 1f. with SURLIGNE_TAPT=1, task-adaptive pre-training of that encoder (not of random weights): 1,800 more
# masked-language-model steps on the six sources plus the words of the two fine-tuning train sets (never their
# dev or test), one sentence a line, weighted 4 and 2 (40 % of the sequences), then the f16 copy
if [ "$encoder" != random ] && [ "${SURLIGNE_TAPT:-0}" = 1 ]; then
  for set in "wikiann:$wikiann/train.conll" "europeana:$europeana/train.txt"; do
    awk -F'\t' 'NF == 0 { if (s != "") print s; s = ""; next } { s = s == "" ? $1 : s " " $1 }
                END { if (s != "") print s }' "${set#*:}" > "$out/${set%%:*}-train.txt"
  done
  stage tapt "${init[@]}" --text "$out/wikiann-train.txt" --text "$out/europeana-train.txt" \
    --weights 3,2.5,1.5,1,0.5,0.5,4,2 --steps 1800 --lr 3.5e-4 --warmup-ratio 0.01 --seed 3 --save-every 250
  init=(--init "$out/tapt.f16.gguf")
fi

# 2. fine-tuning (a fresh run each time: its state file is removed first)
cat "$wikiann/train.conll" "$europeana/train.txt" > "$out/train-mix.conll"
finetune() { # NAME SEED THREADS TRAIN [more options]: the recipe -> OUT/NAME.f32.gguf, log OUT/NAME.log
  local name=$1 seed=$2 th=$3 data=$4
  shift 4
  rm -f "$out/$name.f32.state.gguf"
  ./build/surligne train "${init[@]}" --train "$data" --dev "$wikiann/dev.conll" \
    --epochs "${SURLIGNE_EPOCHS:-6}" --batch 16 --lr "${SURLIGNE_LR:-3e-4}" --warmup-ratio 0.06 --max-len 128 \
    --seed "$seed" --threads "$th" --precision bf16 --shuffle grouped --glue "${SURLIGNE_GLUE:-0.5}" "$@" \
    -o "$out/$name.f32.gguf" 2>&1 | tee "$out/$name.log"
}
if [ "${SURLIGNE_DISTILL:-1}" = 1 ]; then
  # 2a. three teachers: the recipe on the labelled data at seeds 42, 7 and 1 (1 thread each)
  for seed in 42 7 1; do
    [ -f "$out/teacher-s$seed.f32.gguf" ] || finetune "teacher-s$seed" "$seed" 1 "$out/train-mix.conll"
  done
  # 2b. WikiAnn-fr train once more with every entity mention replaced by another of its type (seed 11)
  python3 tools/mention_replace.py "$wikiann/train.conll" "$out/wikiann-mr.conll" --seed 11
  cat "$out/train-mix.conll" "$out/wikiann-mr.conll" > "$out/train-mix-mr.conll"
  # 2c. the model: the recipe on both, each token's target half its label, half the teachers' probabilities
  #     (temperature 2)
  finetune surligne-small-fr "${SURLIGNE_SEED:-42}" "${SURLIGNE_THREADS:-2}" "$out/train-mix-mr.conll" \
    --teacher "$out/teacher-s42.f32.gguf" --teacher "$out/teacher-s7.f32.gguf" \
    --teacher "$out/teacher-s1.f32.gguf" --distill 0.5 --distill-temperature 2
else
  finetune surligne-small-fr "${SURLIGNE_SEED:-42}" "$threads" "$out/train-mix.conll"
fi
cp "$out/surligne-small-fr.log" "$out/finetune.log"

# 3. q8_0 (the word embeddings q5_0: 3 MB less, the same F1 to 0.05 point) and the scores
./build/surligne quantize "$out/surligne-small-fr.f32.gguf" -o "$out/surligne-small-fr.gguf" --type q8_0 \
  --embeddings q5_0
{
  echo "{"
  sep=""
  for m in surligne-small-fr.f32 surligne-small-fr; do
    for set in "wikiann:$wikiann/dev.conll" "europeana:$europeana/dev.txt"; do
      printf '%s  "%s %s": %s' "$sep" "$m" "${set%%:*}" \
        "$(./build/surligne eval -m "$out/$m.gguf" "${set#*:}" --threads "$threads" --json)"
      sep=$',\n'
    done
  done
  printf '\n}\n'
} > "$out/scores.json"
cat "$out/scores.json"
sha256sum "$out/surligne-small-fr.gguf"
