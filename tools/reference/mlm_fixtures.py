#!/usr/bin/env -S /usr/bin/python3
"""Reference masked-language-model pre-training run (20 AdamW steps) that `surligne pretrain` must reproduce.

  mlm_fixtures.py [--data ../shared/data/french-text/raw-eltec-fra/eltec-fra-level1.txt]
                  [--tokenizer ../shared/data/camembert-base-tokenizer/sentencepiece.bpe.model]
                  [--model tests/fixtures/tiny-mlm-hf] [--out tests/fixtures/mlm] [--keep-model]

Run with Debian's interpreter (/usr/bin/python3: python3-torch 1.13, numpy, python3-sentencepiece).
Paths default to places relative to the repository root. Deterministic: one torch thread, seeded generators.

1. Writes the checkpoint tests/fixtures/tiny-mlm-hf (unless --keep-model): CamembertForMaskedLM, 2 layers,
   hidden 32, 4 heads, intermediate 64, vocab 32005, F32, random weights (seed MODEL_SEED, the weight scales of
   tiny-hf: std 0.15, biases N(0, 0.05), LayerNorm weights 1 + N(0, 0.1), pad rows of the word and position
   embeddings zero). Keys as transformers saves RobertaForMaskedLM: roberta.* without pooler, lm_head.dense.*,
   lm_head.layer_norm.*, lm_head.bias (lm_head.decoder.* are tied and not saved).
2. Trains it as the Hugging Face Trainer + run_mlm.py + DataCollatorForLanguageModeling would (transformers itself
   not used), with the fine-tuning fixture's optimiser, clip and schedule (train_fixtures.train), and writes
   tests/fixtures/mlm/: batches.txt, steps.txt, grads_step1.safetensors, weights_step20.safetensors, README.md
   (the setup, the formats, the figures of the run and the tolerances; see README below).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
import make_checkpoint  # noqa: E402
import train_fixtures as tf  # noqa: E402

ARCH = "CamembertForMaskedLM"
MODEL_SEED = 20240610
SHAPE = dict(layers=2, hidden=32, heads=4, intermediate=64)
STD, BIAS_STD, LN_STD = 0.15, 0.05, 0.1  # as tests/fixtures/tiny-hf (logits_fixtures.py says why not 0.02)
ROW_LEN = 32
BATCH = 4
STEPS = 20
MLM_PROBABILITY = 0.15
MASK_SEED = 1
PAD_ROW = (1, 2, 21)  # (step 1-based, row 0-based, real tokens): a row of 21 stream tokens, right-padded
UNUSED_ROWS = (0, 2, 4, 12345, 20000, 32003)  # checked below to be absent from every batch


def rel(path):
    return os.path.relpath(path, ct.REPO_ROOT)


# ----------------------------------------------------------------------------------------------
# data


def special_ids(sp):
    """Ids the collator never chooses: CamembertTokenizer.all_special_ids = 0 <s>NOTUSED, 1 <pad>, 2 </s>NOTUSED,
    3 <unk>, 4 <unk>NOTUSED, 5 <s>, 6 </s>, 32004 <mask>; written as: ids 0-3, every piece + 4 whose
    SentencePiece type is not NORMAL (pieces 0 <unk>, 1 <s>, 2 </s> here), and the mask id."""
    out = {0, 1, 2, 3, ct.MASK_ID}
    for p in range(sp.get_piece_size()):
        if sp.is_unknown(p) or sp.is_control(p) or sp.is_unused(p):
            out.add(p + 4)
    return sorted(out)


def read_stream(sp, path, need):
    """HF run_mlm (not line by line): every non-empty line is tokenised on its own as <s> ... </s>
    (id = piece + 4, unknown piece -> 3), all lines concatenated. Reads lines until `need` tokens.
    Returns (stream, number of lines used)."""
    stream, n = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            n += 1
            stream += [ct.BOS_ID] + [ct.UNK_ID if p == sp.unk_id() else p + 4
                                     for p in sp.encode(line, out_type=int)] + [ct.EOS_ID]
            if len(stream) >= need:
                return stream, n
    raise ValueError("%s: only %d tokens, need %d" % (path, len(stream), need))


def make_rows(stream):
    """group_texts: consecutive chunks of ROW_LEN stream tokens, the remainder dropped; except the PAD_ROW, which
    takes only its real-token count of the stream and is right-padded with id 1 (the next row goes on from there)."""
    rows, pos = [], 0
    for s in range(1, STEPS + 1):
        for r in range(BATCH):
            n = PAD_ROW[2] if (s, r) == PAD_ROW[:2] else ROW_LEN
            rows.append(stream[pos:pos + n] + [ct.PAD_ID] * (ROW_LEN - n))
            pos += n
    return rows, pos


def mask_batches(rows, specials):
    """DataCollatorForLanguageModeling(mlm_probability=0.15) on each batch of BATCH rows, in order, with one
    torch.Generator seeded MASK_SEED for the whole run. Returns [(inputs, labels, original ids, counts)]."""
    g = torch.Generator().manual_seed(MASK_SEED)
    spec = torch.tensor(specials, dtype=torch.int64)
    out = []
    for s in range(0, len(rows), BATCH):
        ids = torch.tensor(rows[s:s + BATCH], dtype=torch.int64)
        special = (ids[..., None] == spec).any(-1)
        inputs, labels, chosen, replaced, randomised = ct.mask_tokens(ids, special, g, MLM_PROBABILITY,
                                                                      ct.VOCAB_SIZE)
        kept = chosen & ~replaced & ~randomised
        counts = dict(chosen=int(chosen.sum()), mask=int(replaced.sum()), random=int(randomised.sum()),
                      kept=int(kept.sum()), random_same=int((randomised & (inputs == ids)).sum()))
        assert counts["chosen"] > 0
        # a random replacement by the pad id would be taken for padding (attention mask = ids != 1)
        assert not (randomised & (inputs == ct.PAD_ID)).any()
        out.append((inputs, labels, ids, counts))
    return out


# ----------------------------------------------------------------------------------------------
# loss


def mlm_loss(w, cfg, ids, labels):
    """RobertaForMaskedLM's loss with the LM head computed at the chosen positions only: gather the rows of the
    last hidden state whose label is not -100 ([M, H], row-major order of [B, T]), head, cross-entropy over the
    32005 logits, mean over the M rows."""
    x = ct.encoder_forward(w, cfg, ids, attention_mask=(ids != ct.PAD_ID))
    sel = labels != -100
    logits = ct.lm_head_forward(w, cfg, x[sel])
    return F.cross_entropy(logits, labels[sel])


def mlm_loss_full(w, cfg, ids, labels):
    """The same loss as HF computes it: logits at every position, ignore_index=-100."""
    x = ct.encoder_forward(w, cfg, ids, attention_mask=(ids != ct.PAD_ID))
    logits = ct.lm_head_forward(w, cfg, x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def mlm_loss_untied(w, cfg, ids, labels):
    """mlm_loss with the decoder weight a separate tensor 'lm_head.decoder.weight' (for the tied-gradient check)."""
    return mlm_loss(w, cfg, ids, labels)  # lm_head_forward prefers lm_head.decoder.weight when present


def grad_of(loss_fn, w, cfg, ids, labels):
    p = {n: t.detach().clone().requires_grad_(True) for n, t in w.items()}
    loss = loss_fn(p, cfg, ids, labels)
    return loss.item(), dict(zip(p.keys(), torch.autograd.grad(loss, list(p.values()))))


def max_rel_diff(a, b):
    """max over tensors of max |a - b| / max |b|."""
    return max((a[n].double() - b[n].double()).abs().max().item() / max(b[n].abs().max().item(), 1e-30) for n in b)


# ----------------------------------------------------------------------------------------------


README = """\
# Masked-LM pre-training fixtures (reference for `surligne pretrain`)

