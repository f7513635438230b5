#!/usr/bin/env -S /usr/bin/python3
"""Checks a Hugging Face folder written by `surligne export` with the independent PyTorch CamemBERT.

  check_export.py HF_DIR [--ids IDS.txt [--logits LOGITS.txt] [--reference HF_DIR]]
                         [--tokenizer SPM.model] [--text FILE ...] [--max-lines N] [--tol 1e-4]

1. The folder: config.json, model.safetensors, sentencepiece.bpe.model, tokenizer_config.json and
   special_tokens_map.json are there; config.json has every key of camembert_torch.make_config (the keys
   transformers writes for CamemBERT) with the same value types, the constants CamemBERT has
   (model_type, hidden_act, ...) and sizes that agree with the tensors; model.safetensors holds F32 tensors,
   exactly the names and shapes camembert_torch.tensor_shapes gives for the architecture (no pooler, no tied
   lm_head.decoder.*).
2. Outputs: camembert_torch.forward (classifier logits, masked-LM logits or hidden states, as the architecture
   has) on each line of token ids of IDS.txt (as `surligne tokenize` writes them), compared with
   LOGITS.txt (one JSON array tokens x outputs per line, as `surligne logits` writes them) and/or with the
   same forward on the --reference folder (the checkpoint that was converted): max |difference| <= --tol.
3. Tokenizer: python3-sentencepiece loads HF_DIR/sentencepiece.bpe.model and finds the piece table (pieces,
   scores, types, special ids) of --tokenizer (default: camembert-base's, ../shared/data/...), and encodes
   French text to the same pieces: the hard lines of check_tokenizer.py and the first --max-lines lines of
   each --text file.

Prints what was checked and one verdict; exits 1 on any failure. Run with Debian's /usr/bin/python3
(python3-torch, python3-numpy, python3-sentencepiece).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
from check_tokenizer import HARD_LINES  # noqa: E402

FILES = ("config.json", "model.safetensors", "sentencepiece.bpe.model", "tokenizer_config.json",
         "special_tokens_map.json")
ARCH_NAMES = ct.ARCHS  # CamembertForTokenClassification, CamembertModel, CamembertForMaskedLM
CONSTANTS = {"model_type": "camembert", "hidden_act": "gelu", "position_embedding_type": "absolute",
             "torch_dtype": "float32"}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def check_folder(d):
    """Files, config.json and model.safetensors; returns (cfg, weights) or (None, None)."""
    missing = [f for f in FILES if not os.path.isfile(os.path.join(d, f))]
    if missing:
        fail("%s: missing %s" % (d, ", ".join(missing)))
        return None, None
    cfg = ct.load_config(d)
    arch = (cfg.get("architectures") or ["?"])[0]
    if arch not in ARCH_NAMES:
        fail("config.json: architectures %r, expected one of %s" % (cfg.get("architectures"), ", ".join(ARCH_NAMES)))
        return None, None
    w, dtypes = ct.read_safetensors(os.path.join(d, "model.safetensors"))
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg.get("id2label", {})))] \
        if arch == "CamembertForTokenClassification" else []
    want = ct.make_config(arch, cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"],
                          cfg["intermediate_size"], labels, "F32", cfg["vocab_size"])
    for k, v in want.items():
        if k not in cfg:
            fail("config.json: key %r is missing" % k)
        elif type(cfg[k]) is not type(v):
            fail("config.json: key %r is a %s, transformers writes a %s" % (k, type(cfg[k]).__name__,
                                                                           type(v).__name__))
    extra = sorted(set(cfg) - set(want))
    if extra:
        fail("config.json: keys transformers does not write for CamemBERT: %s" % ", ".join(extra))
    for k, v in CONSTANTS.items():
        if cfg.get(k) != v:
            fail("config.json: %s is %r, expected %r" % (k, cfg.get(k), v))
    if labels and cfg.get("label2id") != {l: i for i, l in enumerate(labels)}:
        fail("config.json: label2id is not the inverse of id2label")

    shapes = {name: shape for name, shape, _ in ct.tensor_shapes(arch, cfg["num_hidden_layers"], cfg["hidden_size"],
                                                                 cfg["intermediate_size"], len(labels),
                                                                 cfg["vocab_size"])
              if not name.startswith("pooler.")}  # transformers' CamembertModel has one; nothing trains it here
    p = "" if arch == "CamembertModel" else "roberta."
    shapes[p + "embeddings.position_embeddings.weight"] = (cfg["max_position_embeddings"], cfg["hidden_size"])
    shapes[p + "embeddings.token_type_embeddings.weight"] = (cfg["type_vocab_size"], cfg["hidden_size"])
    for name in sorted(set(shapes) - set(w)):
        fail("model.safetensors: tensor %s is missing" % name)
    for name in sorted(set(w) - set(shapes)):
        fail("model.safetensors: tensor %s should not be there (%s)" % (name, arch))
    for name in sorted(set(w) & set(shapes)):
        if tuple(w[name].shape) != tuple(shapes[name]):
            fail("model.safetensors: %s has shape %s, expected %s" % (name, list(w[name].shape), list(shapes[name])))
        if dtypes[name] != "F32":
            fail("model.safetensors: %s is %s, expected F32" % (name, dtypes[name]))
    if cfg["pad_token_id"] != ct.PAD_ID or cfg["bos_token_id"] != ct.BOS_ID or cfg["eos_token_id"] != ct.EOS_ID:
        fail("config.json: pad/bos/eos ids %s/%s/%s, CamemBERT's are %d/%d/%d" % (
            cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"], ct.PAD_ID, ct.BOS_ID, ct.EOS_ID))
    print("%s: %s, %d tensors, %d layers x %d, %d labels" % (d, arch, len(w), cfg["num_hidden_layers"],
                                                            cfg["hidden_size"], len(labels)))
    return cfg, w


def read_ids(path):
    with open(path, encoding="utf-8") as f:
        return [[int(x) for x in line.split()] for line in f if line.strip()]


def outputs(w, cfg, seqs):
    """The head's output per sequence, [T, outputs] each (one sequence at a time: no padding involved)."""
    with torch.no_grad():
        return [ct.forward(w, cfg, torch.tensor([ids], dtype=torch.int64))[0] for ids in seqs]


