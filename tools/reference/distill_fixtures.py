#!/usr/bin/env -S /usr/bin/python3
"""Reference for distillation (`surligne train --teacher`): the loss and the gradients of one step whose
targets mix the labels with a teacher's probabilities.

  distill_fixtures.py [--data ../shared/data/wikiann-fr/train.conll] [--model tests/fixtures/tiny-hf]
                      [--tokenizer ../shared/data/camembert-base-tokenizer/sentencepiece.bpe.model]
                      [--out tests/fixtures/train]

Run with Debian's interpreter (/usr/bin/python3: python3-torch). The model, the data and the first batch are
train_fixtures.py's (its batches.txt, batch 1: 4 sentences, dropout 0). The teacher's probabilities q are
made up and deterministic: q[b, t] = softmax_j(3 cos(0.7 (b T + t + 1) (j + 1))). The loss, per labelled
token with label y and student log-probabilities log p:

    (1 - ALPHA) (-log p_y) + ALPHA (-sum_j q_j log p_j)

averaged over the batch's labelled tokens (Hinton et al. 2015 at temperature 1, the teacher's temperature
being applied to q before). Writes distill_step1.safetensors: `soft_targets` [B, T, 7], `alpha` [1], `loss`
[1] and the gradient of every parameter but the word embeddings (F32, Hugging Face names), before clipping.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
import train_fixtures as tf  # noqa: E402

ALPHA = 0.3


def soft_targets(B, T, L):
    k = torch.arange(B * T, dtype=torch.float64).reshape(B, T, 1) + 1
    j = torch.arange(L, dtype=torch.float64).reshape(1, 1, L) + 1
    return torch.softmax(3 * torch.cos(0.7 * k * j), dim=-1).float()


def distill_loss(w, cfg, ids, labels, q):
    x = ct.encoder_forward(w, cfg, ids, attention_mask=(ids != ct.PAD_ID))
    logits = F.linear(x, w["classifier.weight"], w["classifier.bias"])
    lp = F.log_softmax(logits, dim=-1)
    mask = labels != -100
    hard = -lp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    soft = -(q * lp).sum(-1)
    return ((1 - ALPHA) * hard + ALPHA * soft)[mask].mean()


def main():
    a = tf.fixture_args(__doc__)
    torch.set_num_threads(1)

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)
    cfg, w_init = ct.load_checkpoint(a.model)
    id2label = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    label2id = {l: i for i, l in enumerate(id2label)}
    rows = [tf.encode_sentence(sp, words, tags, label2id)[:2] for words, tags in tf.read_conll(a.data, tf.N_SENTENCES)]
    ids, labels = tf.make_batches(rows)[0]
    B, T = ids.shape
    q = soft_targets(B, T, len(id2label))

    grads = {}
    for dtype in (torch.float32, torch.float64):
        w = {n: t.to(dtype).clone().requires_grad_(True) for n, t in w_init.items()}
        loss = distill_loss(w, cfg, ids, labels, q.to(dtype))
        loss.backward()
        grads[dtype] = (loss.item(), {n: t.grad.detach() for n, t in w.items()})
    loss32, g32 = grads[torch.float32]
    loss64, g64 = grads[torch.float64]
    drift = max((g32[n].double() - g64[n]).abs().max().item() / max(g64[n].abs().max().item(), 1e-30)
                for n in g32 if not n.endswith("attention.self.key.bias"))
    print("batch 1: %d x %d, alpha %g: loss %.9f (float64 %.9f), float32 gradients within %.1e of float64 "
          "(of each tensor's max |g|)" % (B, T, ALPHA, loss32, loss64, drift))
    # the hard part alone is train_fixtures' loss: the soft part must move it
    plain = tf.loss_fn(w_init, cfg, ids, labels).item()
    assert abs(plain - loss32) > 1e-3, (plain, loss32)
    # every gradient but the word embeddings' (4 MB; the targets change the gradient of the logits, which
    # reaches the embeddings through the same code as every other tensor's)
    out = {n: g for n, g in g32.items() if n != "roberta.embeddings.word_embeddings.weight"}
    out["soft_targets"] = q
    out["alpha"] = torch.tensor([ALPHA])
    out["loss"] = torch.tensor([loss32])
    path = os.path.join(a.out, "distill_step1.safetensors")
    ct.write_safetensors(path, out, "F32", {"format": "pt", "source": "tools/reference/distill_fixtures.py",
                                            "content": "soft targets, alpha, loss and gradients of batch 1"})
    print("  %s %d bytes" % (tf.rel(path), os.path.getsize(path)))


if __name__ == "__main__":
    main()