Written by `tools/reference/mlm_fixtures.py` (PyTorch {torch_version}, float32, 1 thread; deterministic).
Regenerate: `/usr/bin/python3 tools/reference/mlm_fixtures.py` from the repository root (it rewrites
`tests/fixtures/tiny-mlm-hf` too, byte for byte the same). It reproduces what the Hugging Face `Trainer` does
with `run_mlm.py` and `DataCollatorForLanguageModeling`, without `transformers` (rules read from its source and
re-implemented). Everything the optimiser does is the fine-tuning fixture's: see `../train/README.md`.

## Setup
- **Model**: `tests/fixtures/tiny-mlm-hf`, `CamembertForMaskedLM` (2 layers, hidden 32, 4 heads, intermediate 64,
  vocab 32005; F32; random weights, seed {model_seed}: Linear/embedding N(0, 0.15), biases N(0, 0.05),
  LayerNorm weights 1 + N(0, 0.1), including `lm_head.bias` and `lm_head.layer_norm.*`; the pad rows, word id 1
  and position id 1, are zero as HF initialises them). Saved keys as transformers saves `RobertaForMaskedLM`:
  `roberta.*` without pooler, `lm_head.dense.{{weight,bias}}`, `lm_head.layer_norm.{{weight,bias}}`,
  `lm_head.bias`. The decoder is tied: `lm_head.decoder.weight` IS `roberta.embeddings.word_embeddings.weight`
  and `lm_head.decoder.bias` IS `lm_head.bias` (neither is saved). float32, **dropout 0** (hidden and attention).
- **LM head** (`RobertaLMHead`): `logits = LN(gelu(h W_d^T + b_d)) E^T + lm_head.bias` with exact-erf GELU,
  LayerNorm eps 1e-5, E the word-embedding table [32005, 32].
