#!/usr/bin/env bash
# The third pre-training run of the small encoder (issue 13): as runs/pretrain-small but from a --local-heads
# random start (engine/convert.h: a previous-token and a next-token head in each of the first two layers), from
# the repository root:
#   bash runs/pretrain-local/run.sh [-o OUT.gguf] [--threads N] [--resume OUT.state.gguf]
# It reads ../shared/data/french-text/ beside the checkout. A run stopped by Ctrl-C or killed resumes with
# --resume OUT.state.gguf (the same options). The committed f16 checkpoint continues it with a warm restart (new
# Adam moments and schedule): replace --config small --local-heads by --init runs/pretrain-local/pt3.f16.gguf.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=../shared/data/french-text
exec ./build/surligne pretrain --config small --local-heads --tokenizer weights/sentencepiece.bpe.model \
  --text $D/raw-eltec-fra --text $D/raw-commonvoice-fr/cv-fr-gutenberg.txt \
  --text $D/raw-commonvoice-fr/cv-fr-debats-assemblee-nationale.txt --text $D/raw-commonvoice-fr/cv-fr-wikisource.txt \
  --text $D/raw-commonvoice-fr/cv-fr-libretheatre.txt --text $D/raw-codes-juridiques-fr \
  --weights 3,2.5,1.5,1,0.5,0.5 --max-len 128 --batch 32 --lr 7e-4 --warmup-ratio 0.04 --steps 24000 \
  --threads 2 --eval-every 250 --valid-max 256 --log-every 25 --seed 1 --precision bf16 -o pt3.gguf "$@"
