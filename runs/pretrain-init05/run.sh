#!/usr/bin/env bash
# The second pre-training run of the small encoder (issue 13): as runs/pretrain-small but --init-std 0.05, from the repository root:
#   bash runs/pretrain-init05/run.sh [-o OUT.gguf] [--resume OUT.state.gguf | --init CHECKPOINT.gguf ...]
# It reads ../shared/data/french-text/ beside the checkout. A run stopped by Ctrl-C or killed resumes with
# --resume OUT.state.gguf (the same options). The committed checkpoint pt2.f16.gguf continues it with a warm
# restart (new Adam moments and schedule): replace --config small --init-std 0.05 by --init runs/pretrain-init05/pt2.f16.gguf.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=../shared/data/french-text
exec ./build/surligne pretrain --config small --init-std 0.05 --tokenizer weights/sentencepiece.bpe.model \
  --text $D/raw-eltec-fra --text $D/raw-commonvoice-fr/cv-fr-gutenberg.txt \
  --text $D/raw-commonvoice-fr/cv-fr-debats-assemblee-nationale.txt --text $D/raw-commonvoice-fr/cv-fr-wikisource.txt \
  --text $D/raw-commonvoice-fr/cv-fr-libretheatre.txt --text $D/raw-codes-juridiques-fr \
  --weights 3,2.5,1.5,1,0.5,0.5 --max-len 128 --batch 32 --lr 7e-4 --warmup-ratio 0.04 --steps 24000 \
  --threads 2 --eval-every 250 --valid-max 256 --log-every 25 --seed 1 --precision bf16 -o pt2.gguf "$@"
