#!/usr/bin/env -S /usr/bin/python3
"""Write tests/fixtures/ner_cases.txt: random token scores and the entities the Hugging Face
token-classification pipeline makes of them, for tests/test_ner.c.

  ner_reference.py [--out tests/fixtures/ner_cases.txt] [--cases 250] [--seed 20240611]

The transformers package is not needed: the post-processing of its TokenClassificationPipeline
(pipelines/token_classification.py: aggregate, aggregate_words, aggregate_word, group_entities,
group_sub_entities, get_tag, and the ignore_labels=["O"] filter) is re-implemented below, step for step,
on lists of dicts as the pipeline does it. Two departures, both documented in engine/ner.c:

  * get_tag also knows BIOES/BILOU: S-X (U-X) opens and closes an entity alone, E-X (L-X) continues a
    same-type entity and closes it; B_/I_/E_/S_ are accepted like B-/I-/E-/S-. For IOB1/IOB2/bare label
    sets the rule is HF's unchanged.
  * a threshold (not in HF) drops entities whose float32 score is below it.

Means are taken in float64 in item order (HF takes them in float32 with numpy's summation order); the C code
does the same, so both sides make the same decisions bit for bit, and HF's own scores agree to ~1e-7.

Input scores are printed as short decimals (3 significant digits, or %.9g of a float32 for some cases); the
score a token has is float32(float64(decimal)), which is what C gets with strtod then a cast to float.
Expected scores are printed with %.9g (float32 round trip).

Format, one record a line:
  case <id> <scheme> <n_labels> <n_tokens> <n_runs>
  labels <label> ...                                  (n_labels names, id order)
  token <start> <end> <word_start> <score> ...        (n_tokens lines, n_labels scores each)
  run <aggregation> <threshold> <n_entities>          (n_runs times, each followed by its entities)
  entity <label> <score> <start> <end>
"""
import argparse
import random

import numpy as np

TYPES4 = ["PER", "ORG", "LOC", "MISC"]
SCHEMES = {
    "iob2": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"],
    "iob1": ["O", "I-PER", "I-ORG", "I-LOC", "B-PER", "B-ORG", "B-LOC"],
    "bioes": ["O"] + [f"{p}-{t}" for t in TYPES4 for p in "BIES"],
    "bare": ["O", "PER", "LOC"],
    "bilou": ["O"] + [f"{p}-{t}" for t in ["PER", "ORG"] for p in "BILU"],
    "underscore": ["O", "B_PER", "I_PER", "B_LOC", "I_LOC"],
}
AGGREGATIONS = ["none", "simple", "first", "average", "max"]


# ---- the pipeline's post-processing -------------------------------------------------------------------

def get_tag(name):
    """HF's get_tag (B-/I- prefix, else ("I", name)), extended to E/S/L/U and '_'."""
    if len(name) >= 2 and name[0] in "BIESLU" and name[1] in "-_":
        return {"L": "E", "U": "S"}.get(name[0], name[0]), name[2:]
    return "I", name


def argmax(scores):
    return int(np.argmax(scores))  # first of equal maxima, as the pipeline


def aggregate_word(tokens, strategy, id2label):
    if strategy == "first":
        scores = tokens[0]["scores"]
        idx = argmax(scores)
        score = scores[idx]
    elif strategy == "max":
        best = max(tokens, key=lambda t: t["scores"].max())  # Python's max keeps the first of equals
        idx = argmax(best["scores"])
        score = best["scores"][idx]
    elif strategy == "average":
        n_labels = len(tokens[0]["scores"])
        sums = [0.0] * n_labels
        for t in tokens:
            for j in range(n_labels):
                sums[j] += float(t["scores"][j])
        mean = np.array([s / len(tokens) for s in sums])
        idx = argmax(mean)
        score = mean[idx]
    else:
        raise ValueError(strategy)
    return {"entity": id2label[idx], "score": float(score),
            "start": tokens[0]["start"], "end": tokens[-1]["end"]}


def aggregate_words(tokens, strategy, id2label):
    words, group = [], None
    for t in tokens:
        if group is None:
            group = [t]
        elif t["is_subword"]:
            group.append(t)
        else:
            words.append(aggregate_word(group, strategy, id2label))
            group = [t]
    if group is not None:
        words.append(aggregate_word(group, strategy, id2label))
    return words


def group_sub_entities(items):
    total = 0.0
    for it in items:
        total += it["score"]
    return {"entity_group": get_tag(items[0]["entity"])[1], "score": total / len(items),
            "start": items[0]["start"], "end": items[-1]["end"]}


