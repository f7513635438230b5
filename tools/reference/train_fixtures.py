#!/usr/bin/env -S /usr/bin/python3
"""Reference fine-tuning run (20 AdamW steps) that the C trainer must reproduce step for step.

  train_fixtures.py [--data ../shared/data/wikiann-fr/train.conll] [--model tests/fixtures/tiny-hf]
                    [--tokenizer ../shared/data/camembert-base-tokenizer/sentencepiece.bpe.model]
                    [--out tests/fixtures/train]

Run with Debian's interpreter (/usr/bin/python3: python3-torch 1.13, numpy, python3-sentencepiece).
Paths default to places relative to the repository root. Deterministic: one torch thread, no randomness.

THE SETUP (the Hugging Face Trainer's semantics, with `transformers` itself not used):

Model   tests/fixtures/tiny-hf (CamembertForTokenClassification, 2 layers, hidden 32, 4 heads, intermediate 64,
        vocab 32005, 7 labels, weights F32), float32 compute, dropout 0 everywhere (hidden, attention,
        classifier), i.e. the eval-mode forward of camembert_torch.py with gradients on.
Data    the first 80 sentences of the CoNLL file (token<TAB>tag, blank line after each sentence), labels by
        tiny-hf's id2label: O 0, B-PER 1, I-PER 2, B-ORG 3, I-ORG 4, B-LOC 5, I-LOC 6.
Tokens  as HF's is_split_into_words with CamembertTokenizer: each word w on its own, sp.encode(w) with
        python3-sentencepiece (add_dummy_prefix gives "▁w..."), id = piece + 4, spm unknown (piece 0) -> 3.
        Row = [5] + tokens of every word + [6]. Labels: the word's label on its FIRST sub-token, -100 on the
        other sub-tokens and on <s>, </s>. A word that yields no token contributes nothing (its label is
        dropped). Rows are <= 128 tokens (asserted).
Batches size 4 in file order (no shuffle), 20 steps = 80 sentences = 1 epoch; each batch right-padded to
        its longest row with id 1 / label -100; attention mask = ids != 1; position ids = HF RoBERTa
        (cumsum of the mask + 1, pads get 1).
Loss    cross-entropy over the 7 logits, mean over the labelled (!= -100) tokens of the batch.
Optim   torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), torch 1.13 single-tensor
        path, two parameter groups as Trainer.create_optimizer builds them: weight decay 0.01 for the names
        get_decay_parameter_names returns = parameters NOT inside an nn.LayerNorm module AND whose name does
        not contain "bias"; weight decay 0 for the rest. For CamemBERT: no decay for every *.bias and every
        *.LayerNorm.weight (embeddings.LayerNorm, attention.output.LayerNorm, output.LayerNorm); decay for
        word/position/token_type embeddings, all Linear weights, classifier.weight.
        Per element, per step t (1-based, the parameter's own step count = the global step):
            p = p * (1 - lr*wd)                  (decoupled decay first, on the pre-update value)
            m = 0.9*m + 0.1*g ;  v = 0.999*v + 0.001*g*g
            p = p - (lr / (1 - 0.9^t)) * m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8)
        Every element of every tensor is updated every step, including embedding rows with zero gradient
        (their m, v decay and their stale m still moves them; never-used rows only shrink by (1 - lr*wd)).
Clip    torch.nn.utils.clip_grad_norm_(all params, 1.0) after backward, before the step:
            n = sqrt(sum over tensors of ||g||^2);  c = min(1, 1.0 / (n + 1e-6));  g = g * c.
Sched   get_linear_schedule_with_warmup(num_warmup_steps = ceil(0.1 * 20) = 2, num_training_steps = 20):
        factor(s) = s/2 for s < 2, else max(0, (20 - s) / 18); scheduler.step() after each optimizer.step(),
        so step k (1-based) uses lr = 1e-3 * factor(k - 1):
            step 1: 0 (nothing moves but m and v)   step 2: 5e-4   step k >= 3: 1e-3 * (21 - k) / 18
        (step 3: 1e-3, step 20: 1e-3/18). lr is a double (Python float) times float32 tensors.

OUTPUTS (tests/fixtures/train/):
  batches.txt   per step: "step K B T", B lines "ids ..." and B lines "labels ..." (T ints each).
  steps.txt     per step: "K loss grad_norm lr" (%.9e): loss before the update, total gradient norm before
                clipping, lr used by that step.
  grads_step1.safetensors   gradient of every parameter at step 1 (before clipping; F32, HF names).
  weights_step20.safetensors  every parameter after step 20 (F32, HF names) EXCEPT
                roberta.embeddings.word_embeddings.weight; instead word_embeddings_rows [n, 32] = its rows for
                the ids that occur in batches.txt (incl. 1, 5, 6), sorted, with word_embeddings_row_ids [n]
                (F32, exact integers), and word_embeddings_unused_rows / word_embeddings_unused_row_ids: a few
                rows never used in any batch (they only see weight decay).
  README.md     this setup, the file formats and the figures of the run.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402

N_SENTENCES = 80
BATCH = 4
MAX_LEN = 128
LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
WARMUP_RATIO = 0.1
UNUSED_ROWS = (0, 2, 4, 1000, 20000, 32004)  # checked below to be absent from every batch
ARCH = "CamembertForTokenClassification"


def rel(path):
    return os.path.relpath(path, ct.REPO_ROOT)


# ----------------------------------------------------------------------------------------------
# data


def read_conll(path, n):
    """First n sentences: list of (words, tags). One 'token<TAB>tag' per line, blank line between sentences."""
    sents, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                if words:
                    sents.append((words, tags))
                    words, tags = [], []
                    if len(sents) == n:
                        break
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError("%s:%d: expected 'token<TAB>tag'" % (path, lineno))
            words.append(parts[0])
            tags.append(parts[1])
    if words and len(sents) < n:
        sents.append((words, tags))
    if len(sents) < n:
        raise ValueError("%s: only %d sentences, need %d" % (path, len(sents), n))
    return sents


def encode_sentence(sp, words, tags, label2id):
    """HF is_split_into_words alignment. Returns (ids, labels, number of words that gave no token)."""
    ids, labels, dropped = [ct.BOS_ID], [-100], 0
    for w, t in zip(words, tags):
        pieces = sp.encode(w, out_type=int)
        if not pieces:
            dropped += 1
            continue
        for j, p in enumerate(pieces):
            ids.append(ct.UNK_ID if p == sp.unk_id() else p + 4)
            labels.append(label2id[t] if j == 0 else -100)
    ids.append(ct.EOS_ID)
    labels.append(-100)
    return ids, labels, dropped


def make_batches(rows):
    out = []
    for s in range(0, len(rows), BATCH):
        chunk = rows[s:s + BATCH]
        T = max(len(r[0]) for r in chunk)
        ids = torch.tensor([r[0] + [ct.PAD_ID] * (T - len(r[0])) for r in chunk], dtype=torch.int64)
        lab = torch.tensor([r[1] + [-100] * (T - len(r[1])) for r in chunk], dtype=torch.int64)
        out.append((ids, lab))
    return out


# ----------------------------------------------------------------------------------------------
# model, loss, Trainer rules


def loss_fn(w, cfg, ids, labels):
    x = ct.encoder_forward(w, cfg, ids, attention_mask=(ids != ct.PAD_ID))
    logits = F.linear(x, w["classifier.weight"], w["classifier.bias"])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def is_decayed(name):
    """Trainer.get_decay_parameter_names: parameters not inside an nn.LayerNorm module (in the HF CamemBERT
    modules every nn.LayerNorm is an attribute named 'LayerNorm'), and whose full name does not contain 'bias'.
    (Newer transformers also drop names containing 'layernorm'/'rmsnorm' case-insensitively: same set here.)"""
    return ct.trainer_decays(name)


lr_factor = ct.linear_schedule_factor  # get_linear_schedule_with_warmup's lambda of the scheduler's step count


# ----------------------------------------------------------------------------------------------
# checks


def classifier_probes(ids):
    used = int(ids[0, 1])
    return [
        ("classifier.weight", (2, 5)),
        ("classifier.bias", (0,)),
        ("roberta.encoder.layer.1.output.dense.weight", (7, 40)),
        ("roberta.encoder.layer.1.output.LayerNorm.weight", (3,)),
        ("roberta.encoder.layer.0.attention.self.query.weight", (5, 11)),
        ("roberta.encoder.layer.0.attention.self.key.bias", (17,)),
        ("roberta.encoder.layer.0.attention.self.value.weight", (30, 2)),
        ("roberta.encoder.layer.0.intermediate.dense.bias", (50,)),
        ("roberta.embeddings.LayerNorm.weight", (9,)),
        ("roberta.embeddings.position_embeddings.weight", (3, 4)),
        ("roberta.embeddings.token_type_embeddings.weight", (0, 12)),
        ("roberta.embeddings.word_embeddings.weight", (used, 20)),
    ]


def finite_difference_check(w0, cfg, ids, labels, grads32, loss_fn=loss_fn, probes=None):
    """Central differences in float64 on a few entries vs float64 autograd, and the float32 gradient vs float64.
    probes: list of (tensor name, index); by default entries of every tensor kind of the classifier model."""
    w64 = {k: v.detach().double().clone().requires_grad_(True) for k, v in w0.items()}
    loss = loss_fn(w64, cfg, ids, labels)
    g64 = dict(zip(w64.keys(), torch.autograd.grad(loss, list(w64.values()))))
    if probes is None:
        probes = classifier_probes(ids)
    h = 1e-4
    worst = 0.0
    print("finite differences (float64, central, h=%g) at step 1, batch 1:" % h)
    with torch.no_grad():
        for name, idx in probes:
            p = w64[name]
            orig = p[idx].item()
            p[idx] = orig + h
            lp = loss_fn(w64, cfg, ids, labels).item()
            p[idx] = orig - h
            lm = loss_fn(w64, cfg, ids, labels).item()
            p[idx] = orig
            fd = (lp - lm) / (2 * h)
            an = g64[name][idx].item()
            g32 = grads32[name][idx].item()
            err = abs(fd - an) / max(abs(fd), abs(an), 1e-6)
            worst = max(worst, err)
            print("  %-52s %-9s fd % .9e  autograd64 % .9e  grad32 % .9e  rel %.1e"
                  % (name, str(list(idx)), fd, an, g32, err))
    # The key biases' gradient is 0 in exact arithmetic (softmax over keys ignores a per-query constant), so
    # their float32 gradient is pure rounding noise: compare them absolutely, the other tensors relatively.
    worst32 = 0.0
    for name, g in grads32.items():
        d = (g.double() - g64[name]).abs().max().item()
        if name.endswith("attention.self.key.bias"):
            print("  %s: exact gradient 0; float64 max |g| %.1e, float32 max |g| %.1e (noise)"
                  % (name, g64[name].abs().max().item(), g.abs().max().item()))
            continue
        worst32 = max(worst32, d / max(g64[name].abs().max().item(), 1e-12))
    print("  worst fd-vs-autograd64 relative error %.2e; float32 gradient vs float64: max |diff| / max |g| "
          "per tensor, worst %.2e (key biases excluded)" % (worst, worst32))
    return worst, worst32


# ----------------------------------------------------------------------------------------------


def clip_grad_norm_double(tensors, max_norm):
    """clip_grad_norm_ with the norm accumulated in double: n = sqrt(sum of g^2), c = min(1, max_norm / (n + 1e-6)),
    g *= c (a Python float times a float32 tensor: c is rounded to float32). torch 1.13's float32 norm sums in
    float32 lanes: on a dense 1M-value gradient (the MLM word-embedding table) it is off by ~6e-5 relative."""
    n = math.sqrt(sum(float(t.grad.detach().double().pow(2).sum()) for t in tensors))
    c = min(1.0, max_norm / (n + 1e-6))
    for t in tensors:
        t.grad.detach().mul_(c)
    return n


def train(w_init, cfg, batches, order, dtype, loss_fn=loss_fn, verbose=False, double_norm=False):
    """The Trainer steps, one per batch (ids, labels): loss_fn(params, cfg, ids, labels), backward, clip, AdamW
    (ct.trainer_optimizer: the two decay groups, linear warm-up and decay over len(batches) steps).
    double_norm: clip with clip_grad_norm_double instead of torch's clip_grad_norm_.
    Returns (params, log [(k, loss, grad_norm, lr)], step-1 gradients, step-1 weights)."""
    steps = len(batches)
    warmup = math.ceil(WARMUP_RATIO * steps)
    params = {n: w_init[n].to(dtype).clone().requires_grad_(True) for n in order}
    opt, sched = ct.trainer_optimizer([(n, params[n]) for n in order], LR, steps, WEIGHT_DECAY, BETAS, EPS,
                                      WARMUP_RATIO)
    log, grads1, w_step1 = [], None, None
    for k, (ids, labels) in enumerate(batches, 1):
        lr = opt.param_groups[0]["lr"]
        assert opt.param_groups[1]["lr"] == lr
        expect = LR * lr_factor(k - 1, warmup, steps)
        assert abs(lr - expect) <= 1e-18, (k, lr, expect)
        if k == 1:
            assert lr == 0.0
            w_step1 = {n: p.detach().clone() for n, p in params.items()}
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(params, cfg, ids, labels)
        loss.backward()
        if k == 1:
            grads1 = {n: p.grad.detach().clone() for n, p in params.items()}
            if "lm_head.bias" not in params:  # with a tied LM head the decoder gives the pad row a gradient
                assert grads1["roberta.embeddings.word_embeddings.weight"][ct.PAD_ID].abs().max().item() == 0.0
            assert grads1["roberta.embeddings.position_embeddings.weight"][ct.PAD_ID].abs().max().item() == 0.0
        if double_norm:
            gnorm = clip_grad_norm_double([params[n] for n in order], MAX_GRAD_NORM)
        else:
            gnorm = torch.nn.utils.clip_grad_norm_([params[n] for n in order], MAX_GRAD_NORM).item()
        opt.step()
        sched.step()
        if k == 1:  # lr 0: neither the decay nor the Adam update moved anything, only m and v changed
            assert all(torch.equal(params[n].detach(), w_step1[n]) for n in order)
        log.append((k, loss.item(), gnorm, lr))
        if verbose:
            print("step %2d  loss %.9e  grad_norm %.9e  lr %.9e" % log[-1])
    return params, log, grads1, w_step1


README = """\
# Training fixtures (reference for `surligne train`)

