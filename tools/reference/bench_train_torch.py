#!/usr/bin/env -S /usr/bin/python3
"""Training-step throughput of the PyTorch reference (the figure `surligne bench` training is compared with).

  bench_train_torch.py --config tiny|small|base [--batch 8] [--seq 128] [--threads 2] [--steps N] [--warmup 2]

Configs (CamembertForTokenClassification, vocab 32005, 7 labels, random weights):
  base  = camembert-base: 12 layers, hidden 768, 12 heads, intermediate 3072
  small = 4 layers, hidden 256, 4 heads, intermediate 1024
  tiny  = 2 layers, hidden 32, 4 heads, intermediate 64 (the test fixtures' shape)
One step = forward in train mode (HF dropout: 0.1 on hidden states and attention probabilities, and on the
sequence output before the classifier), cross-entropy (mean over labelled tokens), backward,
clip_grad_norm_(1.0), AdamW step (Trainer's two decay groups, wd 0.01) and the linear schedule's step.
Inputs: batch rows of <s> + random ids + </s>, no padding; random labels 0..6 with -100 on <s> and </s>.
The embedding gradient is dense, as with nn.Embedding in HF (AdamW updates all 32005 rows every step).
After --warmup untimed steps, times --steps steps and prints e.g.
  torch  config=small threads=2 batch=8 seq=128  median 0.123 s/step  8300 tok/s
(tok/s = batch * seq / median), plus a '#' line with the threads torch reports and the process CPU time /
wall time over the timed steps, which shows how many cores were really busy.
Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13).

Threads on this Debian torch: get_num_threads() is 1 by default (OMP_NUM_THREADS unset, 2 cores). Matmuls go
to OpenBLAS (pthread build), which runs its own pool of one thread per core whatever set_num_threads says;
set_num_threads(2) adds a second OpenMP thread that spin-waits (libgomp's default active wait) between
parallel regions and fights the OpenBLAS threads for the 2 cores: measured 2x (small) to 3x (base) SLOWER than
threads=1. This script therefore sets OMP_WAIT_POLICY=PASSIVE before importing torch, unless the variable is
already set (export OMP_WAIT_POLICY=ACTIVE to see the default behaviour). The '#' line reports the
environment and the CPU time / wall time ratio (2.0 = both cores busy).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the import of torch (libgomp reads it at load)

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402

CONFIGS = {
    "base": dict(layers=12, hidden=768, heads=12, intermediate=3072),
    "small": dict(layers=4, hidden=256, heads=4, intermediate=1024),
    "tiny": dict(layers=2, hidden=32, heads=4, intermediate=64),
}
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
ARCH = "CamembertForTokenClassification"
DROPOUT = 0.1


def parse_args(description):
    """The options every training benchmark takes; --steps defaults to 10 (5 for base)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 10, 5 for base)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.steps is None:
        a.steps = 5 if a.config == "base" else 10
    if not 2 <= a.seq <= ct.MAX_POSITIONS - 2:
        ap.error("--seq must be 2..%d" % (ct.MAX_POSITIONS - 2))
    return a


def setup(a, arch, labels):
    """Sets the threads, seeds torch, builds random weights of `arch` for a.config and the Trainer's AdamW
    (two decay groups, lr 5e-5) with its linear schedule over warmup + timed steps.
    Returns (model dict with cfg, params, order, n_params, default_threads; optimiser; scheduler)."""
    default_threads = torch.get_num_threads()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = CONFIGS[a.config]
    cfg = ct.make_config(arch, c["layers"], c["hidden"], c["heads"], c["intermediate"], labels, "F32")
    w = ct.random_weights(arch, c["layers"], c["hidden"], c["intermediate"], len(labels), a.seed)
    order = [n for n, _, _ in ct.tensor_shapes(arch, c["layers"], c["hidden"], c["intermediate"], len(labels))]
    params = {n: w[n].requires_grad_(True) for n in order}
    opt, sched = ct.trainer_optimizer([(n, params[n]) for n in order], 5e-5, a.warmup + a.steps)
    model = dict(cfg=cfg, params=params, order=order, default_threads=default_threads,
                 n_params=sum(p.numel() for p in params.values()))
    return model, opt, sched


def random_rows(a, rng):
    """int64 [batch, seq]: <s> + random ordinary ids (7..32003) + </s>, no padding."""
    ids = rng.randint(7, ct.MASK_ID, size=(a.batch, a.seq))
    ids[:, 0], ids[:, -1] = ct.BOS_ID, ct.EOS_ID
    return torch.from_numpy(ids.astype(np.int64))


def run(a, model, step, what=""):
    """Untimed warm-up steps, then a.steps timed steps of step() (which returns the loss); prints the header, the
    '#' line (min/max, process CPU / wall, loss, thread environment) and the result line; `what` goes after
    seq=... in it (e.g. ' masked=154')."""
    c = CONFIGS[a.config]
    print("# torch %s, config=%s: layers=%d hidden=%d heads=%d intermediate=%d, %.1fM parameters; "
          "get_num_threads() %d by default, %d after set_num_threads(%d)" % (
              torch.__version__, a.config, c["layers"], c["hidden"], c["heads"], c["intermediate"],
              model["n_params"] / 1e6, model["default_threads"], torch.get_num_threads(), a.threads), flush=True)
    for _ in range(a.warmup):
        step()
    times, losses = [], []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    med = statistics.median(times)
    env = " ".join("%s=%s" % (k, os.environ.get(k, "unset"))
                   for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    print("# %d timed steps: min %.3f max %.3f s; process CPU / wall = %.2f (cores busy); loss %.3f -> %.3f; %s"
          % (a.steps, min(times), max(times), cpu / wall, losses[0], losses[-1], env))
    print("torch  config=%s threads=%d batch=%d seq=%d%s  median %.3f s/step  %.0f tok/s"
          % (a.config, a.threads, a.batch, a.seq, what, med, a.batch * a.seq / med), flush=True)


def main():
    a = parse_args(__doc__)
    model, opt, sched = setup(a, ARCH, LABELS)
    cfg, params, order = model["cfg"], model["params"], model["order"]
    rng = np.random.RandomState(a.seed)
    ids = random_rows(a, rng)
    labels = rng.randint(0, len(LABELS), size=(a.batch, a.seq))
    labels[:, 0] = labels[:, -1] = -100
    labels = torch.from_numpy(labels.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=False)
        x = ct.encoder_forward(params, cfg, ids, hidden_dropout=DROPOUT, attention_dropout=DROPOUT)
        x = F.dropout(x, DROPOUT, training=True)  # classifier_dropout None -> hidden_dropout_prob
        logits = F.linear(x, params["classifier.weight"], params["classifier.bias"])
        loss = F.cross_entropy(logits.reshape(-1, len(LABELS)), labels.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in order], 1.0)
        opt.step()
        sched.step()
        return loss.item()

    run(a, model, step)


if __name__ == "__main__":
    main()
