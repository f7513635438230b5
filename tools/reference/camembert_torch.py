#!/usr/bin/env -S /usr/bin/python3
"""Independent PyTorch reference of CamemBERT (RoBERTa encoder + heads) for surligne.

Written from the Hugging Face modelling code's behaviour (not copied), in plain torch, on a dict of
float32 tensors named exactly as Hugging Face saves them. Also: a minimal safetensors reader/writer,
config.json writer, random checkpoint weights, and the SentencePiece -> CamemBERT id mapping.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13, numpy, python3-sentencepiece).
"""
import json
import math
import os
import shutil
import struct

import numpy as np
import torch
import torch.nn.functional as F

VOCAB_SIZE = 32005
PAD_ID = 1
BOS_ID = 5  # <s>
EOS_ID = 6  # </s>
UNK_ID = 3
MASK_ID = 32004
MAX_POSITIONS = 514
TRANSFORMERS_VERSION = "4.44.2"

ARCHS = ("CamembertForTokenClassification", "CamembertModel", "CamembertForMaskedLM")

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data"))
DEFAULT_TOKENIZER = os.path.join(SHARED_DATA, "camembert-base-tokenizer", "sentencepiece.bpe.model")

# ----------------------------------------------------------------------------------------------
# safetensors


_ST_DTYPES = {"F32": (4, np.float32), "F16": (2, np.float16), "BF16": (2, np.uint16)}
_TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
_TORCH_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def to_storage_bytes(t, dtype):
    """Round a tensor to the safetensors dtype (round-to-nearest-even) and return little-endian bytes."""
    t = t.detach().to(torch.float32).contiguous()
    if dtype == "F32":
        return t.numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError("unsupported dtype " + dtype)


