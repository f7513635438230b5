#!/usr/bin/env -S /usr/bin/python3
"""Write a random Hugging Face style CamemBERT checkpoint folder:
config.json, model.safetensors, sentencepiece.bpe.model, tokenizer_config.json, special_tokens_map.json.

  make_checkpoint.py OUT_DIR --layers 2 --hidden 32 --heads 4 --intermediate 64 \
      --labels O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC --dtype F32 --seed 1 \
      --arch CamembertForTokenClassification --tokenizer ../shared/data/camembert-base-tokenizer/sentencepiece.bpe.model

Weights: Linear/Embedding ~ N(0, --std) (HF init uses 0.02), LayerNorm weights ~ 1 + N(0, --ln-std),
biases ~ N(0, --bias-std) (nonzero on purpose), pad rows (id 1) of word and position embeddings zero (as HF).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402

DEFAULT_LABELS = "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC"


def build(out_dir, layers, hidden, heads, intermediate, labels, dtype, seed, arch, tokenizer,
          std=0.02, bias_std=0.02, ln_std=0.1):
    """Writes the folder; returns (config, weights as stored, in float32)."""
    if hidden % heads:
        raise ValueError("hidden must be a multiple of heads")
    cfg = ct.make_config(arch, layers, hidden, heads, intermediate, labels, dtype)
    w = ct.random_weights(arch, layers, hidden, intermediate, len(labels), seed, std, bias_std, ln_std)
    ct.save_checkpoint(out_dir, cfg, w, dtype, tokenizer)
    # reload: for F16/BF16 the reference must use the rounded weights exactly as stored
    return ct.load_checkpoint(out_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=64)
    ap.add_argument("--labels", default=DEFAULT_LABELS)
    ap.add_argument("--dtype", choices=("F32", "F16", "BF16"), default="F32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--arch", choices=ct.ARCHS, default="CamembertForTokenClassification")
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER, help="path to sentencepiece.bpe.model")
    ap.add_argument("--std", type=float, default=0.02, help="std of Linear/Embedding weights")
    ap.add_argument("--bias-std", type=float, default=0.02)
    ap.add_argument("--ln-std", type=float, default=0.1)
    a = ap.parse_args()
    labels = [s for s in a.labels.split(",") if s]
    cfg, w = build(a.out_dir, a.layers, a.hidden, a.heads, a.intermediate, labels, a.dtype, a.seed, a.arch,
                   a.tokenizer, a.std, a.bias_std, a.ln_std)
    n = sum(t.numel() for t in w.values())
    print("%s: %s %s, %d tensors, %d parameters" % (a.out_dir, a.arch, a.dtype, len(w), n))


if __name__ == "__main__":
    main()
