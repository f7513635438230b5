#!/usr/bin/env bash
# The third pre-training run of the small encoder (issue 13): as runs/pretrain-small but from a --local-heads
# random start (engine/convert.h: a previous-token and a next-token head in each of the first two layers), from
# the repository root:
#   bash runs/pretrain-local/run.sh [--init START.gguf | --shape L,H,A,F] [-o OUT.gguf] [--threads N]
#                                   [--resume OUT.state.gguf] ...
# It reads ../shared/data/french-text/ beside the checkout. A run stopped by Ctrl-C or killed resumes with
# --resume OUT.state.gguf (the same options). The committed f16 checkpoint continues it with a warm restart (new
# Adam moments and schedule): --init runs/pretrain-local/pt3.f16.gguf first, in place of the random start
# (--config small --local-heads); options after it override the ones below (the README gives the command).
# --shape L,H,A,F first starts from random weights of another shape (L layers of H, A heads, feed-forward F),
# with the local heads too.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=../shared/data/french-text
init=(--config small --local-heads)
case "${1:-}" in
  --init)
    init=(--init "$2")
    shift 2
    ;;
  --shape)
    IFS=, read -r L H A F <<<"$2"
    init=(--layers "$L" --hidden "$H" --heads "$A" --intermediate "$F" --local-heads)
    shift 2
    ;;
esac
exec ./build/surligne pretrain "${init[@]}" --tokenizer weights/sentencepiece.bpe.model \
  --text $D/raw-eltec-fra --text $D/raw-commonvoice-fr/cv-fr-gutenberg.txt \
  --text $D/raw-commonvoice-fr/cv-fr-debats-assemblee-nationale.txt --text $D/raw-commonvoice-fr/cv-fr-wikisource.txt \
  --text $D/raw-commonvoice-fr/cv-fr-libretheatre.txt --text $D/raw-codes-juridiques-fr \
  --weights 3,2.5,1.5,1,0.5,0.5 --max-len 128 --batch 32 --lr 7e-4 --warmup-ratio 0.04 --steps 24000 \
  --threads 2 --eval-every 250 --valid-max 256 --log-every 25 --seed 1 --precision bf16 -o pt3.gguf "$@"