- **Data**: the first {n_lines} non-empty lines of
  `{data}`
  (Juliette Lamber, *Mon village*). Each line is tokenised on its own by SentencePiece
  (`{tokenizer}`;
  id = piece + 4, unknown piece -> 3) and wrapped as `5 ... 6`; all lines are concatenated ({n_stream} tokens,
  {n_unk} unknown) and cut into rows of {row_len} tokens in order (`group_texts`: no padding, a row may start or
  end inside a line, the remainder of {n_rest} tokens is dropped), **except** row {pad_row} (1-based) of step
  {pad_step}: it takes only the next {pad_real} tokens and is right-padded to {row_len} with id 1 (label -100),
  so that the pad path is exercised; the following row goes on from there. Attention mask = ids != 1, position ids =
  cumsum(mask) * mask + 1 (as in `../train`).
- **Batches**: {batch} rows per step, in order, {steps} steps, no shuffle: [{batch}, {row_len}] each.
- **Masking** (`DataCollatorForLanguageModeling(mlm_probability=0.15)`, `torch_mask_tokens`), on each batch,
  with one `torch.Generator().manual_seed({mask_seed})` for the whole run, four draws over the whole [4, 32]
  batch in this order: `chosen = bernoulli(0.15)` (probability 0 on special tokens), `replaced =
  bernoulli(0.8) & chosen` -> 32004 `<mask>`, `randomised = bernoulli(0.5) & chosen & ~replaced` -> the id of
  `randint(32005)` at that position, the remaining chosen tokens keep their id. Labels = the original id at
  chosen positions, -100 elsewhere. Special tokens (never chosen) = `all_special_ids` of CamembertTokenizer:
  {specials} (0-3, pieces whose SentencePiece type is not NORMAL + 4, and `<mask>`), so the pads,
  `<s>`, `</s>` and the unknown id 3 are never chosen. `batches.txt` holds the result, so the C test needs no
  RNG. In all: {n_chosen} chosen of the {n_maskable} non-special tokens ({pct_chosen:.1f}%; {n_real} real
  tokens): {n_mask} -> `<mask>`, {n_random} -> random id ({n_random_same} of them drew their own id), {n_kept}
  kept. Step 1: {step1_counts}.
  A random id is never 1 (checked: it would be read as padding).
