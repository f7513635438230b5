#!/usr/bin/env -S /usr/bin/python3
"""Check the C engine on a camembert-base-shaped random checkpoint (12 layers, hidden 768, 12 heads,
intermediate 3072, 7 labels, vocab 32005) against the PyTorch reference.

  check_base_shapes.py build/surligne [--tol 1e-4] [--dtype F32] [--seed 7] [--keep DIR] [--torch-only]

Builds the checkpoint in a temporary folder, then runs
  surligne convert DIR -o DIR/model.gguf
  surligne logits -m DIR/model.gguf        (stdin: one line of space-separated ids per sequence;
                                            stdout: one JSON array of arrays [tokens][labels] per line)
and compares with torch. Prints the max abs diff; exits 1 if it is > --tol (2 on a usage/run error).
--torch-only skips the C program (tests the torch half: builds, reloads, runs the reference).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
import make_checkpoint  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
FRENCH = "Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy."


def sequences(seed, tokenizer):
    rng = np.random.RandomState(seed)
    seqs = [[ct.BOS_ID], [ct.BOS_ID, ct.EOS_ID]]
    for n in (8, 37, 128, 512):
        seqs.append([ct.BOS_ID] + [int(x) for x in rng.randint(7, ct.MASK_ID, size=n - 2)] + [ct.EOS_ID])
    try:
        seqs.append(ct.encode_french(FRENCH, tokenizer))
    except Exception as e:  # sentencepiece missing: random ids are enough
        print("note: French sentence skipped (%s)" % e)
    return seqs


def run(cmd, **kw):
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("surligne", nargs="?", help="path to the surligne program (e.g. build/surligne)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--dtype", choices=("F32", "F16", "BF16"), default="F32")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--std", type=float, default=0.04,
                    help="weight std (0.04 rather than HF's 0.02 so attention is not near-uniform)")
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER)
    ap.add_argument("--keep", help="build the checkpoint in this folder and keep it")
    ap.add_argument("--torch-only", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    a = ap.parse_args()
    if not a.torch_only and not a.surligne:
        ap.error("give the surligne program, or --torch-only")
    if a.threads:
        torch.set_num_threads(a.threads)

    d = a.keep or tempfile.mkdtemp(prefix="surligne-base-")
    try:
        t0 = time.time()
        cfg, w = make_checkpoint.build(d, 12, 768, 12, 3072, LABELS, a.dtype, a.seed,
                                       "CamembertForTokenClassification", a.tokenizer, std=a.std)
        print("checkpoint %s (%s, %.0f MB) in %.1f s" % (
            d, a.dtype, os.path.getsize(os.path.join(d, "model.safetensors")) / 1e6, time.time() - t0))
        seqs = sequences(a.seed, a.tokenizer)
        refs = []
        t0 = time.time()
        with torch.inference_mode():
            for s in seqs:
                refs.append(ct.forward(w, cfg, torch.tensor([s], dtype=torch.int64))[0].numpy())
        print("torch reference: %d sequences (lengths %s) in %.1f s, |logits| max %.3g" % (
            len(seqs), ",".join(str(len(s)) for s in seqs), time.time() - t0, max(abs(r).max() for r in refs)))
        if a.torch_only:
            # self-consistency of the torch half: one padded batch gives the same logits at real positions
            T = max(len(s) for s in seqs)
            ids = torch.tensor([s + [ct.PAD_ID] * (T - len(s)) for s in seqs], dtype=torch.int64)
            with torch.inference_mode():
                batch = ct.forward(w, cfg, ids).numpy()
            diff = max(float(abs(batch[i, :len(s)] - refs[i]).max()) for i, s in enumerate(seqs))
            print("torch-only: padded batch vs single sequences max abs diff %.3g" % diff)
            return 0 if diff <= a.tol else 1

        exe = a.surligne
        gguf = os.path.join(d, "model.gguf")
        r = run([exe, "convert", d, "-o", gguf])
        if r.returncode != 0:
            print("FAIL: convert exited with %d" % r.returncode)
            return 2
        stdin = "".join(" ".join(str(t) for t in s) + "\n" for s in seqs)
        t0 = time.time()
        r = run([exe, "logits", "-m", gguf], input=stdin, stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print("FAIL: logits exited with %d" % r.returncode)
            return 2
        print("C logits in %.1f s" % (time.time() - t0))
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        if len(lines) != len(seqs):
            print("FAIL: %d output lines for %d sequences" % (len(lines), len(seqs)))
            return 2
        worst = 0.0
        for s, ref, line in zip(seqs, refs, lines):
            got = np.array(json.loads(line), dtype=np.float64)
            if got.shape != ref.shape:
                print("FAIL: length %d: C shape %s, torch shape %s" % (len(s), got.shape, ref.shape))
                return 2
            diff = float(abs(got - ref).max())
            worst = max(worst, diff)
            print("  length %4d  max abs diff %.3g" % (len(s), diff))
        ok = worst <= a.tol
        print("max abs diff %.3g (tolerance %g): %s" % (worst, a.tol, "OK" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
