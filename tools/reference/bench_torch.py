#!/usr/bin/env -S /usr/bin/python3
"""Forward-pass latency of the PyTorch reference on a checkpoint folder (config.json + model.safetensors).

  bench_torch.py CHECKPOINT_DIR [--seq 32,128,512] [--threads 2] [--batch 1] [--repeat 10] [--warmup 2]

Prints one line per sequence length, e.g.
  torch  threads=2 seq=128  median 12.3 ms  10400 tok/s
(latency of one forward of batch x seq tokens; tok/s = batch * seq / median).
Inputs are <s> + random ids + </s>; no padding. Compute is float32 (F16/BF16 weights are upcast at load).
"""
import os

# Debian's torch runs OpenMP threads that spin-wait between parallel regions and fight OpenBLAS's own
# threads for this machine's cores (2-3x slower at 2 threads, see bench_train_torch.py): wait passively
# unless told otherwise. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--seq", default="32,128,512")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    cfg, w = ct.load_checkpoint(a.checkpoint)
    vocab = cfg.get("vocab_size", ct.VOCAB_SIZE)
    max_len = cfg.get("max_position_embeddings", ct.MAX_POSITIONS) - 2
    rng = np.random.RandomState(a.seed)
    print("# %s: %s, layers=%d hidden=%d heads=%d, batch=%d repeat=%d, torch %s" % (
        a.checkpoint, ct.arch_of(cfg), cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"],
        a.batch, a.repeat, torch.__version__))
    for n in [int(s) for s in a.seq.split(",") if s]:
        if n < 2 or n > max_len:
            print("# seq=%d skipped (must be 2..%d)" % (n, max_len))
            continue
        ids = rng.randint(7, min(vocab, ct.MASK_ID), size=(a.batch, n))
        ids[:, 0] = ct.BOS_ID
        ids[:, -1] = ct.EOS_ID
        ids = torch.from_numpy(ids.astype(np.int64))
        times = []
        with torch.inference_mode():
            for _ in range(a.warmup):
                ct.forward(w, cfg, ids)
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                ct.forward(w, cfg, ids)
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print("torch  threads=%d seq=%d  median %.1f ms  %.0f tok/s" % (a.threads, n, med * 1e3, a.batch * n / med),
              flush=True)


if __name__ == "__main__":
    main()