- **Loss**: cross-entropy over the 32005 logits, mean over the positions whose label != -100 (M positions).
  The head is computed at those M positions only (gather the rows of the last hidden state, row-major order,
  then head, [M, 32005] logits); the script checks at every step that this equals HF's all-positions
  computation with `ignore_index=-100` (largest relative loss difference {full_loss_diff:.1e}; step-1
  gradients: {full_grad_diff:.1e} of each tensor's max |g|).
- **Gradient clipping**: `clip_grad_norm_(all, 1.0)`'s rule, `n = sqrt(sum of g^2 over all tensors)`,
  `c = min(1, 1 / (n + 1e-6))`, `g *= (float)c`, **with n accumulated in double** (`steps.txt` records n).
  torch 1.13 sums the squares in float32 lanes: on this dense 1M-value word-embedding gradient its norm is off
  by {tn_we_err:.1e} relative (the total by {tn_tot_err:.1e}) at step 1, which a C trainer summing in double
  would not reproduce; `train_fixtures.py` keeps torch's own (its embedding gradient is sparse, no such error).
- **Optimiser, weight-decay groups, schedule**: exactly `../train/README.md`:
  `AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)` updating every element every step,
  linear warm-up `ceil(0.1 * 20) = 2` steps then linear decay to 0 at step 20 (step 1 at lr 0, step 2 at
  5e-4, step k >= 3 at `1e-3 * (21 - k) / 18`).
  Decay groups by the Trainer's rule (not inside an `nn.LayerNorm`, name without `bias`): **decay** for the
  three embedding tables (the word table once: it is also the decoder), every Linear weight and
  `lm_head.dense.weight`; **no decay** for every `*.bias` including `lm_head.bias`, every `*.LayerNorm.weight`
  and `lm_head.layer_norm.weight`. Decayed: {n_decay} tensors ({n_decay_el} values); not decayed: {n_nodecay}
  tensors ({n_nodecay_el} values). Parameters in HF's `named_parameters` order (`lm_head.bias` before
  `lm_head.dense.weight`; only the clip norm's summation order depends on it).

## The tied decoder
The gradient of `roberta.embeddings.word_embeddings.weight` is the sum of two parts: the embedding lookup's
(non-zero only on the rows of the input ids) and the decoder's, `dlogits^T (LN output)`, which is non-zero on
**every** row (the softmax gives every id a probability). So the whole table moves at every step, there is no
"unused" row in the fine-tuning sense, and a sparse update is wrong. The pad row 1: the lookup part is exactly 0
(pads never influence the loss; HF's `padding_idx` zeroes it anyway), the decoder part is not, so
**word row 1 gets a gradient and moves** (max |g| at step 1: {pad_row_grad:.2e}), as in HF; position row 1
stays exactly 0. Checked at step 1 by untying (separate decoder tensor): embedding part + decoder part =
tied gradient to {split_diff:.1e} of its max |g|; the embedding part is non-zero on {n_lookup_rows} rows (the
distinct input ids of step 1 minus the pad); the decoder part's max |g| {dec_max:.2e}, the lookup part's
{emb_max:.2e}. Likewise `lm_head.bias`'s gradient is the softmax minus the one-hot labels, averaged: its
entries sum to 0 (here {bias_sum:.1e}).

## Files
- `batches.txt`: per step, a line `step K B T`, then B lines `ids <T ints>` (the INPUT ids after masking:
  32004, random ids, kept ids, pads 1) and B lines `labels <T ints>` (the original id where chosen, else -100).
  Lines starting with `#` are comments (only at the top).
- `steps.txt`: per step, `K loss grad_norm lr` (`%.9e`): the batch's loss before the update, the total
  gradient norm before clipping, the lr the step used.
- `grads_step1.safetensors`: the gradient of every parameter at step 1 (before clipping; F32, HF names, the
  {n_tensors} saved tensors, no `lm_head.decoder.*`): the word-embedding entry is the full tied gradient
  (lookup + decoder part) and `lm_head.bias`'s is the decoder bias's.
- `weights_step20.safetensors`: every parameter after step 20 (F32, HF names, `lm_head.bias` in full) **except**
  `roberta.embeddings.word_embeddings.weight`. Instead (as in `../train`): `word_embeddings_rows` [{n_rows}, 32],
  its rows for the ids that occur in `batches.txt` (inputs or labels, pad 1 included), in increasing id order,
  with `word_embeddings_row_ids` [{n_rows}] (F32 holding exact integers); and `word_embeddings_unused_rows`
  [{n_unused}, 32] with `word_embeddings_unused_row_ids` = {unused}: rows no batch uses.
  Unlike in `../train` these are **not** pure weight decay: the decoder moves them too.

## The run
| step | M (chosen) | loss | grad norm (before clip) | lr |
|---:|---:|---:|---:|---:|
{table}

Loss: {first_loss:.6f} at step 1 (ln 32005 = 10.373647) -> {last_loss:.6f} at step 20; mean of steps 1-5
{m1:.4f}, of steps 16-20 {m2:.4f}. Mean of the 20 batch losses with the initial weights {all_before:.6f}, with
the weights after step 20 {all_after:.6f}. Clipping is active at {n_clipped} of the 20 steps.

Finite-difference check (float64 copy of the step-1 weights, central differences with h = 1e-4 on {n_probes}
entries across all tensor kinds, including `lm_head.*`, the word-embedding rows of a label, of `<mask>`, of the
pad and of an id absent from the batch (decoder part only)): worst relative error vs float64 autograd
{fd:.1e} (|fd - g| / max(|g|, 1e-6): on the smallest gradients, the decoder-only entries of order 1e-7, the
difference's own noise of ~1e-11 dominates; the larger entries agree to 1e-7 or better); the float32
gradient of `grads_step1.safetensors` differs from the float64 one by at most {g32:.1e} of each tensor's max |g|
(key biases excluded). **The gradient of every `attention.self.key.bias` is exactly 0
in exact arithmetic** (adding a constant to all keys' scores of one query does not change the softmax), so in
float32 it is rounding noise (here at most {kb_noise:.0e}, different in every implementation): compare it with
an absolute tolerance (|g| < 1e-6). Through Adam that noise still moves the key biases: here by at most
{kb_move:.1e} in 20 steps, by at most sum(lr) = 0.0105 in any implementation. They do not influence the
loss, so `weights_step20`'s key biases are not reproducible: check them only as |w - fixture| <= 0.011.

## Tolerances to expect
The same run in float64 (same code, same batches) ends {drift_w:.1e} max absolute away from these float32
weights (key biases excluded; {drift_we:.1e} on the word-embedding table, {drift_lb:.1e} on `lm_head.bias`, at
most {drift_body:.1e} on every other tensor); per-step losses differ by at most {drift_l:.1e} relative, gradient
norms by {drift_g:.1e}; the step-1 gradients by {g32:.1e} of each tensor's max |g|. Another float32 run, the LM
head on all positions (other matrix shapes, other summation orders), ends {fl_we:.1e} away on the word
embeddings and {fl_w:.1e} on the other tensors, with losses {fl_l:.1e} and gradient norms {fl_g:.1e} relative
apart and step-1 gradients {fl_g1:.1e} of max |g|.
The word-embedding table is the loose one: {n_we_1e6} value(s) of 1024160 differ from float64 by more than
1e-6, the worst at [{worst_el[0]}, {worst_el[1]}], whose step-1 gradient is {worst_el_g:.1e} (the lookup and
decoder parts nearly cancel): Adam's m / sqrt(v) does not care how small g is, so the rounding of such a
gradient moves the weight by a fraction of lr.
So for a correct float32 C trainer (other summation orders, FMA, its own log-sum-exp over 32005 logits):
- `steps.txt`: loss and grad norm to **1e-5 relative** (grad norm summed in double; with a float32 sum
  allow 1e-4); lr to 1e-12.
- `grads_step1`: **1e-5 of each tensor's max |g|**; the key biases **|g| < 1e-6** absolute.
- `weights_step20`: **1e-5 absolute** for every tensor but the word-embedding rows, **5e-5** for
  `word_embeddings_rows` and `word_embeddings_unused_rows`, **0.011** for the key biases.
What typical mistakes cost: forgetting the decoder part of the tied gradient changes the step-1 word-embedding
gradient by {cost_no_dec:.1e} of its max |g| (every row not in the inputs is wrong); dropping the lookup part
by {cost_no_emb:.1e}; a decoder bias that is not `lm_head.bias` (or `lm_head.bias` left out of the optimiser)
leaves it at its initial values, {cost_bias:.1e} away after 20 steps; a sparse (used-rows-only) embedding
update leaves the {n_vocab_unused} rows that never occur in `batches.txt` without their decoder updates, up to
{cost_sparse:.1e}; loss averaged over all tokens instead of the M chosen ones scales the step-1 gradients by
M / (B * T); a wrong decay group, schedule or clip costs what `../train/README.md` says (1e-4 relative to
1e-3 absolute).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ct.SHARED_DATA, "french-text", "raw-eltec-fra",
                                                   "eltec-fra-level1.txt"))
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER)
    ap.add_argument("--model", default=os.path.join(ct.REPO_ROOT, "tests", "fixtures", "tiny-mlm-hf"))
    ap.add_argument("--out", default=os.path.join(ct.REPO_ROOT, "tests", "fixtures", "mlm"))
    ap.add_argument("--keep-model", action="store_true", help="do not rewrite the checkpoint, read it")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    assert tf.LR == 1e-3 and tf.WARMUP_RATIO == 0.1 and tf.MAX_GRAD_NORM == 1.0

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)

    # ---- model
    if not a.keep_model:
        make_checkpoint.build(a.model, SHAPE["layers"], SHAPE["hidden"], SHAPE["heads"], SHAPE["intermediate"], [],
                              "F32", MODEL_SEED, ARCH, a.tokenizer, STD, BIAS_STD, LN_STD)
    cfg, w_init = ct.load_checkpoint(a.model)
    assert ct.arch_of(cfg) == ARCH and cfg["hidden_size"] == 32 and cfg["vocab_size"] == ct.VOCAB_SIZE
    wname = "roberta.embeddings.word_embeddings.weight"
    pname = "roberta.embeddings.position_embeddings.weight"
    assert w_init[wname][ct.PAD_ID].abs().max().item() == 0 and w_init[pname][ct.PAD_ID].abs().max().item() == 0
    print("model %s: %d tensors, %d values" % (rel(a.model), len(w_init), sum(t.numel() for t in w_init.values())))

    # ---- data
    specials = special_ids(sp)
    assert specials == [0, 1, 2, 3, 4, 5, 6, ct.MASK_ID], specials
    need = STEPS * BATCH * ROW_LEN - (ROW_LEN - PAD_ROW[2])
    stream, n_lines = read_stream(sp, a.data, need)
    rows, used_tokens = make_rows(stream)
    assert used_tokens == need
    batches_m = mask_batches(rows, specials)
    batches = [(inp, lab) for inp, lab, _, _ in batches_m]
    counts = {k: sum(c[k] for _, _, _, c in batches_m) for k in batches_m[0][3]}
    c1 = batches_m[0][3]
    assert c1["kept"] > 0 and c1["random"] > c1["random_same"], c1  # step 1 exercises every branch
    pad_inp = batches[PAD_ROW[0] - 1][0][PAD_ROW[1]]
    assert (pad_inp == ct.PAD_ID).sum().item() == ROW_LEN - PAD_ROW[2]
    n_real = sum(int((ids != ct.PAD_ID).sum()) for _, _, ids, _ in batches_m)
    n_maskable = sum(int((~(ids[..., None] == torch.tensor(specials)).any(-1)).sum()) for _, _, ids, _ in batches_m)
    print("data: %d lines, %d tokens in the stream, %d used; %d chosen of %d real tokens: %s"
          % (n_lines, len(stream), used_tokens, counts["chosen"], n_real, counts))

    # ---- parameters in HF named_parameters order (lm_head's own bias before its submodules)
    shapes = ct.tensor_shapes(ARCH, cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"], 0)
    body = [n for n, _, _ in shapes if not n.startswith("lm_head.")]
    order = body + ["lm_head.bias"] + [n for n, _, _ in shapes if n.startswith("lm_head.") and n != "lm_head.bias"]
    kinds = {n: k for n, _, k in shapes}
    assert sorted(order) == sorted(w_init), "checkpoint tensors differ from the expected set"
    decay = [n for n in order if ct.trainer_decays(n)]
    no_decay = [n for n in order if not ct.trainer_decays(n)]
    assert set(no_decay) == {n for n in order if kinds[n] in ("b", "lnb", "lnw")}
    assert "lm_head.bias" in no_decay and "lm_head.layer_norm.weight" in no_decay and "lm_head.dense.weight" in decay

    # ---- the head at the chosen positions only = HF's all-positions loss
    with torch.no_grad():
        full_loss_diff = max(abs(mlm_loss(w_init, cfg, i, l).item() - mlm_loss_full(w_init, cfg, i, l).item())
                             / mlm_loss_full(w_init, cfg, i, l).item() for i, l in batches)
    ids1, lab1 = batches[0]
    _, g_sel = grad_of(mlm_loss, w_init, cfg, ids1, lab1)
    _, g_full = grad_of(mlm_loss_full, w_init, cfg, ids1, lab1)
    full_grad_diff = max_rel_diff(g_sel, {n: g for n, g in g_full.items() if not n.endswith("key.bias")})
    print("head at the chosen positions vs all positions: loss rel diff %.1e, step-1 gradient %.1e"
          % (full_loss_diff, full_grad_diff))
    assert full_loss_diff < 1e-6 and full_grad_diff < 1e-5

    # ---- train
    os.makedirs(a.out, exist_ok=True)
    params, log, grads1, w_step1 = tf.train(w_init, cfg, batches, order, torch.float32, loss_fn=mlm_loss,
                                            verbose=True, double_norm=True)
    losses = [l for _, l, _, _ in log]
    assert max_rel_diff(g_sel, grads1) == 0.0  # train() saw the same step-1 gradient

    # ---- the tied gradient: lookup part + decoder part
    w_untied = dict(w_init)
    w_untied["lm_head.decoder.weight"] = w_init[wname].clone()
    _, g_split = grad_of(mlm_loss_untied, w_untied, cfg, ids1, lab1)
    g_emb, g_dec, g_tied = g_split[wname], g_split["lm_head.decoder.weight"], grads1[wname]
    split_diff = (g_emb + g_dec - g_tied).abs().max().item() / g_tied.abs().max().item()
    lookup_rows = sorted(set(int(x) for x in ids1.flatten().tolist()) - {ct.PAD_ID})
    nz = (g_emb.abs().sum(1) != 0).nonzero().flatten().tolist()
    assert nz == lookup_rows, (nz, lookup_rows)
    assert g_emb[ct.PAD_ID].abs().max().item() == 0.0 and (g_dec.abs().sum(1) != 0).all()
    assert grads1[pname][ct.PAD_ID].abs().max().item() == 0.0 and split_diff < 1e-6
    pad_row_grad = g_tied[ct.PAD_ID].abs().max().item()
    bias_sum = grads1["lm_head.bias"].double().sum().item()
    print("tied gradient: lookup + decoder = tied to %.1e; lookup rows %d; pad row max |g| %.2e; "
          "sum of lm_head.bias gradient %.1e" % (split_diff, len(nz), pad_row_grad, bias_sum))

    # ---- write
    with open(os.path.join(a.out, "batches.txt"), "w") as f:
        f.write("# surligne MLM pre-training batches, written by tools/reference/mlm_fixtures.py (see README.md).\n"
                "# Per step: 'step K B T', then B lines 'ids <T ints>' (inputs after masking), then B lines\n"
                "# 'labels <T ints>' (original id at the chosen positions, -100 elsewhere). Padding: id 1.\n")
        for k, (ids, labels) in enumerate(batches, 1):
            B, T = ids.shape
            f.write("step %d %d %d\n" % (k, B, T))
            for b in range(B):
                f.write("ids " + " ".join(str(int(x)) for x in ids[b]) + "\n")
            for b in range(B):
                f.write("labels " + " ".join(str(int(x)) for x in labels[b]) + "\n")
    with open(os.path.join(a.out, "steps.txt"), "w") as f:
        f.write("# surligne MLM pre-training reference, written by tools/reference/mlm_fixtures.py (see README.md).\n"
                "# Per step: K loss grad_norm lr  (loss before the update, total gradient norm before clipping,\n"
                "# lr used by this step; %.9e)\n")
        for k, l, g, lr in log:
            f.write("%d %.9e %.9e %.9e\n" % (k, l, g, lr))
    meta = {"format": "pt", "source": "tools/reference/mlm_fixtures.py"}
    ct.write_safetensors(os.path.join(a.out, "grads_step1.safetensors"), grads1, "F32",
                         dict(meta, content="gradient at step 1, before clipping"))
    used = sorted(set(int(x) for ids, labels in batches for x in ids.flatten().tolist() + labels.flatten().tolist()
                      if x != -100))
    for u in UNUSED_ROWS:
        assert u not in used, u
    we = params[wname].detach()
    final = {n: params[n].detach().clone() for n in order if n != wname}
    final["word_embeddings_rows"] = we[used].clone()
    final["word_embeddings_row_ids"] = torch.tensor(used, dtype=torch.float32)
    final["word_embeddings_unused_rows"] = we[list(UNUSED_ROWS)].clone()
    final["word_embeddings_unused_row_ids"] = torch.tensor(UNUSED_ROWS, dtype=torch.float32)
    ct.write_safetensors(os.path.join(a.out, "weights_step20.safetensors"), final, "F32",
                         dict(meta, content="parameters after step 20"))

    # ---- checks
    probe_label = int(lab1[lab1 != -100][0])
    absent = 20000
    assert absent not in set(ids1.flatten().tolist())
    probes = [
        ("lm_head.bias", (probe_label,)),
        ("lm_head.bias", (absent,)),
        ("lm_head.dense.weight", (3, 7)),
        ("lm_head.dense.bias", (11,)),
        ("lm_head.layer_norm.weight", (5,)),
        ("lm_head.layer_norm.bias", (20,)),
        (wname, (probe_label, 4)),
        (wname, (ct.MASK_ID, 9)),
        (wname, (ct.PAD_ID, 13)),
        (wname, (absent, 30)),
        ("roberta.encoder.layer.1.output.dense.weight", (7, 40)),
        ("roberta.encoder.layer.1.attention.output.LayerNorm.weight", (3,)),
        ("roberta.encoder.layer.0.attention.self.query.weight", (5, 11)),
        ("roberta.encoder.layer.0.attention.self.key.bias", (17,)),
        ("roberta.encoder.layer.0.attention.self.value.weight", (30, 2)),
        ("roberta.encoder.layer.0.intermediate.dense.bias", (50,)),
        ("roberta.embeddings.LayerNorm.weight", (9,)),
        (pname, (3, 4)),
        ("roberta.embeddings.token_type_embeddings.weight", (0, 12)),
    ]
    fd, g32 = tf.finite_difference_check(w_step1, cfg, ids1, lab1, grads1, loss_fn=mlm_loss, probes=probes)
    assert fd < 5e-5, fd  # the tiny decoder-only gradients (~3e-7) meet the difference's ~1e-11 noise
    kb_noise = max(grads1[n].abs().max().item() for n in order if n.endswith("attention.self.key.bias"))
    m1, m2 = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    with torch.no_grad():
        final_w = {n: p.detach() for n, p in params.items()}
        all_before = sum(mlm_loss(w_init, cfg, i, l).item() for i, l in batches) / STEPS
        all_after = sum(mlm_loss(final_w, cfg, i, l).item() for i, l in batches) / STEPS
    print("mean loss over the 20 batches: initial weights %.6f, after step 20 %.6f" % (all_before, all_after))
    assert all_after < all_before and m2 < m1
    # how far other roundings carry the run: float64, and float32 with the head on all positions
    # (other matrix shapes, so other summation orders: what another float32 implementation sees)
    p64, log64, g64, _ = tf.train(w_init, cfg, batches, order, torch.float64, loss_fn=mlm_loss, double_norm=True)
    pfl, logfl, gfl, _ = tf.train(w_init, cfg, batches, order, torch.float32, loss_fn=mlm_loss_full,
                                  double_norm=True)

    def drift(p_other, names):
        return max((params[n].detach().double() - p_other[n].detach().double()).abs().max().item() for n in names)
    no_kb = [n for n in order if not n.endswith("attention.self.key.bias")]
    body_w = [n for n in no_kb if n != wname]
    drift_w, drift_we, drift_lb = drift(p64, no_kb), drift(p64, [wname]), drift(p64, ["lm_head.bias"])
    drift_l = max(abs(x[1] - y[1]) / abs(y[1]) for x, y in zip(log, log64))
    drift_g = max(abs(x[2] - y[2]) / abs(y[2]) for x, y in zip(log, log64))
    we_diff = (params[wname].detach().double() - p64[wname].detach()).abs()
    n_we_1e6 = int((we_diff > 1e-6).sum())
    worst_el = divmod(int(we_diff.flatten().argmax()), we_diff.shape[1])
    worst_el_g = grads1[wname][worst_el].item()
    fl_w, fl_we = drift(pfl, body_w), drift(pfl, [wname])
    fl_l = max(abs(x[1] - y[1]) / abs(y[1]) for x, y in zip(log, logfl))
    fl_g = max(abs(x[2] - y[2]) / abs(y[2]) for x, y in zip(log, logfl))
    fl_g1 = max_rel_diff(grads1, {n: gfl[n] for n in no_kb})
    # torch's own clip_grad_norm_ (float32 norms) on the step-1 gradient
    tn_we = grads1[wname].norm().item()
    tn_we_err = abs(tn_we - grads1[wname].double().norm().item()) / grads1[wname].double().norm().item()
    tn_tot = torch.norm(torch.stack([torch.norm(grads1[n]) for n in order])).item()
    tn_tot_err = abs(tn_tot - log[0][2]) / log[0][2]
    print("float32 vs float64: word embeddings %d values > 1e-6, worst at %s (its step-1 gradient %.1e); "
          "float32 head on all positions vs the fixture: weights %.1e (word embeddings %.1e), loss %.1e, grad norm "
          "%.1e, step-1 gradients %.1e; torch float32 norm at step 1: word embeddings %.1e, total %.1e relative"
          % (n_we_1e6, worst_el, worst_el_g, fl_w, fl_we, fl_l, fl_g, fl_g1, tn_we_err, tn_tot_err))
    kb_move = max((params[n].detach() - w_init[n]).abs().max().item()
                  for n in order if n.endswith("attention.self.key.bias"))
    print("float32 vs float64 run: max |weight diff| after step 20 %.2e (key biases excluded; word embeddings "
          "%.2e, lm_head.bias %.2e), max rel loss diff %.2e, max rel grad-norm diff %.2e; key biases moved by at "
          "most %.2e" % (drift_w, drift_we, drift_lb, drift_l, drift_g, kb_move))
    # what typical mistakes would cost
    gmax = g_tied.abs().max().item()
    cost_no_dec = g_dec.abs().max().item() / gmax
    cost_no_emb = g_emb.abs().max().item() / gmax
    cost_bias = (params["lm_head.bias"].detach() - w_init["lm_head.bias"]).abs().max().item()
    never = [i for i in range(ct.VOCAB_SIZE) if i not in set(used)]
    cost_sparse = (we[never] - w_init[wname][never]).abs().max().item()
    print("loss: step 1 %.6f -> step 20 %.6f; mean of steps 1-5 %.4f, of steps 16-20 %.4f"
          % (losses[0], losses[-1], m1, m2))

    table = "\n".join("| %d | %d | %.6f | %.6f | %.9e |" % (k, c[3]["chosen"], l, g, lr)
                      for (k, l, g, lr), c in zip(log, batches_m))
    step1_counts = "%d chosen: %d `<mask>`, %d random, %d kept" % (c1["chosen"], c1["mask"], c1["random"],
                                                                  c1["kept"])
    text = README.format(
        torch_version=torch.__version__, model_seed=MODEL_SEED, n_lines=n_lines, data=rel(os.path.abspath(a.data)),
        tokenizer=rel(os.path.abspath(a.tokenizer)), n_stream=len(stream),
        n_unk=sum(1 for x in stream[:used_tokens] if x == ct.UNK_ID), row_len=ROW_LEN,
        n_rest=len(stream) - used_tokens, pad_step=PAD_ROW[0], pad_row=PAD_ROW[1] + 1, pad_real=PAD_ROW[2],
        batch=BATCH, steps=STEPS, mask_seed=MASK_SEED, specials=", ".join(str(s) for s in specials),
        n_chosen=counts["chosen"], n_real=n_real, n_maskable=n_maskable,
        pct_chosen=100.0 * counts["chosen"] / n_maskable,
        n_mask=counts["mask"], n_random=counts["random"], n_random_same=counts["random_same"], n_kept=counts["kept"],
        step1_counts=step1_counts, full_loss_diff=full_loss_diff, full_grad_diff=full_grad_diff,
        n_decay=len(decay), n_decay_el=sum(params[n].numel() for n in decay), n_nodecay=len(no_decay),
        n_nodecay_el=sum(params[n].numel() for n in no_decay), pad_row_grad=pad_row_grad, split_diff=split_diff,
        n_lookup_rows=len(nz), dec_max=g_dec.abs().max().item(), emb_max=g_emb.abs().max().item(),
        bias_sum=bias_sum, n_tensors=len(grads1), n_rows=len(used), n_unused=len(UNUSED_ROWS),
        unused="[" + ", ".join(str(u) for u in UNUSED_ROWS) + "]", table=table, first_loss=losses[0],
        last_loss=losses[-1], m1=m1, m2=m2, all_before=all_before, all_after=all_after,
        n_clipped=sum(1 for _, _, g, _ in log if g > tf.MAX_GRAD_NORM), n_probes=len(probes), fd=fd, g32=g32,
        kb_noise=kb_noise, kb_move=kb_move, drift_w=drift_w, drift_we=drift_we, drift_lb=drift_lb, drift_l=drift_l,
        drift_g=drift_g, drift_body=drift(p64, body_w), n_we_1e6=n_we_1e6, worst_el=list(worst_el),
        worst_el_g=worst_el_g, fl_w=fl_w, fl_we=fl_we, fl_l=fl_l, fl_g=fl_g, fl_g1=fl_g1, tn_we_err=tn_we_err,
        tn_tot_err=tn_tot_err, cost_no_dec=cost_no_dec, cost_no_emb=cost_no_emb, cost_bias=cost_bias,
        n_vocab_unused=len(never), cost_sparse=cost_sparse)
    with open(os.path.join(a.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
    for d in (a.model, a.out):
        for fn in sorted(os.listdir(d)):
            print("  %s %d bytes" % (rel(os.path.join(d, fn)), os.path.getsize(os.path.join(d, fn))))


if __name__ == "__main__":
    main()