Written by `tools/reference/train_fixtures.py` (PyTorch {torch_version}, float32, 1 thread; deterministic).
Regenerate: `/usr/bin/python3 tools/reference/train_fixtures.py` from the repository root.
It reproduces what the Hugging Face `Trainer` does for a token-classification fine-tune, without
`transformers` (its rules were read from its source and re-implemented).

## Setup
- **Model**: `tests/fixtures/tiny-hf` (CamemBERT token classification; 2 layers, hidden 32, 4 heads,
  intermediate 64, vocab 32005, 7 labels; F32 weights), float32, **dropout 0** everywhere (hidden, attention,
  classifier): the deterministic eval-mode forward, with gradients.
- **Data**: the first {n_sent} sentences of `{data}`; labels by tiny-hf's id2label
  `O 0, B-PER 1, I-PER 2, B-ORG 3, I-ORG 4, B-LOC 5, I-LOC 6`.
- **Tokenisation** (HF `is_split_into_words` with CamemBERT): every word is encoded on its own by SentencePiece
  (`{tokenizer}`, dummy prefix on, so each word starts with
  `▁`), id = piece + 4, unknown piece -> 3. Row = `5` + tokens of all words + `6`. Label: the word's id on its
  first sub-token, -100 on the other sub-tokens, on `<s>` and on `</s>`. A word with no token is dropped with
  its label: **{dropped} such word(s)** in these {n_sent} sentences{dropped_list}. Longest row: {longest} tokens
  (limit 128 incl. specials). {n_tokens} real tokens, {n_labelled} labelled tokens, {n_unk} unknown (id 3) in all.
