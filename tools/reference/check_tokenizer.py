#!/usr/bin/python3
"""Compares surligne's tokenizer with SentencePiece on every sentence of the shared data sets.

    /usr/bin/python3 tools/reference/check_tokenizer.py build/surligne [--data ../shared/data] [--model M]
                                                       [--cli-model MODEL.gguf]

Runs `surligne tokenize -m MODEL --offsets` once on all sentences (a sentence's text is its tokens joined by
single spaces) plus the hard lines below, and compares with sentencepiece (Debian python3-sentencepiece,
0.1.97) mapped to CamemBERT's fairseq ids: piece i -> i + 4, unknown -> 3, <s> = 5 first, </s> = 6 last.
Spans are compared with SentencePiece's own piece begin/end, converted to UTF-8 byte offsets, after dropping
the leading characters that normalise to whitespace (or to nothing), which is surligne's documented span.
Prints the number of sentences checked and of mismatches per data set; exits 1 on any mismatch.

The helpers (data set readers, HARD_LINES, reference()) are shared with tokenizer_fixtures.py.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
MODEL_REL = Path("camembert-base-tokenizer") / "sentencepiece.bpe.model"

# (name, path relative to the data folder, column of the token, column separator)
DATASETS = [
    ("wikiann-fr/train", "wikiann-fr/train.conll", 0, "\t"),
    ("wikiann-fr/dev", "wikiann-fr/dev.conll", 0, "\t"),
    ("europeana-fr-icdar/train", "europeana-fr-icdar/train.txt", 0, "\t"),
    ("europeana-fr-icdar/dev", "europeana-fr-icdar/dev.txt", 0, "\t"),
    ("wikineural-fr/val", "wikineural-fr/val.conllu", 1, "\t"),
]
ROMANS = "7-romans-fr"  # every *.conll in it, "token<SPACE>tag"

# Lines that stress the normaliser and the spans. Those holding "\n" cannot travel through the line-based
# command and are only in the fixture file.
HARD_LINES = [
    "",
    "   ",
    "\t",
    "a",
    "   début et fin   ",
    "Élise  et   Zoé\tsont\t\tà l'école",
    "\t \t tabulations \t mêlées \t",
    "e\u0301te\u0301 a\u0300 Montre\u0301al, c\u0327a va",  # NFD
    "été à Montréal, ça va",  # NFC
    "A\u030a\u0301ngstro\u0308m q\u0307\u0323",
    "J'adore Paris 😀🇫🇷 ! 👩\u200d👩\u200d👧 famille",
    "Prix\u00a0: 12\u00a0€, soit 1\u202f234,56\u2009€",
    "« Bonjour\u202f! » dit-il\u00a0; « Au revoir\u00a0! »",
    "« Il est parti », dit-elle.",
    "l’homme d’État aujourd’hui, l'homme d'État",
    "ﬁn de l’ﬂeuve, ﬀ, ﬃ, œuvre Œdipe ǅ",
    "ＡＢＣ ｐａｒｉｓ １２３ ！？",
    "東京 est la capitale du Japon 日本. 한국어 서울",
    "Москва Αθήνα القاهرة ירושלים नई दिल्ली",
    "a\x01b\x07c\x1fd\x7fe\x1b[0m",
    "nul\x00octet",
    "x² + y³ = ½ ≤ ∞ ℕ ™ № Ⅻ ①② ㍿ ㎞",
    "\u00a8 ¨x \u00b4 `accent",
    "a\u2581b \u2581\u2581 ▁c",
    "zero\u200bwidth \ufeffBOM soft\u00adhyphen",
    "tirets ‐ ‑ ‒ – — ― − -",
    "https://fr.wikipedia.org/wiki/Émile_Zola contact@exemple.fr #NER @surligne",
    "<mask> <s> </s> <unk> <pad> <s>NOTUSED",
    "anticonstitutionnellement " * 5,
    "M. Dupont-Aignan (LR) a dit : « Non ! »… Puis : « Oui ?! »",
    "1er, 2e, XIXe siècle, 3,14 %, 10 000 km²",
    "\u3000全角スペース\u3000と\u3000ｶﾀｶﾅ",
    "𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊 ℌ𝔦𝔩𝔟𝔢𝔯𝔱",
    "ligne 1\nligne 2",
    "retour\r\nchariot\r",
    "\n\n",
]


def read_sentences(path, column, sep):
    """Sentences of a CoNLL-like file as lists of tokens (newline='\\n': no other line breaks split)."""
    sents, cur = [], []
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    sents.append(cur)
                    cur = []
                continue
            if sep == " ":
                cur.append(line.rsplit(" ", 1)[0])
            else:
                cur.append(line.split(sep)[column])
    if cur:
        sents.append(cur)
    return sents


def all_datasets(data):
    """[(name, [text, ...])] for every data set in the shared folder."""
    out = []
    for name, rel, column, sep in DATASETS:
        out.append((name, [" ".join(s) for s in read_sentences(data / rel, column, sep)]))
    for p in sorted((data / ROMANS).glob("*.conll")):
        out.append((f"{ROMANS}/{p.stem}", [" ".join(s) for s in read_sentences(p, 0, " ")]))
    return out


class Reference:
    """SentencePiece, mapped to CamemBERT's ids and to surligne's spans."""

    def __init__(self, model_path):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))
        self.unk = self.sp.unk_id()
        self._blank = {}
        self._two = self._pieces("a b")
        self._joined = self._pieces("ab")

    def _pieces(self, text):
        return [p.piece for p in self.sp.encode(text, out_type="immutable_proto").pieces]

    def blank(self, ch):
        """True if ch normalises to spaces only or to nothing (what becomes U+2581 or vanishes)."""
        b = self._blank.get(ch)
        if b is None:
            p = self._pieces("a" + ch + "b")
            b = self._blank[ch] = p == self._two or p == self._joined
        return b

    def encode(self, text):
        """(ids without <s> </s>, [(start, end)] UTF-8 byte spans)."""
        proto = self.sp.encode(text, out_type="immutable_proto")
        if text.isascii():
            byte_at = None
        else:
            byte_at = [0]
            for ch in text:
                byte_at.append(byte_at[-1] + len(ch.encode("utf-8")))
        ids, spans = [], []
        for p in proto.pieces:
            ids.append(3 if p.id == self.unk else p.id + 4)
            b, e = p.begin, p.end  # code point offsets (the Python binding converts them)
            while b < e and self.blank(text[b]):
                b += 1
            if byte_at is not None:
                b, e = byte_at[b], byte_at[e]
            spans.append((b, e))
        return ids, spans


def run_cli(cli, model, texts):
    """surligne's (ids, spans) per text, and the seconds it took."""
    data = "".join(t + "\n" for t in texts).encode("utf-8")
    t0 = time.perf_counter()
    res = subprocess.run([cli, "tokenize", "-m", str(model), "--offsets"], input=data, capture_output=True)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{cli} tokenize failed ({res.returncode}): {res.stderr.decode(errors='replace')}")
    lines = res.stdout.decode("utf-8").split("\n")
    if len(lines) != 2 * len(texts) + 1:
        sys.exit(f"expected {2 * len(texts)} output lines, got {len(lines) - 1}")
    out = []
    for i in range(len(texts)):
        ids = [int(x) for x in lines[2 * i].split()]
        spans = [tuple(int(v) for v in x.split(":")) for x in lines[2 * i + 1].split()]
        out.append((ids, spans))
    return out, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cli", help="the surligne program of a build")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--model", type=Path, help="SentencePiece model (default: DATA/" + str(MODEL_REL) + ")")
    ap.add_argument("--cli-model", type=Path, help="the model surligne loads, e.g. a converted .gguf (default: --model)")
    ap.add_argument("--show", type=int, default=5, help="mismatches to print")
    args = ap.parse_args()
    model = args.model or args.data / MODEL_REL
    ref = Reference(model)

    groups = all_datasets(args.data)
    groups.append(("hard lines", [t for t in HARD_LINES if "\n" not in t]))
    texts = [t for _, g in groups for t in g]

    t0 = time.perf_counter()
    expected = [ref.encode(t) for t in texts]
    t_ref = time.perf_counter() - t0
    got, t_cli = run_cli(args.cli, args.cli_model or model, texts)

    total_bad, shown, k = 0, 0, 0
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"{'data set':34} {'sentences':>9} {'id mismatches':>14} {'span mismatches':>16}")
    for name, g in groups:
        bad_ids = bad_spans = 0
        for t in g:
            (eids, espans), (gids, gspans) = expected[k], got[k]
            k += 1
            ok_ids = gids == [5] + eids + [6]
            ok_spans = gspans == espans
            bad_ids += not ok_ids
            bad_spans += not ok_spans
            if (not ok_ids or not ok_spans) and shown < args.show:
                shown += 1
                print(f"  MISMATCH in {name}: {t!r}\n    expected {[5] + eids + [6]} {espans}\n    got      {gids} {gspans}")
        total_bad += bad_ids + bad_spans
        print(f"{name:34} {len(g):9d} {bad_ids:14d} {bad_spans:16d}")
    print(f"{'total':34} {len(texts):9d}   ({n_bytes / 1e6:.1f} MB of text)")
    print(f"time: surligne tokenize {t_cli:.2f} s (process, parsing, output included), "
          f"sentencepiece + mapping {t_ref:.2f} s")
    print("OK: no mismatch" if total_bad == 0 else f"FAILED: {total_bad} mismatches")
    return 0 if total_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
