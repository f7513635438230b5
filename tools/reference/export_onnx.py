#!/usr/bin/env -S /usr/bin/python3
"""Models of the comparison benchmark (tools/bench.sh): one random CamemBERT token-classification
checkpoint, written three ways.

  export_onnx.py OUT_DIR [--layers 12 --hidden 768 --heads 12 --intermediate 3072] [--seed 7]

writes
  OUT_DIR/hf/          the Hugging Face folder (config.json, model.safetensors, sentencepiece.bpe.model), made
                       by make_checkpoint.py's code; `surligne convert` turns it into GGUF
  OUT_DIR/model.onnx   ONNX fp32 of the same model: inputs input_ids, attention_mask (int64 [batch, sequence],
                       both axes dynamic), output logits (float32 [batch, sequence, labels]); opset 14
  OUT_DIR/model_int8.onnx  the same graph rewritten the way onnxruntime's quantize_dynamic does it with its
                       defaults (weight_type QInt8, per tensor, no reduce_range, MatMulConstBOnly):
                       every MatMul whose B is a constant becomes
                         DynamicQuantizeLinear(A) -> MatMulInteger(A_q, B_q, A_zp, 0) -> Cast(float) -> Mul(A_scale*B_scale)
                       with B int8 symmetric (zero point 0, scale max|B|/127); every Gather from a constant table
                       (the embeddings) gathers from an int8 table and is followed by DequantizeLinear.
                       onnxruntime's Python package is not used (Debian has none): the rewrite is done here with the
                       onnx API.

The defaults are camembert-base's shape (110 M parameters, ~440 MB fp32) with 7 labels; the fixed seed makes the
same weights every time. `--layers 2 --hidden 32 --heads 4 --intermediate 64` makes a tiny one for smoke runs.
Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13, python3-onnx, numpy).
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import camembert_torch as ct  # noqa: E402
import make_checkpoint  # noqa: E402

OPSET = 14


class TokenClassifier(torch.nn.Module):
    """camembert_torch's forward as a module whose weights are registered buffers, so the ONNX export stores them
    as initializers (Linear weights constant-folded to their transposes, the B of each MatMul)."""

    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.names = sorted(weights)
        for i, name in enumerate(self.names):
            self.register_buffer("w%d" % i, weights[name].clone())

    def forward(self, input_ids, attention_mask):
        w = {name: getattr(self, "w%d" % i) for i, name in enumerate(self.names)}
        x = ct.encoder_forward(w, self.cfg, input_ids, attention_mask=attention_mask)
        return torch.nn.functional.linear(x, w["classifier.weight"], w["classifier.bias"])


def export_fp32(cfg, weights, path):
    model = TokenClassifier(cfg, weights).eval()
    ids = torch.tensor([[ct.BOS_ID, 100, 200, 300, 400, ct.EOS_ID]], dtype=torch.int64)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        expected = model(ids, mask)
    torch.onnx.export(model, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                    "attention_mask": {0: "batch", 1: "sequence"},
                                    "logits": {0: "batch", 1: "sequence"}},
                      opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(path)
    return expected


def quantize_weight_int8(b):
    """quantize_dynamic's default for weights (QInt8, symmetric, per tensor, no reduce_range): range [-m, m] with
    m = max|B| (0 always inside), quantised to [-127, 127], zero point 0, round half to even."""
    m = float(np.max(np.abs(b))) if b.size else 0.0
    scale = np.float32(m / 127.0) if m > 0 else np.float32(1.0)
    q = np.clip(np.rint(b / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_dynamic_int8(src, dst):
    """Rewrites the fp32 graph as quantize_dynamic(src, dst) would with its defaults (see the module doc)."""
    model = onnx.load(src)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    new_inits = {}  # quantised weights, one per fp32 initializer however many nodes use it

    def qweight(name):
        if name not in new_inits:
            q, scale = quantize_weight_int8(numpy_helper.to_array(inits[name]).astype(np.float32))
            new_inits[name] = (
                numpy_helper.from_array(q, name + "_quantized"),
                numpy_helper.from_array(np.array(scale, dtype=np.float32), name + "_scale"),
                numpy_helper.from_array(np.array(0, dtype=np.int8), name + "_zero_point"),
            )
        return [t.name for t in new_inits[name]]

    nodes, n_matmul, n_gather = [], 0, 0
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in inits and inits[n.input[1]].data_type == TensorProto.FLOAT:
            a, (bq, bs, bzp), y, k = n.input[0], qweight(n.input[1]), n.output[0], n.name or "MatMul_%d" % n_matmul
            nodes += [
                helper.make_node("DynamicQuantizeLinear", [a], [a + "_quantized", a + "_scale", a + "_zero_point"],
                                 name=a + "_QuantizeLinear"),
                helper.make_node("MatMulInteger", [a + "_quantized", bq, a + "_zero_point", bzp],
                                 [y + "_output_quantized"], name=k + "_quant"),
                helper.make_node("Mul", [a + "_scale", bs], [k + "_scales_mul:0"], name=k + "_scales_mul"),
                helper.make_node("Cast", [y + "_output_quantized"], [y + "_output_quantized_cast_output"],
                                 to=TensorProto.FLOAT, name=y + "_output_quantized_cast"),
                helper.make_node("Mul", [y + "_output_quantized_cast_output", k + "_scales_mul:0"], [y],
                                 name=k + "_output_quantized_mul"),
            ]
            n_matmul += 1
        elif n.op_type == "Gather" and n.input[0] in inits and inits[n.input[0]].data_type == TensorProto.FLOAT:
            (tq, ts, tzp), y, k = qweight(n.input[0]), n.output[0], n.name or "Gather_%d" % n_gather
            nodes += [
                helper.make_node("Gather", [tq, n.input[1]], [y + "_quantized"], name=k + "_quant",
                                 **{a.name: helper.get_attribute_value(a) for a in n.attribute}),
                helper.make_node("DequantizeLinear", [y + "_quantized", ts, tzp], [y], name=y + "_DequantizeLinear"),
            ]
            n_gather += 1
        else:
            nodes.append(n)
    # A DynamicQuantizeLinear per quantised MatMul input, once: Q, K and V share theirs, as in quantize_dynamic.
    seen, kept = set(), []
    for n in nodes:
        if n.op_type == "DynamicQuantizeLinear":
            if n.input[0] in seen:
                continue
            seen.add(n.input[0])
        kept.append(n)
    # fp32 initializers still used by an unchanged node stay; the quantised ones replace the rest
    used = {x for n in kept for x in n.input}
    initializers = [t for t in g.initializer if t.name in used]
    for ts in new_inits.values():
        initializers += list(ts)
    del g.node[:]
    g.node.extend(kept)
    del g.initializer[:]
    g.initializer.extend(initializers)
    del g.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return n_matmul, n_gather


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--intermediate", type=int, default=3072)
    ap.add_argument("--labels", default=make_checkpoint.DEFAULT_LABELS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tokenizer", default=ct.DEFAULT_TOKENIZER, help="path to sentencepiece.bpe.model")
    a = ap.parse_args()
    torch.manual_seed(0)
    hf = os.path.join(a.out_dir, "hf")
    labels = [s for s in a.labels.split(",") if s]
    cfg, w = make_checkpoint.build(hf, a.layers, a.hidden, a.heads, a.intermediate, labels, "F32", a.seed,
                                   "CamembertForTokenClassification", a.tokenizer)
    print("%s: %d layers x %d, %d parameters" % (hf, a.layers, a.hidden, sum(t.numel() for t in w.values())))
    fp32 = os.path.join(a.out_dir, "model.onnx")
    expected = export_fp32(cfg, w, fp32)
    reference = ct.forward(w, cfg, torch.tensor([[ct.BOS_ID, 100, 200, 300, 400, ct.EOS_ID]]))
    print("%s: %.1f MB, opset %d (export vs reference: max |d| %.2e)" % (
        fp32, os.path.getsize(fp32) / 1e6, OPSET, float((expected - reference).abs().max())))
    int8 = os.path.join(a.out_dir, "model_int8.onnx")
    n_matmul, n_gather = quantize_dynamic_int8(fp32, int8)
    print("%s: %.1f MB, %d MatMul -> MatMulInteger, %d Gather from int8" % (
        int8, os.path.getsize(int8) / 1e6, n_matmul, n_gather))


if __name__ == "__main__":
    main()