def compare(name, got, want, tol):
    worst = 0.0
    for i, (a, b) in enumerate(zip(got, want)):
        if a.shape != b.shape:
            fail("%s: line %d has shape %s, expected %s" % (name, i + 1, list(a.shape), list(b.shape)))
            return
        worst = max(worst, (a - b).abs().max().item())
    if len(got) != len(want):
        fail("%s: %d lines, expected %d" % (name, len(got), len(want)))
    n = sum(t.numel() for t in want)
    print("%s: %d lines, %d values, max |diff| %.2e (tolerance %.0e)" % (name, len(want), n, worst, tol))
    if not worst <= tol:
        fail("%s: max |diff| %.3e > %.0e" % (name, worst, tol))


def check_tokenizer(model, original, texts):
    import sentencepiece as spm
    a = spm.SentencePieceProcessor(model_file=model)
    b = spm.SentencePieceProcessor(model_file=original)
    if a.get_piece_size() != b.get_piece_size():
        fail("sentencepiece.bpe.model: %d pieces, the original %d" % (a.get_piece_size(), b.get_piece_size()))
        return
    bad = [i for i in range(a.get_piece_size())
           if (a.id_to_piece(i), a.get_score(i), a.is_unknown(i), a.is_control(i), a.is_unused(i), a.is_byte(i)) !=
           (b.id_to_piece(i), b.get_score(i), b.is_unknown(i), b.is_control(i), b.is_unused(i), b.is_byte(i))]
    if bad:
        fail("sentencepiece.bpe.model: %d pieces differ in text, score or type (first id %d)" % (len(bad), bad[0]))
    if (a.unk_id(), a.bos_id(), a.eos_id(), a.pad_id()) != (b.unk_id(), b.bos_id(), b.eos_id(), b.pad_id()):
        fail("sentencepiece.bpe.model: unk/bos/eos/pad ids differ")
    differ, n_pieces = 0, 0
    for t in texts:
        pa, pb = a.encode(t, out_type=str), b.encode(t, out_type=str)
        n_pieces += len(pb)
        if pa != pb:
            differ += 1
            if differ <= 3:
                fail("sentencepiece: %r -> %s, the original gives %s" % (t[:60], pa[:12], pb[:12]))
    if differ:
        fail("sentencepiece: %d of %d texts encode differently" % (differ, len(texts)))
    print("tokenizer: %d pieces identical to %s; %d texts, %d pieces, %d differ" % (
        a.get_piece_size(), original, len(texts), n_pieces, differ))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--ids", help="token ids, a sequence per line (surligne tokenize)")
    ap.add_argument("--logits", help="the C engine's outputs for --ids (surligne logits)")
    ap.add_argument("--reference", help="a folder (the converted checkpoint) whose outputs must be the same")
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER, help="the original sentencepiece.bpe.model")
    ap.add_argument("--text", action="append", default=[], help="French text to encode (a line per text)")
    ap.add_argument("--max-lines", type=int, default=2000, help="lines read from each --text file")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_num_threads(1)

    cfg, w = check_folder(a.folder)
    if cfg is not None and a.ids:
        seqs = read_ids(a.ids)
        got = outputs(w, cfg, seqs)
        if a.logits:
            with open(a.logits, encoding="utf-8") as f:
                c = [torch.tensor(json.loads(line), dtype=torch.float32) for line in f if line.strip()]
            compare("PyTorch on %s vs the C engine (%s)" % (a.folder, a.logits), got, c, a.tol)
        if a.reference:
            rcfg, rw = ct.load_checkpoint(a.reference)
            compare("PyTorch on %s vs on %s" % (a.folder, a.reference), got, outputs(rw, rcfg, seqs), a.tol)

    texts = list(HARD_LINES)
    for path in a.text:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= a.max_lines:
                    break
                texts.append(line.rstrip("\n"))
    check_tokenizer(os.path.join(a.folder, "sentencepiece.bpe.model"), a.tokenizer, texts)

    print("check_export: %s" % ("FAILED (%d)" % len(failures) if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