def write_safetensors(path, tensors, dtype, metadata=None):
    """tensors: dict name -> float tensor; every tensor is stored as `dtype` (F32, F16 or BF16).

    Layout: u64 LE header length N, N bytes of JSON (padded with spaces to a multiple of 8), raw data.
    data_offsets are relative to the start of the data section. Tensors are laid out in name order.
    """
    if metadata is None:
        metadata = {"format": "pt"}
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        b = to_storage_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns (dict name -> float32 torch tensor, dict name -> stored dtype string)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out, dtypes = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError("%s: unsupported dtype %s" % (name, dt))
        b, e = info["data_offsets"]
        shape = info["shape"]
        size, npdt = _ST_DTYPES[dt]
        arr = np.frombuffer(raw, dtype=np.dtype(npdt).newbyteorder("<"), count=(e - b) // size, offset=base + b)
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = arr.astype(np.float32)
        out[name] = torch.from_numpy(arr.copy()).reshape(shape)
        dtypes[name] = dt
    return out, dtypes


# ----------------------------------------------------------------------------------------------
# config


def make_config(arch, layers, hidden, heads, intermediate, labels, dtype, vocab_size=VOCAB_SIZE):
    """config.json content with the keys and value types transformers writes for CamemBERT."""
    cfg = {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": BOS_ID,
        "classifier_dropout": None,
        "eos_token_id": EOS_ID,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": "camembert",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": PAD_ID,
        "position_embedding_type": "absolute",
        "torch_dtype": _TORCH_DTYPE_NAMES[dtype],
        "transformers_version": TRANSFORMERS_VERSION,
        "type_vocab_size": 1,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if arch == "CamembertForTokenClassification":
        cfg["id2label"] = {str(i): l for i, l in enumerate(labels)}
        cfg["label2id"] = {l: i for i, l in enumerate(labels)}
    return cfg


def write_config(path, cfg):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def load_config(checkpoint_dir):
    with open(os.path.join(checkpoint_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def arch_of(cfg):
    archs = cfg.get("architectures") or ["CamembertModel"]
    a = archs[0].replace("Roberta", "Camembert").replace("XLMCamembert", "Camembert")
    return a


# ----------------------------------------------------------------------------------------------
# random weights


def tensor_shapes(arch, layers, hidden, intermediate, num_labels, vocab_size=VOCAB_SIZE):
    """Ordered list of (name, shape, kind) for an architecture, names exactly as HF saves them.

    kind: 'emb' (normal std, pad row zeroed), 'emb_nopad', 'w' (Linear weight), 'b' (bias),
    'lnw' (LayerNorm weight), 'lnb' (LayerNorm bias).
    """
    p = "" if arch == "CamembertModel" else "roberta."
    out = [
        (p + "embeddings.word_embeddings.weight", (vocab_size, hidden), "emb"),
        (p + "embeddings.position_embeddings.weight", (MAX_POSITIONS, hidden), "emb"),
        (p + "embeddings.token_type_embeddings.weight", (1, hidden), "emb_nopad"),
        (p + "embeddings.LayerNorm.weight", (hidden,), "lnw"),
        (p + "embeddings.LayerNorm.bias", (hidden,), "lnb"),
    ]
    for i in range(layers):
        l = "%sencoder.layer.%d." % (p, i)
        for m in ("query", "key", "value"):
            out.append((l + "attention.self.%s.weight" % m, (hidden, hidden), "w"))
            out.append((l + "attention.self.%s.bias" % m, (hidden,), "b"))
        out += [
            (l + "attention.output.dense.weight", (hidden, hidden), "w"),
            (l + "attention.output.dense.bias", (hidden,), "b"),
            (l + "attention.output.LayerNorm.weight", (hidden,), "lnw"),
            (l + "attention.output.LayerNorm.bias", (hidden,), "lnb"),
            (l + "intermediate.dense.weight", (intermediate, hidden), "w"),
            (l + "intermediate.dense.bias", (intermediate,), "b"),
            (l + "output.dense.weight", (hidden, intermediate), "w"),
            (l + "output.dense.bias", (hidden,), "b"),
            (l + "output.LayerNorm.weight", (hidden,), "lnw"),
            (l + "output.LayerNorm.bias", (hidden,), "lnb"),
        ]
    if arch == "CamembertModel":
        out += [("pooler.dense.weight", (hidden, hidden), "w"), ("pooler.dense.bias", (hidden,), "b")]
    elif arch == "CamembertForTokenClassification":
        out += [("classifier.weight", (num_labels, hidden), "w"), ("classifier.bias", (num_labels,), "b")]
    elif arch == "CamembertForMaskedLM":
        # lm_head.decoder.weight is tied to the word embeddings and lm_head.decoder.bias to lm_head.bias:
        # transformers drops both tied copies when it saves safetensors.
        out += [
            ("lm_head.dense.weight", (hidden, hidden), "w"),
            ("lm_head.dense.bias", (hidden,), "b"),
            ("lm_head.layer_norm.weight", (hidden,), "lnw"),
            ("lm_head.layer_norm.bias", (hidden,), "lnb"),
            ("lm_head.bias", (vocab_size,), "b"),
        ]
    else:
        raise ValueError("unknown architecture " + arch)
    return out


def random_weights(arch, layers, hidden, intermediate, num_labels, seed, std=0.02, bias_std=0.02,
                   ln_std=0.1, vocab_size=VOCAB_SIZE):
    """Random float32 weights: Linear/Embedding ~ N(0, std) (HF init), but LayerNorm weights ~ 1 + N(0, ln_std)
    and every bias / LayerNorm bias ~ N(0, bias_std) (HF would zero them; nonzero so a missing bias shows).
    Like HF's _init_weights, the padding_idx rows (pad = 1) of the word AND position embeddings are zero."""
    g = torch.Generator().manual_seed(int(seed))
    w = {}
    for name, shape, kind in tensor_shapes(arch, layers, hidden, intermediate, num_labels, vocab_size):
        if kind in ("emb", "emb_nopad", "w"):
            t = torch.randn(shape, generator=g) * std
            if kind == "emb":
                t[PAD_ID].zero_()
        elif kind in ("b", "lnb"):
            t = torch.randn(shape, generator=g) * bias_std
        elif kind == "lnw":
            t = 1.0 + torch.randn(shape, generator=g) * ln_std
        w[name] = t.contiguous()
    return w


def copy_tokenizer(tokenizer_model, out_dir):
    src_dir = os.path.dirname(os.path.abspath(tokenizer_model))
    shutil.copyfile(tokenizer_model, os.path.join(out_dir, "sentencepiece.bpe.model"))
    for fn in ("tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(src_dir, fn)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out_dir, fn))


def save_checkpoint(out_dir, cfg, weights, dtype, tokenizer_model=None):
    os.makedirs(out_dir, exist_ok=True)
    write_config(os.path.join(out_dir, "config.json"), cfg)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), weights, dtype)
    if tokenizer_model:
        copy_tokenizer(tokenizer_model, out_dir)


def load_checkpoint(checkpoint_dir):
    """(config dict, dict name -> float32 tensor as stored, i.e. already rounded for F16/BF16)."""
    cfg = load_config(checkpoint_dir)
    w, _ = read_safetensors(os.path.join(checkpoint_dir, "model.safetensors"))
    return cfg, w


# ----------------------------------------------------------------------------------------------
# model


def position_ids_from_input_ids(ids, pad=PAD_ID):
    """HF RoBERTa: non-pad tokens get pad+1, pad+2, ... (counting only non-pad tokens); pads get pad."""
    mask = (ids != pad).to(torch.int64)
    return torch.cumsum(mask, dim=1) * mask + pad


def _body_prefix(w):
    if "roberta.embeddings.word_embeddings.weight" in w:
        return "roberta."
    if "embeddings.word_embeddings.weight" in w:
        return ""
    raise KeyError("no embeddings.word_embeddings.weight in checkpoint")


def _dropout(x, p):
    return F.dropout(x, p, training=True) if p > 0 else x


def encoder_forward(w, cfg, ids, attention_mask=None, hidden_dropout=0.0, attention_dropout=0.0):
    """ids: int64 [B, T]. Returns last_hidden_state float32 [B, T, H].

    By default eval mode (no dropout). hidden_dropout / attention_dropout > 0 give HF's train-mode dropout
    (inverted dropout, torch RNG): on the embeddings' output (after their LayerNorm), on the attention
    probabilities, and on the attention-output and FFN-output dense results before each residual add."""
    p = _body_prefix(w)
    pad = cfg.get("pad_token_id", PAD_ID)
    eps = cfg.get("layer_norm_eps", 1e-5)
    H = cfg["hidden_size"]
    A = cfg["num_attention_heads"]
    D = H // A
    L = cfg["num_hidden_layers"]
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError("only hidden_act gelu (exact erf) is implemented")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are implemented")
    B, T = ids.shape
    if attention_mask is None:
        attention_mask = (ids != pad)
    pos = position_ids_from_input_ids(ids, pad)
    tt = torch.zeros_like(ids)

    x = F.embedding(ids, w[p + "embeddings.word_embeddings.weight"])
    x = x + F.embedding(tt, w[p + "embeddings.token_type_embeddings.weight"])
    x = x + F.embedding(pos, w[p + "embeddings.position_embeddings.weight"])
    x = F.layer_norm(x, (H,), w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"], eps)
    x = _dropout(x, hidden_dropout)

    # additive mask [B, 1, 1, T]: 0 on real keys, finfo(float32).min on masked keys
    ext = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * torch.finfo(torch.float32).min

    def heads(t):
        return t.view(B, T, A, D).permute(0, 2, 1, 3)

    for i in range(L):
        l = "%sencoder.layer.%d." % (p, i)
        q = heads(F.linear(x, w[l + "attention.self.query.weight"], w[l + "attention.self.query.bias"]))
        k = heads(F.linear(x, w[l + "attention.self.key.weight"], w[l + "attention.self.key.bias"]))
        v = heads(F.linear(x, w[l + "attention.self.value.weight"], w[l + "attention.self.value.bias"]))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores + ext
        probs = _dropout(torch.softmax(scores, dim=-1), attention_dropout)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, H)
        a = _dropout(F.linear(ctx, w[l + "attention.output.dense.weight"], w[l + "attention.output.dense.bias"]),
                     hidden_dropout)
        a = F.layer_norm(a + x, (H,), w[l + "attention.output.LayerNorm.weight"],
                         w[l + "attention.output.LayerNorm.bias"], eps)
        h = F.gelu(F.linear(a, w[l + "intermediate.dense.weight"], w[l + "intermediate.dense.bias"]))
        h = _dropout(F.linear(h, w[l + "output.dense.weight"], w[l + "output.dense.bias"]), hidden_dropout)
        x = F.layer_norm(h + a, (H,), w[l + "output.LayerNorm.weight"], w[l + "output.LayerNorm.bias"], eps)
    return x


def forward(w, cfg, ids):
    """Head output for the checkpoint's architecture:
    token classification -> logits [B, T, num_labels]; masked LM -> logits [B, T, vocab];
    bare model -> last_hidden_state [B, T, H] (the pooler output is available from pooler())."""
    x = encoder_forward(w, cfg, ids)
    if "classifier.weight" in w:
        return F.linear(x, w["classifier.weight"], w["classifier.bias"])
    if "lm_head.dense.weight" in w:
        return lm_head_forward(w, cfg, x)
    return x


def lm_head_forward(w, cfg, x):
    """RobertaLMHead: hidden states x [..., H] -> vocabulary logits [..., V]: dense, exact-erf GELU, LayerNorm,
    then the decoder, whose weight is the word-embedding table (tied) and whose bias is lm_head.bias.
    Applied to the gathered rows [M, H] of the masked positions it gives the same logits as on all [B, T, H]."""
    H = cfg["hidden_size"]
    p = _body_prefix(w)
    h = F.gelu(F.linear(x, w["lm_head.dense.weight"], w["lm_head.dense.bias"]))
    h = F.layer_norm(h, (H,), w["lm_head.layer_norm.weight"], w["lm_head.layer_norm.bias"],
                     cfg.get("layer_norm_eps", 1e-5))
    dec_w = w.get("lm_head.decoder.weight", w[p + "embeddings.word_embeddings.weight"])
    dec_b = w.get("lm_head.bias", w.get("lm_head.decoder.bias"))
    return F.linear(h, dec_w, dec_b)


def trainer_decays(name):
    """The Hugging Face Trainer's weight-decay rule (Trainer.get_decay_parameter_names) on a CamemBERT parameter
    name: decay unless the parameter belongs to an nn.LayerNorm module (in HF's CamemBERT modules these are the
    attributes named 'LayerNorm'; 'lm_head.layer_norm' is one too) or its name contains 'bias'."""
    module = name.rsplit(".", 1)[0].split(".")[-1]
    return module not in ("LayerNorm", "layer_norm") and "bias" not in name


def linear_schedule_factor(step, warmup, total):
    """get_linear_schedule_with_warmup's lambda of the scheduler's step count (0-based: step k uses factor(k-1))."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def trainer_optimizer(named_params, lr, total_steps, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8,
                      warmup_ratio=0.1):
    """The Trainer's optimiser and schedule: torch AdamW with two groups (weight_decay for the names
    trainer_decays accepts, 0 for the others, each group in the given order), and LambdaLR with
    get_linear_schedule_with_warmup(ceil(warmup_ratio * total_steps), total_steps).
    named_params: list of (name, tensor requiring grad). Returns (optimizer, scheduler)."""
    warmup = math.ceil(warmup_ratio * total_steps)
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named_params if trainer_decays(n)], "weight_decay": weight_decay},
         {"params": [p for n, p in named_params if not trainer_decays(n)], "weight_decay": 0.0}],
        lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: linear_schedule_factor(s, warmup, total_steps))
    return opt, sched


def mask_tokens(ids, special, generator, mlm_probability=0.15, vocab_size=VOCAB_SIZE):
    """DataCollatorForLanguageModeling.torch_mask_tokens with an explicit generator: the same four draws over the
    whole [B, T] batch, in the same order. ids: int64 [B, T]; special: bool [B, T] (never chosen: specials, pads).
    Chosen = bernoulli(0.15) off the specials; of those, bernoulli(0.8) -> MASK_ID; of the rest,
    bernoulli(0.5) -> a uniform id in [0, vocab_size); the others keep their token.
    Returns (inputs, labels, chosen, replaced, randomised): labels = the original id where chosen, -100 elsewhere."""
    prob = torch.full(ids.shape, mlm_probability)
    prob.masked_fill_(special, 0.0)
    chosen = torch.bernoulli(prob, generator=generator).bool()
    labels = ids.clone()
    labels[~chosen] = -100
    inputs = ids.clone()
    replaced = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool() & chosen
    inputs[replaced] = MASK_ID
    randomised = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & chosen & ~replaced
    random_words = torch.randint(vocab_size, ids.shape, dtype=torch.long, generator=generator)
    inputs[randomised] = random_words[randomised]
    return inputs, labels, chosen, replaced, randomised


def pooler(w, last_hidden_state):
    return torch.tanh(F.linear(last_hidden_state[:, 0], w["pooler.dense.weight"], w["pooler.dense.bias"]))


# ----------------------------------------------------------------------------------------------
# tokenisation (only for building test inputs)


def encode_french(text, tokenizer_model=DEFAULT_TOKENIZER):
    """CamembertTokenizer ids: <s> + (spm id + 4, spm unknown -> 3) + </s>."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=tokenizer_model)
    pieces = sp.encode(text, out_type=int)
    return [BOS_ID] + [UNK_ID if i == sp.unk_id() else i + 4 for i in pieces] + [EOS_ID]