- **Batches**: 4 sentences in file order, no shuffle, {steps} steps = 1 epoch. Right-padded to the longest row
  of the batch with id 1 and label -100; attention mask = ids != 1; position ids = cumsum(mask) * mask + 1
  (RoBERTa: first real token 2, pads 1).
- **Loss**: cross-entropy over the 7 logits, mean over the batch's labelled (!= -100) tokens.
- **Gradient clipping** (after backward, before the step): `clip_grad_norm_(all params, 1.0)`:
  `n = sqrt(sum_tensors ||g||^2)`, `c = min(1, 1 / (n + 1e-6))`, `g *= c` (so when n <= 1 the gradient is
  unchanged; note the `+ 1e-6`). `steps.txt` records `n` (before clipping).
- **Optimiser**: `torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)`,
  torch's single-tensor algorithm. For every element, at step t (1-based):
  ```
  p = p * (1 - lr * wd)                                   # decoupled weight decay, before the Adam update
  m = 0.9 * m + 0.1 * g
  v = 0.999 * v + 0.001 * g * g
  p = p - (lr / (1 - 0.9^t)) * m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8)
  ```
  m, v start at 0. **Every** element is updated every step, also embedding rows whose gradient is zero this
  step (stale m still moves rows used earlier; rows never used only shrink by `(1 - lr*wd)` per step).
