#!/usr/bin/python3
"""Writes tests/fixtures/tokenizer_sample.tsv: SentencePiece's ids and spans for a fixed sample of sentences.

    /usr/bin/python3 tools/reference/tokenizer_fixtures.py [--data ../shared/data] [--out FILE]

The sample is seeded: SAMPLE_PER_SET sentences of at most MAX_BYTES bytes from each data set (every file of
7-romans-fr counts as one), LONG_PER_SET longer ones from each, then every hard line of check_tokenizer.py.
Needs Debian python3-sentencepiece (run with /usr/bin/python3).

Format: a header line starting with '#', then one row per text, three tab-separated columns:
  text   UTF-8, with backslash escapes: \\\\ for a backslash, \\t tab, \\n line feed, \\r carriage return,
         \\0 the 0 byte (no other backslash sequence occurs)
  ids    CamemBERT ids without <s> and </s>, space separated (empty for no token)
  spans  start:end byte spans into the unescaped text, space separated, one per id
"""
import argparse
import random
import sys
from pathlib import Path

from check_tokenizer import DEFAULT_DATA, HARD_LINES, MODEL_REL, REPO, Reference, all_datasets

SEED = 20240611
SAMPLE_PER_SET = 170
LONG_PER_SET = 1
MAX_BYTES = 400


def escape(text):
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\0", "\\0"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "tokenizer_sample.tsv")
    args = ap.parse_args()
    ref = Reference(args.data / MODEL_REL)
    rng = random.Random(SEED)
    rows = []
    for name, texts in all_datasets(args.data):
        short = [t for t in texts if len(t.encode("utf-8")) <= MAX_BYTES]
        long = [t for t in texts if len(t.encode("utf-8")) > MAX_BYTES]
        rows += rng.sample(short, min(SAMPLE_PER_SET, len(short)))
        rows += rng.sample(long, min(LONG_PER_SET, len(long)))
    rows += HARD_LINES
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# text\tids\tspans   (written by tools/reference/tokenizer_fixtures.py; sentencepiece "
                "0.1.97, camembert-base sentencepiece.bpe.model; \\\\ \\t \\n \\r \\0 escaped in text)\n")
        for t in rows:
            ids, spans = ref.encode(t)
            f.write(f"{escape(t)}\t{' '.join(map(str, ids))}\t{' '.join(f'{b}:{e}' for b, e in spans)}\n")
    print(f"{args.out}: {len(rows)} texts", file=sys.stderr)


if __name__ == "__main__":
    main()
