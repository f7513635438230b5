#!/usr/bin/env -S /usr/bin/python3
"""Make the tiny Hugging Face CamemBERT fixture checkpoints and their reference logits.

  logits_fixtures.py [--fixtures tests/fixtures] [--tokenizer ../shared/data/camembert-base-tokenizer/sentencepiece.bpe.model]
                     [--only tiny-hf,tiny-hf-f16,tiny-hf-bf16] [--selfcheck]

Writes tests/fixtures/<name>/{config.json, model.safetensors, sentencepiece.bpe.model, tokenizer_config.json,
special_tokens_map.json, logits.txt}. Deterministic: same seeds -> same bytes.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
import make_checkpoint  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]

# Weight std 0.15 (not HF's 0.02): with hidden 32 and std 0.02 the attention is almost uniform, so a wrong
# head split, a missing 1/sqrt(d) or a wrong mask would barely move the logits. 0.15 gives peaked attention,
# GELU in its nonlinear range and logits of order 1.
FIXTURES = [
    # name, dtype, seed
    ("tiny-hf", "F32", 20240601),
    ("tiny-hf-f16", "F16", 20240602),
    ("tiny-hf-bf16", "BF16", 20240603),
]
SHAPE = dict(layers=2, hidden=32, heads=4, intermediate=64)
STD, BIAS_STD, LN_STD = 0.15, 0.05, 0.1

FRENCH = [
    ("french_darmanin", "Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy."),
    ("french_unk", "Le 14 juillet 2024, Emmanuel Macron a inauguré à Marseille-en-Provence un musée "
                   "avec l'UNESCO ☃ 東京 et la SNCF, près de l'Hôtel de Ville."),
]

HEADER = """\
# surligne reference logits, written by tools/reference/logits_fixtures.py (PyTorch, float32 compute
# from the weights exactly as stored in model.safetensors; for F16/BF16 they are the rounded values).
# Format, one block per case:
#   case NAME B T L
#   ids <T ints>                 (B lines, one per batch row, right-padded with pad id 1)
#   logits <L floats %.9e>       (B*T lines: row 0 tokens 0..T-1, then row 1, ...)
# Real tokens never have id 1, so a row's real length is the number of ids != 1. Rows of a padded batch
# were run together as one padded batch (attention mask = ids != 1, position ids = cumsum over real tokens
# + 1). Logits at padded positions are written too but are NOT meaningful: compare only real positions.
# Lines starting with '#' are comments (only here at the top).
"""


def random_row(rng, length):
    if length == 1:
        return [ct.BOS_ID]
    return [ct.BOS_ID] + [int(x) for x in rng.randint(7, ct.MASK_ID, size=length - 2)] + [ct.EOS_ID]


def make_cases(seed, tokenizer):
    rng = np.random.RandomState(seed % (2 ** 31))
    cases = []
    for n in (1, 8, 37, 128, 512):
        cases.append(("single_%d" % n, [random_row(rng, n)]))
    for name, text in FRENCH:
        cases.append((name, [ct.encode_french(text, tokenizer)]))
    cases.append(("batch_padded", [random_row(rng, n) for n in (37, 8, 128, 1)]))
    cases.append(("batch_equal", [random_row(rng, 24) for _ in range(3)]))
    return cases


def pad_rows(rows):
    T = max(len(r) for r in rows)
    return torch.tensor([r + [ct.PAD_ID] * (T - len(r)) for r in rows], dtype=torch.int64)


def write_logits(path, cfg, w, cases):
    with open(path, "w") as f:
        f.write(HEADER)
        for name, rows in cases:
            ids = pad_rows(rows)
            with torch.inference_mode():
                logits = ct.forward(w, cfg, ids)
            B, T, L = logits.shape
            f.write("case %s %d %d %d\n" % (name, B, T, L))
            for b in range(B):
                f.write("ids " + " ".join(str(int(x)) for x in ids[b]) + "\n")
            for row in logits.reshape(B * T, L).tolist():
                f.write("logits " + " ".join("%.9e" % v for v in row) + "\n")


def selfcheck(cfg, w, cases):
    """Prints: batch vs single consistency, float32 vs float64 noise, and how much typical bugs move logits."""
    import copy
    import math
    import torch.nn.functional as F

    w64 = {k: v.double() for k, v in w.items()}
    worst_batch = worst_64 = 0.0
    for name, rows in cases:
        ids = pad_rows(rows)
        with torch.inference_mode():
            out = ct.forward(w, cfg, ids)
            out64 = ct.forward(w64, cfg, ids)
            for b, r in enumerate(rows):
                single = ct.forward(w, cfg, torch.tensor([r]))
                worst_batch = max(worst_batch, (single[0] - out[b, :len(r)]).abs().max().item())
                worst_64 = max(worst_64, (out64[b, :len(r)] - out[b, :len(r)].double()).abs().max().item())
    print("  batch-vs-single max |diff| %.3g; float32-vs-float64 max |diff| %.3g" % (worst_batch, worst_64))

    ids = pad_rows(cases[3][1])  # single_128
    with torch.inference_mode():
        ref = ct.forward(w, cfg, ids)
        amax = ref.abs().max().item()
        # attention peakedness of layer 0
        x = ct.encoder_forward(w, {**cfg, "num_hidden_layers": 0}, ids)
        H, A = cfg["hidden_size"], cfg["num_attention_heads"]
        D = H // A
        q = F.linear(x, w["roberta.encoder.layer.0.attention.self.query.weight"],
                     w["roberta.encoder.layer.0.attention.self.query.bias"]).view(1, -1, A, D).transpose(1, 2)
        k = F.linear(x, w["roberta.encoder.layer.0.attention.self.key.weight"],
                     w["roberta.encoder.layer.0.attention.self.key.bias"]).view(1, -1, A, D).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D), -1)
        print("  |logits| max %.3g; layer-0 attention: mean max prob %.3f (uniform would be %.4f)"
              % (amax, p.max(-1).values.mean().item(), 1.0 / ids.shape[1]))
        bugs = {}
        # 1) classifier bias dropped
        w2 = dict(w)
        w2["classifier.bias"] = torch.zeros_like(w["classifier.bias"])
        bugs["no classifier bias"] = ct.forward(w2, cfg, ids)
        # 2) layernorm weight ignored in layer 0 output
        w2 = dict(w)
        w2["roberta.encoder.layer.0.output.LayerNorm.weight"] = torch.ones(H)
        bugs["LN weight=1"] = ct.forward(w2, cfg, ids)
        # 3) position ids starting at 0 instead of 2
        orig = ct.position_ids_from_input_ids
        ct.position_ids_from_input_ids = lambda i, pad=1: orig(i, pad) - 2
        bugs["positions from 0"] = ct.forward(w, cfg, ids)
        ct.position_ids_from_input_ids = orig
        # 4) heads interleaved instead of contiguous (permute q, k, v rows the same way -> wrong split)
        w2 = dict(w)
        perm = torch.arange(H).view(D, A).t().reshape(-1)  # head h gets features h, h+A, ...
        for i in range(cfg["num_hidden_layers"]):
            for m in ("query", "key"):
                n = "roberta.encoder.layer.%d.attention.self.%s." % (i, m)
                w2[n + "weight"] = w[n + "weight"][perm]
                w2[n + "bias"] = w[n + "bias"][perm]
        bugs["wrong head split (q,k)"] = ct.forward(w2, cfg, ids)
        # 5) no 1/sqrt(d)
        cfg2 = copy.deepcopy(cfg)
        w2 = dict(w)
        for i in range(cfg["num_hidden_layers"]):
            n = "roberta.encoder.layer.%d.attention.self.query." % i
            w2[n + "weight"] = w[n + "weight"] * math.sqrt(D)
            w2[n + "bias"] = w[n + "bias"] * math.sqrt(D)
        bugs["no 1/sqrt(d)"] = ct.forward(w2, cfg2, ids)
        # 6) tanh GELU instead of erf GELU
        g = F.gelu
        F.gelu = lambda t: 0.5 * t * (1 + torch.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t ** 3)))
        bugs["tanh GELU"] = ct.forward(w, cfg, ids)
        F.gelu = g
        for k_, v_ in bugs.items():
            print("  bug %-24s moves logits by max %.3g" % (k_, (v_ - ref).abs().max().item()))
        # 7) padded batch without mask
        ids_b = pad_rows(cases[-2][1])
        ref_b = ct.forward(w, cfg, ids_b)
        out = ct.encoder_forward(w, cfg, ids_b, attention_mask=torch.ones_like(ids_b, dtype=torch.bool))
        out = F.linear(out, w["classifier.weight"], w["classifier.bias"])
        real = ids_b != ct.PAD_ID
        print("  bug %-24s moves logits by max %.3g" % ("no padding mask", (out - ref_b)[real].abs().max().item()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.join(ct.REPO_ROOT, "tests", "fixtures"))
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER)
    ap.add_argument("--only", default="", help="comma-separated fixture names")
    ap.add_argument("--selfcheck", action="store_true", help="print consistency and bug-sensitivity checks")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    only = set(s for s in a.only.split(",") if s)
    for name, dtype, seed in FIXTURES:
        if only and name not in only:
            continue
        out = os.path.join(a.fixtures, name)
        cfg, w = make_checkpoint.build(out, SHAPE["layers"], SHAPE["hidden"], SHAPE["heads"], SHAPE["intermediate"],
                                       LABELS, dtype, seed, "CamembertForTokenClassification", a.tokenizer,
                                       STD, BIAS_STD, LN_STD)
        cases = make_cases(seed, a.tokenizer)
        write_logits(os.path.join(out, "logits.txt"), cfg, w, cases)
        sizes = {fn: os.path.getsize(os.path.join(out, fn)) for fn in sorted(os.listdir(out))}
        print("%s (%s, seed %d): %s" % (out, dtype, seed, ", ".join("%s %d" % kv for kv in sizes.items())))
        if a.selfcheck:
            selfcheck(cfg, w, cases)


if __name__ == "__main__":
    main()
