#!/usr/bin/env -S /usr/bin/python3
"""Write tests/fixtures/seqeval_cases.txt: seeded random gold and predicted tag sequences and the entity
scores seqeval gives them in its default mode, for tests/test_metrics.c.

  seqeval_reference.py [--out tests/fixtures/seqeval_cases.txt] [--cases 300] [--seed 20240612]

The seqeval package is not needed. Its default mode (f1_score / classification_report with mode=None) is
re-implemented below from its documented behaviour, on lists of string tags as seqeval takes them:

  * sentences are joined into one sequence with an 'O' after each, then chunks (type, first, last) are
    extracted in one left-to-right pass. A tag is split into a letter (its first character) and a type
    (what follows the first '-', '_' for O). Between the previous tag and the current one, a chunk ends
    when the previous letter is E or S, or is B or I and the current letter is B, S or O, or the previous
    letter is not O and the type changes; a chunk starts when the current letter is B or S, or is I or E
    after O, E or S, or is not O and the type changes.
  * per type: correct = |gold chunks & predicted chunks| (as sets), precision = correct / predicted,
    recall = correct / gold, f1 = 2pr / (p + r), each 0 on a zero denominator; support = gold chunks.
    Reported types: those with a gold or a predicted chunk, sorted by name.
  * micro: the same over the sums; macro: mean of the per-type values over the reported types; weighted:
    mean weighted by support (0 when no gold chunk at all).

Gold sequences are valid in their scheme (IOB2, BIOES, or I-only IOB1 as camembert-ner's labels);
predictions are gold sequences damaged at random: tags replaced by any label (giving I-X after O, type
changes inside an entity, E without B, ...), entity boundaries moved, whole entities dropped or invented,
and some predictions drawn uniformly at random.

Format, one record a line ('#' lines are comments):
  case <id> <n_sentences>
  labels <label> ...                                  (the label set, id order)
  gold <tag> ...                                      \\ n_sentences pairs; a sentence may be empty
  pred <tag> ...                                      /
  type <name> <precision> <recall> <f1> <support> <predicted> <correct>   (reported types, sorted)
  avg <micro|macro|weighted> <precision> <recall> <f1> <support>
  end
Numbers are printed with %.9g.
"""
import argparse
import random
from collections import defaultdict

SCHEMES = {
    "iob2": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
    "iob2-small": ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"],
    "bioes": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-ORG", "I-ORG",
              "E-ORG", "S-ORG"],
    "iob1": ["I-LOC", "I-MISC", "I-ORG", "I-PER", "O"],  # camembert-ner's id2label: O last, no B-
}


def letter_and_type(tag):
    letter = tag[0]
    rest = tag[1:].split("-", 1)
    return letter, (rest[-1] or "_")


def ends_here(prev_letter, prev_type, letter, type_):
    if prev_letter in ("E", "S"):
        return True
    if prev_letter in ("B", "I") and letter in ("B", "S", "O"):
        return True
    return prev_letter != "O" and prev_type != type_


def starts_here(prev_letter, prev_type, letter, type_):
    if letter in ("B", "S"):
        return True
    if letter in ("I", "E") and prev_letter in ("O", "E", "S"):
        return True
    return letter != "O" and prev_type != type_


def chunks(sentences):
    """(type, first, last) of the sentences joined with an O after each, as seqeval does."""
    seq = [tag for sentence in sentences for tag in sentence + ["O"]]
    found = []
    prev_letter, prev_type, begin = "O", "", 0
    for i, tag in enumerate(seq + ["O"]):
        letter, type_ = letter_and_type(tag)
        if ends_here(prev_letter, prev_type, letter, type_):
            found.append((prev_type, begin, i - 1))
        if starts_here(prev_letter, prev_type, letter, type_):
            begin = i
        prev_letter, prev_type = letter, type_
    return found


def divide(a, b):
    return a / b if b > 0 else 0.0


