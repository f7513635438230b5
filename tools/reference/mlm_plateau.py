#!/usr/bin/python3
"""The masked-LM plateau of small CamemBERT encoders, reproduced in plain PyTorch (issue 13).

Two diagnostics, independent of the C trainer:

  mlm_plateau.py train [--init-std 0.02] [--steps 3000] [--lr 1e-3] [--position-std S [--freeze-positions]]
                       [--out LOG]
      A task only positions solve: every word doubled ("chat chat voyage voyage ..."), words drawn from the
      2,000 most frequent one-token words of ELTeC, 64 tokens a sequence, a 2-layer x 64 CamemBERT
      (camembert_torch.py: the init, masking, AdamW and schedule of `surligne pretrain`), batch 32. Prints the
      training loss and the accuracy on the masked tokens every 50 steps. Measured (--steps 2000): with Hugging
      Face's initializer_range 0.02 the model stays on the bag-of-words plateau (step 2,000: loss 7.27,
      accuracy 0.10); with 0.08 (the attention-logit scale hidden x std^2 that 0.04 gives at hidden 256) it
      leaves it near step 1,100 (step 1,600: 2.85 / 0.84; 2,000: 2.70 / 0.82). --position-std rescales the
      position table, --freeze-positions keeps it fixed (not yet measured on this task).

  mlm_plateau.py attention HF_DIR
      For a CamembertForMaskedLM folder (`surligne export`), each layer's and head's attention entropy
      (/ log T), its mass on the previous + next token (2/T = 0.016 when attention ignores positions) and on
      itself, over four 128-token windows of ELTeC.

Run by /usr/bin/python3 (Debian's python3-torch, python3-sentencepiece), from the repository root.
"""
import argparse
import math
import os
import random
import sys
from collections import Counter

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402

ELTEC = "../shared/data/french-text/raw-eltec-fra/eltec-fra-level1.txt"
TOKENIZER = "weights/sentencepiece.bpe.model"


def doubled_words(sp, n_lines=40000, words_per_line=17, seed=1):
    """Lines of random frequent words that are one SentencePiece token each, each word written twice: the
    masked token's twin is the previous or the next token."""
    with open(ELTEC, encoding="utf-8") as f:
        counts = Counter(w for w in f.read(20_000_000).split() if w.isalpha())
    vocab = [w for w, _ in counts.most_common(4000) if len(sp.encode(w + " " + w)) == 2][:2000]
    rng = random.Random(seed)
    for _ in range(n_lines):
        yield " ".join(w + " " + w for w in rng.choices(vocab, k=words_per_line))


def train(args):
    import sentencepiece as spm
    torch.manual_seed(0)
    torch.set_num_threads(1)
    sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
    T, B = 64, 32
    stream = []
    for line in doubled_words(sp):
        stream += [ct.BOS_ID] + [i + 4 for i in sp.encode(line)] + [ct.EOS_ID]
    rows = torch.tensor(stream[: len(stream) // T * T]).view(-1, T)
    arch = "CamembertForMaskedLM"
    w = ct.random_weights(arch, 2, 64, 128, 0, seed=1, std=args.init_std)
    cfg = ct.make_config(arch, 2, 64, 2, 128, [], "F32")
    params = {k: torch.nn.Parameter(torch.as_tensor(v).clone().float()) for k, v in w.items()}
    pos = [k for k in params if "position_embeddings" in k][0]
    if args.position_std:  # the position table at this scale (rows past the padding one), optionally frozen
        with torch.no_grad():
            params[pos][2:] *= args.position_std / params[pos][2:].std()
    if args.freeze_positions:
        params[pos].requires_grad_(False)
    trained = [(k, v) for k, v in params.items() if not (args.freeze_positions and k == pos)]
    opt, sched = ct.trainer_optimizer(trained, args.lr, args.steps, warmup_ratio=0.05)
    g = torch.Generator().manual_seed(0)
    out = open(args.out, "w") if args.out else sys.stdout
    print("init std %g, position std %s%s, lr %g, %d steps, %d sequences of %d" % (
        args.init_std, args.position_std or "as init", " (frozen)" if args.freeze_positions else "", args.lr,
        args.steps, len(rows), T), file=out, flush=True)
    for step in range(args.steps + 1):
        ids = rows[torch.randint(len(rows), (B,), generator=g)]
        special = (ids == ct.BOS_ID) | (ids == ct.EOS_ID)
        inputs, labels, chosen, _, _ = ct.mask_tokens(ids, special, g)
        x = ct.encoder_forward(params, cfg, inputs, hidden_dropout=0.1, attention_dropout=0.1)
        logits = ct.lm_head_forward(params, cfg, x[chosen])
        loss = F.cross_entropy(logits, labels[chosen])
        if step % 50 == 0:
            acc = (logits.argmax(1) == labels[chosen]).float().mean().item()
            print("step %d loss %.4f accuracy %.3f" % (step, loss.item(), acc), file=out, flush=True)
        if step == args.steps:
            break
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        sched.step()


def attention(args):
    cfg, w = ct.load_checkpoint(args.hf_dir)
    w = {k: torch.as_tensor(v).float() for k, v in w.items()}
    with open(ELTEC, encoding="utf-8") as f:
        text = f.read(200000)[100000:]
    T = 128
    ids = torch.tensor(ct.encode_french(text)[: 4 * T]).view(4, T)
    probs = []
    softmax = torch.softmax

    def recording_softmax(x, dim=-1):
        p = softmax(x, dim=dim)
        probs.append(p.detach())
        return p

    torch.softmax = recording_softmax
    try:
        with torch.no_grad():
            ct.encoder_forward(w, cfg, ids)
    finally:
        torch.softmax = softmax
    for layer, p in enumerate(probs):
        entropy = -(p * torch.log(p + 1e-12)).sum(-1).mean((0, 2)) / math.log(T)
        near = torch.diagonal(p, 1, -2, -1).mean((0, 2)) + torch.diagonal(p, -1, -2, -1).mean((0, 2))
        own = torch.diagonal(p, 0, -2, -1).mean((0, 2))
        fmt = lambda t: " ".join("%.3f" % v for v in t.tolist())  # noqa: E731
        print("layer %d  entropy/logT %s  previous+next %s  self %s" % (layer, fmt(entropy), fmt(near), fmt(own)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--init-std", type=float, default=0.02)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--position-std", type=float, default=0.0)
    t.add_argument("--freeze-positions", action="store_true")
    t.add_argument("--out")
    a = sub.add_parser("attention")
    a.add_argument("hf_dir")
    args = ap.parse_args()
    train(args) if args.cmd == "train" else attention(args)


if __name__ == "__main__":
    main()
