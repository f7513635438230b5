#!/usr/bin/env python3
"""Mention replacement (Dai & Adel 2020): every sentence of a CoNLL file that holds entities, written once more
with each entity mention replaced by a mention of the same type drawn from the same file. The default model's
training data (tools/train-default.sh) adds these copies of WikiAnn-fr train, labelled by their construction
and taught by the ensemble of three runs (`surligne train --teacher`).

  python3 tools/mention_replace.py IN.conll OUT.conll [--seed 11]

IN: one `word<TAB or space>tag` a line (IOB2), a blank line after each sentence. Plain Python, seeded: the same
input and seed give the same file. OUT is written to a temporary file, then renamed."""
import argparse
import os
import random
import sys


def read_conll(path):
    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if cur:
                    sents.append(cur)
                cur = []
                continue
            fields = line.split("\t") if "\t" in line else line.split(" ")
            if len(fields) < 2:
                sys.exit("%s:%d: expected a word and a tag, got %r" % (path, n, line))
            cur.append((fields[0], fields[-1]))
    if cur:
        sents.append(cur)
    return sents


def mentions_of(sent):
    """(start, end, type) of each entity: a B-X and the I-X after it."""
    out, i = [], 0
    while i < len(sent):
        if sent[i][1].startswith("B-"):
            typ, j = sent[i][1][2:], i + 1
            while j < len(sent) and sent[j][1] == "I-" + typ:
                j += 1
            out.append((i, j, typ))
            i = j
        else:
            i += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sents = read_conll(a.input)
    pool = {}
    for s in sents:
        for i, j, typ in mentions_of(s):
            pool.setdefault(typ, []).append([w for w, _ in s[i:j]])
    tmp = a.output + ".tmp"
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for s in sents:
            spans = mentions_of(s)
            if not spans:
                continue
            out, k = [], 0
            for i, j, typ in spans:
                out += s[k:i]
                m = rng.choice(pool[typ])
                out += [(m[0], "B-" + typ)] + [(w, "I-" + typ) for w in m[1:]]
                k = j
            out += s[k:]
            f.write("".join("%s\t%s\n" % p for p in out) + "\n")
            n += 1
    os.replace(tmp, a.output)
    print("%s: %d sentences with their mentions replaced (%s)" % (a.output, n,
          ", ".join("%s %d" % (t, len(v)) for t, v in sorted(pool.items()))))


if __name__ == "__main__":
    main()