- **Weight-decay groups** (the Trainer's `get_decay_parameter_names`): wd = 0.01 for parameters that are
  *not inside an `nn.LayerNorm` module* and whose name does *not contain `bias`*; wd = 0 for the others.
  For CamemBERT: **no decay** for every `*.bias` and every `*.LayerNorm.weight`
  (`roberta.embeddings.LayerNorm`, `...attention.output.LayerNorm`, `...output.LayerNorm`); **decay** for the
  word, position and token-type embeddings, every Linear weight and `classifier.weight`.
  Decayed: {n_decay} tensors ({n_decay_el} values); not decayed: {n_nodecay} tensors ({n_nodecay_el} values).
- **Schedule**: `get_linear_schedule_with_warmup(warmup = ceil(0.1 * 20) = 2, total = 20)`,
  `factor(s) = s / 2` for `s < 2`, else `max(0, (20 - s) / 18)`; `scheduler.step()` follows each
  `optimizer.step()`, so step k uses `lr = 1e-3 * factor(k - 1)`: **step 1 runs at lr 0** (only m and v
  change; the weights do not move, not even by decay), step 2 at 5e-4, step k >= 3 at `1e-3 * (21 - k) / 18`
  (step 3: 1e-3, step 20: 5.555...e-5). lr is computed in double.
- **Float details of torch's AdamW** (CPU, float32 tensors): every scalar is computed in double and rounded to
  float32 when it meets a tensor: `p *= (float)(1 - lr*wd)`; `m = m*(float)0.9 + g*(float)0.1`
  (`mul_` then `add_(alpha)`); `v = v*(float)0.999 + (float)0.001*g*g`;
  `denom = sqrt(v) / (float)sqrt(1 - 0.999^t) + (float)1e-8`;
  `p = p + ((float)(-lr / (1 - 0.9^t)) * m) / denom`. The bias corrections use the step count t as a double
  power. Matching this rounding is not required (see tolerances) but removes one source of drift.

## Files
- `batches.txt`: per step, a line `step K B T`, then B lines `ids <T ints>` and B lines `labels <T ints>`.
  Lines starting with `#` are comments (only at the top).
- `steps.txt`: per step, `K loss grad_norm lr` (`%.9e`): the loss of the batch before the update, the total
  gradient norm before clipping, the lr the step used.
- `grads_step1.safetensors`: the gradient of every parameter at step 1 (before clipping; F32, HF names,
  including the full `roberta.embeddings.word_embeddings.weight`, mostly zeros).
- `weights_step20.safetensors`: every parameter after step 20 (F32, HF names), **except**
  `roberta.embeddings.word_embeddings.weight`. Instead: `word_embeddings_rows` [{n_rows}, 32], its rows for
  the ids that occur in `batches.txt` (pad 1, `<s>` 5, `</s>` 6 included), in increasing id order, with
  `word_embeddings_row_ids` [{n_rows}] (F32 holding exact integers, since the C safetensors reader converts
  only float types); and `word_embeddings_unused_rows` [{n_unused}, 32] with `word_embeddings_unused_row_ids`
  = {unused}: rows no batch uses (only weight decay touches them: initial row * prod(1 - lr_k * 0.01)).
  The pad rows (word id 1, position id 1) are zero in tiny-hf and get zero gradient, so they stay zero.

## The run
| step | loss | grad norm (before clip) | lr |
|---:|---:|---:|---:|
{table}

Loss: {first_loss:.6f} at step 1 -> {last_loss:.6f} at step 20 (each step is a new batch, so the curve is noisy;
mean of steps 1-5 {m1:.4f}, of steps 16-20 {m2:.4f}). Mean of the 20 batch losses with the initial weights
{all_before:.6f}, with the weights after step 20 {all_after:.6f}. The pad rows' gradient is exactly 0.

Finite-difference check (float64 copy of the step-1 weights, central differences with h = 1e-4 on 12 entries
across all tensor kinds): worst relative error vs float64 autograd {fd:.1e}; the float32 gradient of
`grads_step1.safetensors` differs from the float64 one by at most {g32:.1e} of each tensor's max |g|
(key biases excluded). **The gradient of every `attention.self.key.bias` is exactly 0 in exact arithmetic**
(adding a constant to all keys' scores of one query does not change the softmax), so in float32 it is
rounding noise (~1e-9 here, different in every implementation): compare it with an absolute tolerance
(e.g. |g| < 1e-6). Through Adam that noise still moves the key biases (m / (sqrt(v) + 1e-8) is not small even
for g ~ 1e-9): here by at most {kb_move:.1e} in 20 steps, and by at most sum(lr) = 0.01 in any implementation.
They do not influence the loss, so `weights_step20`'s key biases are not reproducible: check them only as
|w - fixture| <= 0.01.

## Tolerances to expect
The same run in float64 (same code) ends {drift_w:.1e} max absolute away from these float32 weights
(key biases excluded); per-step losses differ by at most {drift_l:.1e} relative, gradient norms by {drift_g:.1e}.
So a correct float32 C trainer (other summation orders, FMA) should match steps.txt to ~1e-5 relative,
`grads_step1` to ~1e-5 of each tensor's max |g| (absolute for the key biases), and `weights_step20` to ~1e-5
absolute (values are of order 0.1..1); the float64 comparison suggests a few 1e-6 is reachable.
What typical mistakes cost after 20 steps: a wrong decay group moves a tensor by sum(lr) * 0.01 = 1e-4 times
its values (1e-4 on LayerNorm weights ~1, 1e-5..5e-5 on embedding rows: use a tolerance well below 1e-5 there,
or check the unused rows, pure decay: initial * prod_k (1 - lr_k * 0.01) = initial * 0.99990000..); a
sparse (used-rows-only) embedding update leaves unused rows undecayed and stops stale-m updates; a schedule
offset by one step, wrong bias corrections or a wrong clip formula give errors of order lr = 1e-3.
Clipping is active at all 20 steps here (every gradient norm is > 1).
"""


def fixture_args(doc):
    """--data, --model, --tokenizer, --out: what this script and distill_fixtures.py read and write."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ct.SHARED_DATA, "wikiann-fr", "train.conll"))
    ap.add_argument("--model", default=os.path.join(ct.REPO_ROOT, "tests", "fixtures", "tiny-hf"))
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER)
    ap.add_argument("--out", default=os.path.join(ct.REPO_ROOT, "tests", "fixtures", "train"))
    return ap.parse_args()


def main():
    a = fixture_args(__doc__)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)

    cfg, w_init = ct.load_checkpoint(a.model)
    assert ct.arch_of(cfg) == ARCH
    id2label = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    label2id = {l: i for i, l in enumerate(id2label)}
    assert id2label == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"], id2label

    # ---- data
    sents = read_conll(a.data, N_SENTENCES)
    rows, dropped_words = [], []
    for words, tags in sents:
        ids, labels, dropped = encode_sentence(sp, words, tags, label2id)
        if dropped:
            dropped_words += [w for w in words if not sp.encode(w, out_type=int)]
        assert len(ids) <= MAX_LEN, "sentence of %d tokens > %d" % (len(ids), MAX_LEN)
        rows.append((ids, labels))
    batches = make_batches(rows)
    steps = len(batches)
    warmup = math.ceil(WARMUP_RATIO * steps)
    assert steps == 20 and warmup == 2
    print("data: %d sentences, %d words, %d words gave no token%s; rows of %d..%d tokens; %d steps, warmup %d"
          % (len(sents), sum(len(s[0]) for s in sents), len(dropped_words),
             (" " + repr(dropped_words)) if dropped_words else "", min(len(r[0]) for r in rows),
             max(len(r[0]) for r in rows), steps, warmup))

    # ---- parameters, in HF named_parameters order
    shapes = ct.tensor_shapes(ARCH, cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"],
                              len(id2label), cfg["vocab_size"])
    order = [n for n, _, _ in shapes]
    kinds = {n: k for n, _, k in shapes}
    assert sorted(order) == sorted(w_init), "checkpoint tensors differ from the expected set"
    decay = [n for n in order if is_decayed(n)]
    no_decay = [n for n in order if not is_decayed(n)]
    # cross-check the name rule against the tensor kinds: biases and LayerNorm weights are exactly the no-decay set
    assert set(no_decay) == {n for n in order if kinds[n] in ("b", "lnb", "lnw")}
    print("decay: %d tensors, no decay: %d tensors (%s ...)" % (len(decay), len(no_decay), ", ".join(no_decay[:3])))

    # ---- train
    os.makedirs(a.out, exist_ok=True)
    params, log, grads1, w_step1 = train(w_init, cfg, batches, order, torch.float32, verbose=True)
    losses = [l for _, l, _, _ in log]

    # ---- write
    with open(os.path.join(a.out, "batches.txt"), "w") as f:
        f.write("# surligne training batches, written by tools/reference/train_fixtures.py (see README.md).\n"
                "# Per step: 'step K B T', then B lines 'ids <T ints>', then B lines 'labels <T ints>'.\n"
                "# Padding: id 1, label -100. Label -100 = not scored (<s>, </s>, non-first sub-tokens, pads).\n")
        for k, (ids, labels) in enumerate(batches, 1):
            B, T = ids.shape
            f.write("step %d %d %d\n" % (k, B, T))
            for b in range(B):
                f.write("ids " + " ".join(str(int(x)) for x in ids[b]) + "\n")
            for b in range(B):
                f.write("labels " + " ".join(str(int(x)) for x in labels[b]) + "\n")
    with open(os.path.join(a.out, "steps.txt"), "w") as f:
        f.write("# surligne training reference, written by tools/reference/train_fixtures.py (see README.md).\n"
                "# Per step: K loss grad_norm lr  (loss before the update, total gradient norm before clipping,\n"
                "# lr used by this step; %.9e)\n")
        for k, l, g, lr in log:
            f.write("%d %.9e %.9e %.9e\n" % (k, l, g, lr))
    meta = {"format": "pt", "source": "tools/reference/train_fixtures.py"}
    ct.write_safetensors(os.path.join(a.out, "grads_step1.safetensors"), grads1, "F32",
                         dict(meta, content="gradient at step 1, before clipping"))
    used = sorted(set(int(x) for ids, _ in batches for x in ids.flatten().tolist()))
    for u in UNUSED_ROWS:
        assert u not in used, u
    we = params["roberta.embeddings.word_embeddings.weight"].detach()
    final = {n: params[n].detach().clone() for n in order if n != "roberta.embeddings.word_embeddings.weight"}
    final["word_embeddings_rows"] = we[used].clone()
    final["word_embeddings_row_ids"] = torch.tensor(used, dtype=torch.float32)
    final["word_embeddings_unused_rows"] = we[list(UNUSED_ROWS)].clone()
    final["word_embeddings_unused_row_ids"] = torch.tensor(UNUSED_ROWS, dtype=torch.float32)
    ct.write_safetensors(os.path.join(a.out, "weights_step20.safetensors"), final, "F32",
                         dict(meta, content="parameters after step 20"))

    # ---- checks
    # unused rows: pure decay
    shrink = 1.0
    for _, _, _, lr in log:
        shrink *= (1.0 - lr * WEIGHT_DECAY)
    un_err = (we[list(UNUSED_ROWS)].double() - w_init["roberta.embeddings.word_embeddings.weight"][
        list(UNUSED_ROWS)].double() * shrink).abs().max().item()
    print("unused word-embedding rows = initial * %.9f (max |diff| %.1e)" % (shrink, un_err))
    assert un_err < 1e-6 * w_init["roberta.embeddings.word_embeddings.weight"][list(UNUSED_ROWS)].abs().max().item()
    fd, g32 = finite_difference_check(w_step1, cfg, batches[0][0], batches[0][1], grads1)
    assert fd < 1e-5, fd
    m1, m2 = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    with torch.no_grad():
        final_w = {n: p.detach() for n, p in params.items()}
        all_before = sum(loss_fn(w_init, cfg, i, l).item() for i, l in batches) / steps
        all_after = sum(loss_fn(final_w, cfg, i, l).item() for i, l in batches) / steps
    print("mean loss over the 20 batches: initial weights %.6f, after step 20 %.6f" % (all_before, all_after))
    assert all_after < all_before
    # the same run in float64: how far float32 rounding carries the weights (key biases apart, see README)
    p64, log64, _, _ = train(w_init, cfg, batches, order, torch.float64)
    drift_w = max((params[n].detach().double() - p64[n].detach()).abs().max().item()
                  for n in order if not n.endswith("attention.self.key.bias"))
    drift_l = max(abs(x[1] - y[1]) / abs(y[1]) for x, y in zip(log, log64))
    drift_g = max(abs(x[2] - y[2]) / abs(y[2]) for x, y in zip(log, log64))
    kb_move = max((params[n].detach() - w_init[n]).abs().max().item()
                  for n in order if n.endswith("attention.self.key.bias"))
    print("float32 vs float64 run: max |weight diff| after step 20 %.2e (key biases excluded), "
          "max rel loss diff %.2e, max rel grad-norm diff %.2e; key biases moved by at most %.2e"
          % (drift_w, drift_l, drift_g, kb_move))
    print("loss: step 1 %.6f -> step 20 %.6f; mean of steps 1-5 %.4f, of steps 16-20 %.4f (%s)"
          % (losses[0], losses[-1], m1, m2, "down" if m2 < m1 else "NOT DOWN"))
    assert m2 < m1

    n_tokens = sum(len(r[0]) for r in rows)
    n_labelled = sum(sum(1 for x in r[1] if x != -100) for r in rows)
    table = "\n".join("| %d | %.6f | %.6f | %.9e |" % (k, l, g, lr) for k, l, g, lr in log)
    n_unk = sum(sum(1 for x in r[0] if x == ct.UNK_ID) for r in rows)
    print("%d real tokens, %d labelled, %d unknown (id 3)" % (n_tokens, n_labelled, n_unk))
    text = README.format(
        data=rel(os.path.abspath(a.data)), tokenizer=rel(os.path.abspath(a.tokenizer)), n_unk=n_unk,
        torch_version=torch.__version__, n_sent=N_SENTENCES, dropped=len(dropped_words),
        dropped_list=(" (%s)" % ", ".join(repr(w) for w in dropped_words)) if dropped_words else "",
        longest=max(len(r[0]) for r in rows), n_tokens=n_tokens, n_labelled=n_labelled, steps=steps,
        n_decay=len(decay), n_decay_el=sum(params[n].numel() for n in decay), n_nodecay=len(no_decay),
        n_nodecay_el=sum(params[n].numel() for n in no_decay), n_rows=len(used), n_unused=len(UNUSED_ROWS),
        unused="[" + ", ".join(str(u) for u in UNUSED_ROWS) + "]", table=table, first_loss=losses[0],
        last_loss=losses[-1], m1=m1, m2=m2, fd=fd, g32=g32, all_before=all_before, all_after=all_after,
        drift_w=drift_w, drift_l=drift_l, drift_g=drift_g, kb_move=kb_move)
    with open(os.path.join(a.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
    for fn in sorted(os.listdir(a.out)):
        print("  %s %d bytes" % (rel(os.path.join(a.out, fn)), os.path.getsize(os.path.join(a.out, fn))))


if __name__ == "__main__":
    main()