def group_entities(items):
    groups, current = [], []
    for it in items:
        if not current:
            current.append(it)
            continue
        bi, tag = get_tag(it["entity"])
        last_bi, last_tag = get_tag(current[-1]["entity"])
        # HF: tag == last_tag and bi != "B". Extension: S never joins, nothing joins after E or S.
        if tag == last_tag and bi in ("I", "E") and last_bi not in ("E", "S"):
            current.append(it)
        else:
            groups.append(group_sub_entities(current))
            current = [it]
    if current:
        groups.append(group_sub_entities(current))
    return groups


def postprocess(id2label, tokens, strategy, threshold):
    """tokens: dicts with scores (float64 array of float32 values), start, end, is_subword."""
    if strategy in ("none", "simple"):
        items = []
        for t in tokens:
            idx = argmax(t["scores"])
            items.append({"entity": id2label[idx], "score": float(t["scores"][idx]),
                          "start": t["start"], "end": t["end"]})
    else:
        items = aggregate_words(tokens, strategy, id2label)
    if strategy == "none":
        out = [(e["entity"], e["score"], e["start"], e["end"]) for e in items if e["entity"] != "O"]
    else:
        out = [(g["entity_group"], g["score"], g["start"], g["end"]) for g in group_entities(items)
               if g["entity_group"] != "O"]
    t32 = np.float32(threshold)
    return [(label, np.float32(score), s, e) for label, score, s, e in out if np.float32(score) >= t32]


# ---- random cases -------------------------------------------------------------------------------------

def make_scores(rng, labels, n_tokens, full_precision):
    """Peaked softmax rows: one dominant label a token, sometimes a close second, so argmax, first,
    average and max disagree often enough to matter. Returns the printed strings and their float32 values."""
    n = len(labels)
    rows_txt, rows = [], []
    for _ in range(n_tokens):
        logits = np.array([rng.gauss(0.0, 1.0) for _ in range(n)])
        dominant = 0 if rng.random() < 0.35 else rng.randrange(n)
        logits[dominant] += rng.uniform(1.5, 7.0)
        if rng.random() < 0.3:
            second = rng.randrange(n)
            logits[second] = logits[dominant] + rng.uniform(-0.6, 0.4)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        txt = []
        for x in p:
            if full_precision:
                txt.append("%.9g" % np.float32(x))
            elif x < 1e-3:
                txt.append("0")
            else:
                txt.append("%.3g" % x)
        rows_txt.append(txt)
        rows.append(np.array([float(np.float32(float(s))) for s in txt]))
    return rows_txt, rows


def make_case(rng, case_id):
    scheme = rng.choice(sorted(SCHEMES))
    labels = SCHEMES[scheme]
    n_tokens = rng.randint(0, 40)
    full_precision = rng.random() < 0.1
    rows_txt, rows = make_scores(rng, labels, n_tokens, full_precision)
    tokens, pos = [], 0
    for i in range(n_tokens):
        word_start = 1 if rng.random() < 0.6 else 0
        if i > 0 and word_start:
            pos += rng.randint(1, 2)  # a space or two between words
        start = pos
        pos += rng.randint(1, 6)
        tokens.append({"scores": rows[i], "start": start, "end": pos, "is_subword": not word_start,
                       "word_start": word_start})
    # three strategies without threshold and one with (all five appear about equally over the cases)
    runs = [(a, 0.0) for a in rng.sample(AGGREGATIONS, 3)]
    runs.append((rng.choice(AGGREGATIONS), rng.choice([0.3, 0.5, 0.6, 0.75, 0.9, rng.random()])))
    lines = [f"case {case_id} {scheme} {len(labels)} {n_tokens} {len(runs)}", "labels " + " ".join(labels)]
    for t, txt in zip(tokens, rows_txt):
        lines.append(f"token {t['start']} {t['end']} {t['word_start']} " + " ".join(txt))
    n_entities = 0
    for agg, threshold in runs:
        ents = postprocess(labels, tokens, agg, threshold)
        n_entities += len(ents)
        lines.append(f"run {agg} {'%.9g' % np.float32(threshold)} {len(ents)}")
        for label, score, s, e in ents:
            lines.append(f"entity {label} {'%.9g' % score} {s} {e}")
    return lines, n_entities


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/ner_cases.txt")
    ap.add_argument("--cases", type=int, default=250)
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = [f"# Written by tools/reference/ner_reference.py --cases {args.cases} --seed {args.seed}; "
           "format in its docstring. Do not edit."]
    total = 0
    for i in range(args.cases):
        lines, n = make_case(rng, i)
        out.extend(lines)
        total += n
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{args.out}: {args.cases} cases, {total} expected entities")


if __name__ == "__main__":
    main()
