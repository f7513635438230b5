#!/usr/bin/env -S /usr/bin/python3
"""Masked-LM pre-training-step throughput of the PyTorch reference (the figure `surligne pretrain` is compared with).

  bench_pretrain_torch.py --config tiny|small|base [--batch 8] [--seq 128] [--threads 2] [--steps N] [--warmup 2]

Configs (CamembertForMaskedLM = RobertaForMaskedLM, vocab 32005, random weights; see bench_train_torch.py):
  base = 12 layers x 768 (camembert-base), small = 4 layers x 256, 4 heads, ff 1024, tiny = 2 layers x 32.
One step, as the C trainer does it: forward in train mode (HF dropout 0.1 on hidden states and attention
probabilities; RobertaLMHead has none), the LM head ONLY at the masked positions (gather the M chosen rows of the
last hidden state, then dense, GELU, LayerNorm and the decoder tied to the word embeddings + lm_head.bias: [M, 32005]
logits), cross-entropy (mean over the M), backward, clip_grad_norm_(1.0), AdamW (Trainer's two decay groups) and
the linear schedule's step.
Inputs: batch rows of <s> + random ids + </s>, no padding; masked once, before timing, by HF's collator rules
(camembert_torch.mask_tokens: 15% of the non-special tokens, of those 80% -> <mask>, 10% -> random id, 10% kept).
After --warmup untimed steps, times --steps steps and prints e.g.
  torch  config=small threads=2 batch=8 seq=128 masked=154  median 0.123 s/step  8300 tok/s
(tok/s = batch * seq / median: every input token counts, masked or not) and the same '#' lines as
bench_train_torch.py. Threads: as bench_train_torch.py (OMP_WAIT_POLICY=PASSIVE unless already set; see there why).
Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_train_torch as bt  # noqa: E402  (first: it sets OMP_WAIT_POLICY before torch is imported)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import camembert_torch as ct  # noqa: E402

ARCH = "CamembertForMaskedLM"


def main():
    a = bt.parse_args(__doc__)
    model, opt, sched = bt.setup(a, ARCH, [])
    cfg, params, order = model["cfg"], model["params"], model["order"]
    ids = bt.random_rows(a, np.random.RandomState(a.seed))
    special = (ids == ct.BOS_ID) | (ids == ct.EOS_ID)
    inputs, labels, chosen, _, _ = ct.mask_tokens(ids, special, torch.Generator().manual_seed(a.seed))
    targets = labels[chosen]  # [M], row-major order of [B, T], as x[chosen] below

    def step():
        opt.zero_grad(set_to_none=False)
        x = ct.encoder_forward(params, cfg, inputs, hidden_dropout=bt.DROPOUT, attention_dropout=bt.DROPOUT)
        logits = ct.lm_head_forward(params, cfg, x[chosen])  # [M, 32005]
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in order], 1.0)
        opt.step()
        sched.step()
        return loss.item()

    bt.run(a, model, step, " masked=%d" % int(chosen.sum()))


if __name__ == "__main__":
    main()