def prf(correct, predicted, gold):
    p, r = divide(correct, predicted), divide(correct, gold)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def scores(gold_sentences, pred_sentences):
    by_type_gold, by_type_pred = defaultdict(set), defaultdict(set)
    for t, a, b in chunks(gold_sentences):
        by_type_gold[t].add((a, b))
    for t, a, b in chunks(pred_sentences):
        by_type_pred[t].add((a, b))
    names = sorted(set(by_type_gold) | set(by_type_pred))
    rows = []
    for name in names:
        g, p = by_type_gold.get(name, set()), by_type_pred.get(name, set())
        correct = len(g & p)
        rows.append((name,) + prf(correct, len(p), len(g)) + (len(g), len(p), correct))
    total_correct = sum(r[6] for r in rows)
    total_pred = sum(r[5] for r in rows)
    total_gold = sum(r[4] for r in rows)
    micro = prf(total_correct, total_pred, total_gold) + (total_gold,)
    if rows:
        macro = tuple(sum(r[k] for r in rows) / len(rows) for k in (1, 2, 3)) + (total_gold,)
    else:
        macro = (0.0, 0.0, 0.0, 0)
    if total_gold > 0:
        weighted = tuple(sum(r[k] * r[4] for r in rows) / total_gold for k in (1, 2, 3)) + (total_gold,)
    else:
        weighted = (0.0, 0.0, 0.0, 0)
    return rows, {"micro": micro, "macro": macro, "weighted": weighted}


def types_of(labels):
    return sorted({letter_and_type(lab)[1] for lab in labels if lab != "O"})


def random_gold(rng, scheme, labels, n):
    """A valid sequence of n tags in the scheme."""
    types = types_of(labels)
    tags, i = [], 0
    while i < n:
        if rng.random() < 0.6:
            tags.append("O")
            i += 1
            continue
        t = rng.choice(types)
        length = min(n - i, rng.choice([1, 1, 1, 2, 2, 3, 4]))
        if scheme == "bioes":
            span = ["S-" + t] if length == 1 else ["B-" + t] + ["I-" + t] * (length - 2) + ["E-" + t]
        elif scheme == "iob1":
            span = ["I-" + t] * length
            if tags and tags[-1] == "I-" + t:  # two adjacent same-type entities cannot be told apart in I-only
                span = ["O"] + span[1:]
        else:
            span = ["B-" + t] + ["I-" + t] * (length - 1)
        tags.extend(span)
        i += length
    return tags


def damage(rng, labels, gold, rate):
    pred = list(gold)
    for i in range(len(pred)):
        u = rng.random()
        if u < rate:
            pred[i] = rng.choice(labels)  # any label: invalid transitions, type changes
        elif u < 1.5 * rate and pred[i] != "O":
            pred[i] = "O"  # drop a word of an entity
        elif u < 1.8 * rate and i + 1 < len(pred):
            pred[i], pred[i + 1] = pred[i + 1], pred[i]  # move a boundary
    return pred


def make_case(rng, case_id):
    scheme = rng.choice(["iob2", "iob2", "iob2", "iob2-small", "bioes", "iob1"])
    labels = SCHEMES[scheme]
    n_sentences = rng.choice([1, 1, 2, 3, 5, 8, 13])
    kind = rng.random()
    gold, pred = [], []
    for _ in range(n_sentences):
        n = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 35])
        g = random_gold(rng, scheme, labels, n)
        if kind < 0.08:
            p = list(g)  # perfect
        elif kind < 0.16:
            p = [rng.choice(labels) for _ in range(n)]  # noise
        elif kind < 0.22:
            g = ["O"] * n  # no gold entity: precision 0, support 0
            p = [rng.choice(labels) for _ in range(n)]
        elif kind < 0.26:
            p = ["O"] * n  # nothing predicted
        else:
            p = damage(rng, labels, g, rng.choice([0.05, 0.1, 0.2, 0.4]))
        gold.append(g)
        pred.append(p)
    return labels, gold, pred


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/seqeval_cases.txt")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20240612)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lines = [
        "# written by tools/reference/seqeval_reference.py --cases %d --seed %d" % (args.cases, args.seed),
        "# seqeval default-mode entity scores; format in the script's docstring",
    ]
    for case_id in range(args.cases):
        labels, gold, pred = make_case(rng, case_id)
        rows, averages = scores(gold, pred)
        lines.append("case %d %d" % (case_id, len(gold)))
        lines.append("labels " + " ".join(labels))
        for g, p in zip(gold, pred):
            lines.append(" ".join(["gold"] + g))
            lines.append(" ".join(["pred"] + p))
        for name, p, r, f, support, predicted, correct in rows:
            lines.append("type %s %.9g %.9g %.9g %d %d %d" % (name, p, r, f, support, predicted, correct))
        for avg in ("micro", "macro", "weighted"):
            p, r, f, support = averages[avg]
            lines.append("avg %s %.9g %.9g %.9g %d" % (avg, p, r, f, support))
        lines.append("end")
    with open(args.out, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
