#include "convert.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conll.h"
#include "fileio.h"
#include "fp16.h"
#include "json.h"
#include "model.h"
#include "quant.h"
#include "safetensors.h"
#include "tokenizer.h"

static const char *const SUPPORTED_ARCHS[] = {
    "CamembertForTokenClassification", "CamembertModel", "CamembertForMaskedLM",
    "RobertaForTokenClassification",   "RobertaModel",   "RobertaForMaskedLM",
    "XLMRobertaForTokenClassification", "XLMRobertaModel", "XLMRobertaForMaskedLM",
};

/* Everything the conversion allocates, freed in one place. */
typedef struct {
    char path[4096];
    uint8_t *config_bytes, *st_bytes, *spm_bytes;
    size_t config_size, st_size, spm_size;
    sl_json *config;
    sl_safetensors *st;
    sl_spm_vocab *vocab;
    sl_gguf_writer *w;
    float **buffers;
    int n_buffers;
    char **labels;
    int n_labels;
} convert_state;

static const char *join(convert_state *cs, const char *dir, const char *file) {
    snprintf(cs->path, sizeof cs->path, "%s/%s", dir, file);
    return cs->path;
}

static float *new_buffer(convert_state *cs, size_t n) {
    float **b = realloc(cs->buffers, (size_t)(cs->n_buffers + 1) * sizeof *b);
    if (!b) return NULL;
    cs->buffers = b;
    return cs->buffers[cs->n_buffers++] = malloc(n * sizeof(float));
}

/* A positive integer from config.json; absent keys take `fallback` (or fail when fallback < 0). */
static sl_status config_int(const sl_json *cfg, const char *key, long fallback, int *out, sl_error *err) {
    const sl_json *v = sl_json_get(cfg, key);
    if (!v || v->type == SL_JSON_NULL) {
        if (fallback < 0) return sl_fail(err, SL_ERR_FORMAT, "config.json: missing key '%s'", key);
        *out = (int)fallback;
        return SL_OK;
    }
    if (v->type != SL_JSON_NUMBER || v->number != floor(v->number) || v->number < 0 || v->number > (1 << 24))
        return sl_fail(err, SL_ERR_FORMAT, "config.json:%d:%d: key '%s' must be a non-negative integer", v->line,
                       v->column, key);
    *out = (int)v->number;
    return SL_OK;
}

static const char *config_str(const sl_json *cfg, const char *key) {
    const sl_json *v = sl_json_get(cfg, key);
    return v && v->type == SL_JSON_STRING ? v->string : NULL;
}

static sl_status read_config(convert_state *cs, sl_config *c, const char **arch, sl_error *err) {
    const sl_json *j = cs->config;
    if (j->type != SL_JSON_OBJECT) return sl_fail(err, SL_ERR_FORMAT, "config.json: not a JSON object");
    const sl_json *archs = sl_json_get(j, "architectures");
    const sl_json *a0 = archs ? sl_json_at(archs, 0) : NULL;
    *arch = a0 && a0->type == SL_JSON_STRING ? a0->string : NULL;
    if (!*arch) return sl_fail(err, SL_ERR_FORMAT, "config.json: missing key 'architectures' (a list of names)");
    int known = 0;
    for (size_t i = 0; i < sizeof SUPPORTED_ARCHS / sizeof *SUPPORTED_ARCHS; i++)
        known |= strcmp(*arch, SUPPORTED_ARCHS[i]) == 0;
    if (!known)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "config.json: architecture '%s' is not supported (Camembert/Roberta/XLMRoberta ForTokenClassification, "
                       "Model or ForMaskedLM)",
                       *arch);
    const char *act = config_str(j, "hidden_act");
    if (act && strcmp(act, "gelu") != 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "config.json: hidden_act '%s' is not supported (only 'gelu')", act);
    const char *pet = config_str(j, "position_embedding_type");
    if (pet && strcmp(pet, "absolute") != 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "config.json: position_embedding_type '%s' is not supported (only 'absolute')", pet);
    sl_status s;
    if ((s = config_int(j, "vocab_size", -1, &c->n_vocab, err)) ||
        (s = config_int(j, "hidden_size", -1, &c->n_embd, err)) ||
        (s = config_int(j, "num_hidden_layers", -1, &c->n_layer, err)) ||
        (s = config_int(j, "num_attention_heads", -1, &c->n_head, err)) ||
        (s = config_int(j, "intermediate_size", -1, &c->n_ff, err)) ||
        (s = config_int(j, "max_position_embeddings", -1, &c->n_pos, err)) ||
        (s = config_int(j, "type_vocab_size", 2, &c->n_type, err)) ||
        (s = config_int(j, "pad_token_id", 1, &c->pad_id, err)))
        return s;
    const char *zero = !c->n_vocab ? "vocab_size" : !c->n_embd ? "hidden_size" : !c->n_layer ? "num_hidden_layers"
                       : !c->n_head ? "num_attention_heads" : !c->n_ff ? "intermediate_size"
                       : !c->n_type ? "type_vocab_size" : NULL;
    if (zero) return sl_fail(err, SL_ERR_FORMAT, "config.json: key '%s' must be positive", zero);
    if (c->n_embd % c->n_head)
        return sl_fail(err, SL_ERR_FORMAT, "config.json: hidden_size %d is not a multiple of num_attention_heads %d",
                       c->n_embd, c->n_head);
    if (c->n_pos < c->pad_id + 3)
        return sl_fail(err, SL_ERR_FORMAT, "config.json: max_position_embeddings %d is too small", c->n_pos);
    const sl_json *eps = sl_json_get(j, "layer_norm_eps");
    c->ln_eps = 1e-12f; /* the config class's default when the key is absent */
    if (eps) {
        if (eps->type != SL_JSON_NUMBER || !(eps->number > 0 && eps->number < 1))
            return sl_fail(err, SL_ERR_FORMAT, "config.json:%d:%d: layer_norm_eps must be a number in (0, 1)",
                           eps->line, eps->column);
        c->ln_eps = (float)eps->number;
    }
    return SL_OK;
}

/* id2label of a token-classification config: {"0": "O", "1": "B-PER", ...}, every id present once. */
static sl_status read_id2label(convert_state *cs, sl_error *err) {
    const sl_json *m = sl_json_get(cs->config, "id2label");
    if (!m || m->type != SL_JSON_OBJECT || m->n_children == 0)
        return sl_fail(err, SL_ERR_FORMAT, "config.json: missing key 'id2label' (a map from ids to label names)");
    int n = (int)m->n_children;
    cs->labels = calloc((size_t)n, sizeof *cs->labels);
    if (!cs->labels) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    cs->n_labels = n;
    for (const sl_json *e = m->child; e; e = e->next) {
        char *end;
        long id = strtol(e->key, &end, 10);
        if (*e->key == 0 || *end || id < 0 || id >= n || e->type != SL_JSON_STRING)
            return sl_fail(err, SL_ERR_FORMAT, "config.json:%d:%d: id2label entry '%s' must map an id in [0, %d) to a name",
                           e->line, e->column, e->key, n);
        if (cs->labels[id])
            return sl_fail(err, SL_ERR_FORMAT, "config.json:%d:%d: id2label has id %ld twice", e->line, e->column, id);
        if (!(cs->labels[id] = strdup(e->string))) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    }
    return SL_OK;
}

/* Finds a checkpoint tensor, checks its dtype and PyTorch shape, and converts it to f32. */
static sl_status take_tensor(convert_state *cs, const sl_config *c, const sl_tensor_spec *spec, int layer,
                             const char *prefix, sl_error *err) {
    char hf[256], full[300], gguf[128];
    snprintf(hf, sizeof hf, spec->hf, layer);
    snprintf(full, sizeof full, "%s%s", prefix, hf);
    snprintf(gguf, sizeof gguf, spec->gguf, layer);
    const sl_st_tensor *t = sl_safetensors_find(cs->st, full);
    if (!t) return sl_fail(err, SL_ERR_FORMAT, "model.safetensors: tensor '%s' is missing", full);
    if (t->dtype == SL_DT_OTHER)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "model.safetensors: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                       full, t->dtype_name);
    int64_t rows = sl_dim_size(c, spec->rows), cols = sl_dim_size(c, spec->cols);
    int dims = spec->cols == DIM_NONE ? 1 : 2;
    if (t->n_dims != dims || t->shape[0] != rows || (dims == 2 && t->shape[1] != cols)) {
        char got[96] = "", *p = got;
        for (int i = 0; i < t->n_dims && i < 8; i++)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (dims == 2)
            return sl_fail(err, SL_ERR_SHAPE, "model.safetensors: tensor '%s' has shape [%s], expected [%lld, %lld] from config.json",
                           full, got, (long long)rows, (long long)cols);
        return sl_fail(err, SL_ERR_SHAPE, "model.safetensors: tensor '%s' has shape [%s], expected [%lld] from config.json",
                       full, got, (long long)rows);
    }
    float *f = new_buffer(cs, (size_t)t->n_elements);
    if (!f) return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", full);
    sl_to_f32(t->dtype, t->data, f, (size_t)t->n_elements);
    int64_t ne[2] = {dims == 2 ? cols : rows, rows};
    sl_gguf_add_tensor(cs->w, gguf, SL_GGML_F32, dims, ne, f);
    return SL_OK;
}

/* splitmix64 + Box-Muller: a fresh head, N(0, 0.02) as Hugging Face initialises Linear layers. */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n values of normal(0, std) */
static void fill_normal(float *x, size_t n, double std, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        double u1 = ((splitmix64(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (splitmix64(s) >> 11) / 9007199254740992.0;
        x[i] = (float)(std * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
    }
}

static sl_status fresh_head(convert_state *cs, const sl_config *c, uint64_t seed, sl_error *err) {
    float *w = new_buffer(cs, (size_t)c->n_labels * c->n_embd), *b = new_buffer(cs, (size_t)c->n_labels);
    if (!w || !b) return sl_fail(err, SL_ERR_MEMORY, "no memory for the head");
    uint64_t s = seed;
    fill_normal(w, (size_t)c->n_labels * c->n_embd, 0.02, &s);
    memset(b, 0, (size_t)c->n_labels * sizeof *b);
    int64_t ne_w[2] = {c->n_embd, c->n_labels}, ne_b[1] = {c->n_labels};
    sl_gguf_add_tensor(cs->w, sl_head_specs[H_CLS_W].gguf, SL_GGML_F32, 2, ne_w, w);
    sl_gguf_add_tensor(cs->w, sl_head_specs[H_CLS_B].gguf, SL_GGML_F32, 1, ne_b, b);
    return SL_OK;
}

/* RobertaLMHead: dense, layer_norm and the decoder's bias (lm_head.bias; lm_head.decoder.bias in older
   files, the same tensor). The decoder's weight is the word embeddings: transformers ties them and does not
   save it, and a file that holds a different one is refused rather than silently changed. */
static sl_status take_mlm_head(convert_state *cs, const sl_config *c, const char *prefix, sl_error *err) {
    sl_status s;
    for (int i = 0; i < N_MLM_TENSORS; i++) {
        sl_tensor_spec spec = sl_mlm_specs[i];
        if (i == M_BIAS && !sl_safetensors_find(cs->st, spec.hf) && sl_safetensors_find(cs->st, "lm_head.decoder.bias"))
            spec.hf = "lm_head.decoder.bias";
        if ((s = take_tensor(cs, c, &spec, 0, "", err))) return s;
    }
    const sl_st_tensor *dec = sl_safetensors_find(cs->st, "lm_head.decoder.weight");
    if (!dec) return SL_OK;
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, sl_global_specs[T_TOK_EMBD].hf);
    const sl_st_tensor *emb = sl_safetensors_find(cs->st, name);
    int same = dec->dtype != SL_DT_OTHER && dec->n_dims == 2 && dec->shape[0] == emb->shape[0] &&
               dec->shape[1] == emb->shape[1];
    if (same && dec->dtype == emb->dtype) {
        same = memcmp(dec->data, emb->data, dec->nbytes) == 0;
    } else if (same) {
        float *a = malloc((size_t)emb->n_elements * sizeof *a), *b = malloc((size_t)emb->n_elements * sizeof *b);
        if (!a || !b) {
            free(a), free(b);
            return sl_fail(err, SL_ERR_MEMORY, "no memory to compare lm_head.decoder.weight");
        }
        sl_to_f32(dec->dtype, dec->data, a, (size_t)emb->n_elements);
        sl_to_f32(emb->dtype, emb->data, b, (size_t)emb->n_elements);
        same = memcmp(a, b, (size_t)emb->n_elements * sizeof *a) == 0;
        free(a), free(b);
    }
    if (!same)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "model.safetensors: tensor 'lm_head.decoder.weight' differs from '%s': an untied decoder is "
                       "not supported (the MLM head's decoder is the word embeddings)",
                       name);
    return SL_OK;
}

static sl_status convert(convert_state *cs, const char *dir, const sl_convert_options *opt, const char *out_path,
                         uint8_t **out_data, size_t *out_size, sl_error *err) {
    sl_status s;
    if ((s = sl_read_file(join(cs, dir, "config.json"), &cs->config_bytes, &cs->config_size, err))) return s;
    if ((s = sl_json_parse((const char *)cs->config_bytes, cs->config_size, "config.json", &cs->config, err))) return s;
    sl_config c = {0};
    const char *arch = NULL;
    if ((s = read_config(cs, &c, &arch, err))) return s;

    FILE *probe = fopen(join(cs, dir, "model.safetensors"), "rb");
    if (!probe) {
        FILE *idx = fopen(join(cs, dir, "model.safetensors.index.json"), "rb"),
             *bin = idx ? NULL : fopen(join(cs, dir, "pytorch_model.bin"), "rb");
        if (idx) fclose(idx);
        if (bin) fclose(bin);
        if (idx) return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: sharded checkpoints are not supported; save with one model.safetensors", dir);
        if (bin) return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: pytorch_model.bin (pickle) is not read; save the model as model.safetensors", dir);
    } else {
        fclose(probe);
    }
    if ((s = sl_read_file(join(cs, dir, "model.safetensors"), &cs->st_bytes, &cs->st_size, err))) return s;
    if ((s = sl_safetensors_parse(cs->st_bytes, cs->st_size, "model.safetensors", &cs->st, err))) return s;
    if ((s = sl_read_file(join(cs, dir, "sentencepiece.bpe.model"), &cs->spm_bytes, &cs->spm_size, err))) return s;
    if ((s = sl_spm_parse(cs->spm_bytes, cs->spm_size, "sentencepiece.bpe.model", &cs->vocab, err))) return s;
    const sl_vocab *v = sl_spm_vocab_get(cs->vocab);
    if (v->n_tokens != c.n_vocab)
        return sl_fail(err, SL_ERR_SHAPE, "config.json: vocab_size %d differs from sentencepiece.bpe.model's %d ids",
                       c.n_vocab, v->n_tokens);
    if (v->pad_id != c.pad_id)
        return sl_fail(err, SL_ERR_FORMAT, "config.json: pad_token_id %d differs from the tokenizer's %d", c.pad_id,
                       v->pad_id);

    /* The encoder's prefix: "roberta." in task models, none in a bare CamembertModel. */
    const char *prefixes[] = {"roberta.", "camembert.", ""}, *prefix = NULL;
    for (int i = 0; i < 3 && !prefix; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefixes[i], sl_global_specs[T_TOK_EMBD].hf);
        if (sl_safetensors_find(cs->st, name)) prefix = prefixes[i];
    }
    if (!prefix)
        return sl_fail(err, SL_ERR_FORMAT, "model.safetensors: no tensor '[roberta.]%s': not a RoBERTa/CamemBERT checkpoint",
                       sl_global_specs[T_TOK_EMBD].hf);

    /* The head: a fresh classifier for the given labels; else the checkpoint's classifier, or its MLM head
       (a pre-trained encoder, no labels). */
    int fresh = opt && opt->labels && opt->n_labels > 0, mlm = 0;
    if (fresh) {
        cs->labels = calloc((size_t)opt->n_labels, sizeof *cs->labels);
        if (!cs->labels) return sl_fail(err, SL_ERR_MEMORY, "no memory");
        cs->n_labels = opt->n_labels;
        for (int i = 0; i < opt->n_labels; i++)
            if (!(cs->labels[i] = strdup(opt->labels[i]))) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    } else if (strstr(arch, "ForMaskedLM")) {
        mlm = 1;
    } else {
        if (!strstr(arch, "ForTokenClassification") || !sl_safetensors_find(cs->st, "classifier.weight"))
            return sl_fail(err, SL_ERR_ARGUMENT,
                           "%s: a %s has no token-classification head nor masked-language-model head: give the "
                           "labels for a fresh classifier (--labels PER,ORG,LOC or --labels FILE.conll)",
                           dir, arch);
        if ((s = read_id2label(cs, err))) return s;
    }
    c.n_labels = cs->n_labels;
    if (!mlm) {
        sl_labelset check;
        if ((s = sl_labelset_init(&check, (const char *const *)cs->labels, cs->n_labels, err))) return s;
        sl_labelset_free(&check);
    }

    cs->w = sl_gguf_writer_new();
    if (!cs->w) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    sl_gguf_add_config(cs->w, &c, (const char *const *)cs->labels, v, arch);
    for (int i = 0; i < N_GLOBAL_TENSORS; i++)
        if ((s = take_tensor(cs, &c, &sl_global_specs[i], 0, prefix, err))) return s;
    for (int l = 0; l < c.n_layer; l++)
        for (int i = 0; i < N_LAYER_TENSORS; i++)
            if ((s = take_tensor(cs, &c, &sl_layer_specs[i], l, prefix, err))) return s;
    if (fresh) {
        if ((s = fresh_head(cs, &c, opt->seed, err))) return s;
    } else if (mlm) {
        if ((s = take_mlm_head(cs, &c, prefix, err))) return s;
    } else {
        for (int i = 0; i < N_HEAD_TENSORS; i++)
            if ((s = take_tensor(cs, &c, &sl_head_specs[i], 0, "", err))) return s;
    }
    if (out_path) return sl_gguf_writer_write(cs->w, out_path, err);
    return sl_gguf_writer_to_memory(cs->w, out_data, out_size, err);
}

sl_status sl_convert_hf(const char *dir, const sl_convert_options *opt, const char *out_path, uint8_t **out_data,
                        size_t *out_size, sl_error *err) {
    convert_state cs = {0};
    sl_status s = convert(&cs, dir, opt, out_path, out_data, out_size, err);
    free(cs.config_bytes);
    free(cs.st_bytes);
    free(cs.spm_bytes);
    sl_json_free(cs.config);
    sl_safetensors_free(cs.st);
    sl_spm_vocab_free(cs.vocab);
    sl_gguf_writer_free(cs.w);
    for (int i = 0; i < cs.n_buffers; i++) free(cs.buffers[i]);
    free(cs.buffers);
    sl_labels_free(cs.labels, cs.n_labels);
    return s;
}

/* ---- random models ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int layers, hidden, heads, ff;
} SHAPES[] = {{"tiny", 2, 32, 4, 64}, {"small", 4, 256, 4, 1024}, {"base", 12, 768, 12, 3072}};

static sl_status random_tensor(convert_state *cs, const sl_config *c, const sl_tensor_spec *spec, int layer,
                               double std, uint64_t *rng, float **out, sl_error *err) {
    char name[128];
    snprintf(name, sizeof name, spec->gguf, layer);
    const int64_t rows = sl_dim_size(c, spec->rows), cols = sl_dim_size(c, spec->cols);
    const size_t n = (size_t)(rows * cols);
    float *x = new_buffer(cs, n);
    if (!x) return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", name);
    const size_t len = strlen(name);
    if (spec->cols == DIM_NONE) { /* biases 0, LayerNorm weights 1 */
        float v = len > 7 && !strcmp(name + len - 7, ".weight") ? 1.0f : 0.0f;
        for (size_t i = 0; i < n; i++) x[i] = v;
    } else {
        fill_normal(x, n, std, rng);
        if (spec->rows == DIM_VOCAB || spec->rows == DIM_POS) /* nn.Embedding's padding_idx row */
            memset(x + (size_t)c->pad_id * cols, 0, (size_t)cols * sizeof *x);
    }
    int64_t ne[2] = {spec->cols == DIM_NONE ? rows : cols, rows};
    sl_gguf_add_tensor(cs->w, name, SL_GGML_F32, spec->cols == DIM_NONE ? 1 : 2, ne, x);
    if (out) *out = x; /* the writer reads it when the file is written */
    return SL_OK;
}

/* sl_random_init.local_heads (convert.h): pos is the (n_pos, C) position table, q and k the first two
   layers' (C, C) query and key weights (rows: outputs). */
static void local_heads(const sl_config *c, double std, float *pos, float *const q[2], float *const k[2]) {
    const int C = c->n_embd, hd = C / c->n_head, DP = (hd < 64 ? hd : 64) & ~1, NP = DP / 2, S = C - DP;
    if (NP < 1) return;
    /* the sinusoids' amplitude: as large as the token embedding's part (norm std sqrt(C)) */
    const double a = std * sqrt((double)C / NP);
    for (int p = 0; p < c->n_pos; p++) {
        if (p == c->pad_id) continue; /* nn.Embedding's padding row stays 0 */
        for (int j = 0; j < NP; j++) {
            const double w = M_PI * (j + 0.5) / NP;
            pos[(size_t)p * C + S + 2 * j] = (float)(a * cos(w * p));
            pos[(size_t)p * C + S + 2 * j + 1] = (float)(a * sin(w * p));
        }
    }
    /* After the embeddings' LayerNorm a sinusoid's amplitude is a / sd, sd the std of word + position + type
       embedding (the type and the rest of the position table are normal(0, std)); the logit of the
       neighbour is scale^2 * NP * (a / sd)^2 / sqrt(hd), set to 6: about 0.75 of the attention at 128 tokens. */
    const double sd = sqrt((std * std * (3.0 * C - DP) + a * a * NP) / C), m = a / sd,
                 scale = sqrt(6.0 * sqrt((double)hd) / (NP * m * m));
    for (int l = 0; l < 2 && l < c->n_layer; l++)
        for (int h = 0; h < 2 && h < c->n_head; h++) {
            const int offset = h == 0 ? -1 : 1;
            for (int r = h * hd; r < (h + 1) * hd; r++)
                for (int i = S; i < C; i++) q[l][(size_t)r * C + i] = k[l][(size_t)r * C + i] = 0;
            for (int j = 0; j < NP; j++) {
                /* q_i is the position i + offset: q_i . k_j = scale^2 m^2 sum_j cos(w (i + offset - j)) */
                const double th = M_PI * (j + 0.5) / NP * offset, cs = scale * cos(th), sn = scale * sin(th);
                float *q0 = q[l] + (size_t)(h * hd + 2 * j) * C + S + 2 * j, *q1 = q0 + C;
                float *k0 = k[l] + (size_t)(h * hd + 2 * j) * C + S + 2 * j, *k1 = k0 + C;
                q0[0] = (float)cs, q0[1] = (float)-sn, q1[0] = (float)sn, q1[1] = (float)cs;
                k0[0] = (float)scale, k1[1] = (float)scale;
            }
        }
}

sl_status sl_model_shape(const char *shape, int *layers, int *hidden, int *heads, int *ff, sl_error *err) {
    for (int i = 0; i < (int)(sizeof SHAPES / sizeof *SHAPES); i++)
        if (!strcmp(shape, SHAPES[i].name)) {
            *layers = SHAPES[i].layers, *hidden = SHAPES[i].hidden, *heads = SHAPES[i].heads, *ff = SHAPES[i].ff;
            return SL_OK;
        }
    return sl_fail(err, SL_ERR_ARGUMENT, "unknown model shape '%s' (tiny, small or base)", shape);
}

sl_status sl_model_random(const char *shape, const sl_vocab *vocab, const char *const *labels, int n_labels,
                          uint64_t seed, const sl_random_init *init, uint8_t **out_data, size_t *out_size,
                          sl_error *err) {
    int layers = 0, hidden = 0, heads = 0, ff = 0;
    sl_status s = sl_model_shape(shape, &layers, &hidden, &heads, &ff, err);
    return s != SL_OK ? s
                      : sl_model_random_shape(layers, hidden, heads, ff, vocab, labels, n_labels, seed, init, out_data,
                                              out_size, err);
}

sl_status sl_model_random_shape(int layers, int hidden, int heads, int ff, const sl_vocab *vocab,
                                const char *const *labels, int n_labels, uint64_t seed, const sl_random_init *init,
                                uint8_t **out_data, size_t *out_size, sl_error *err) {
    double init_std = init && init->std ? init->std : 0.02;
    if (!(init_std > 0 && init_std <= 1))
        return sl_fail(err, SL_ERR_ARGUMENT, "initialisation std %g must be in (0, 1]", init_std);
    if (layers < 1 || layers > 256 || hidden < 1 || hidden > 65536 || heads < 1 || hidden % heads || ff < 1 ||
        ff > 1 << 20)
        return sl_fail(err, SL_ERR_ARGUMENT,
                       "shape %d layers x %d, %d heads, intermediate %d: each must be positive (at most 256 layers, "
                       "hidden 65536, intermediate 2^20) and hidden a multiple of heads",
                       layers, hidden, heads, ff);
    sl_config c = {.n_vocab = vocab->n_tokens, .n_embd = hidden, .n_layer = layers, .n_head = heads, .n_ff = ff,
                   .n_pos = 514, .n_type = 1, .n_labels = n_labels, .pad_id = vocab->pad_id, .ln_eps = 1e-5f};
    convert_state cs = {0};
    uint64_t rng = seed;
    sl_status s = SL_OK;
    if (!(cs.w = sl_gguf_writer_new())) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    if (s == SL_OK)
        sl_gguf_add_config(cs.w, &c, labels, vocab, n_labels ? "CamembertForTokenClassification" : "CamembertForMaskedLM");
    float *pos = NULL, *q[2] = {NULL, NULL}, *k[2] = {NULL, NULL};
    for (int i = 0; s == SL_OK && i < N_GLOBAL_TENSORS; i++)
        s = random_tensor(&cs, &c, &sl_global_specs[i], 0, init_std, &rng, sl_global_specs[i].rows == DIM_POS ? &pos : NULL,
                          err);
    for (int l = 0; s == SL_OK && l < c.n_layer; l++)
        for (int i = 0; s == SL_OK && i < N_LAYER_TENSORS; i++)
            s = random_tensor(&cs, &c, &sl_layer_specs[i], l, init_std, &rng,
                              l < 2 && i == L_Q_W ? &q[l] : l < 2 && i == L_K_W ? &k[l] : NULL, err);
    for (int i = 0; s == SL_OK && n_labels && i < N_HEAD_TENSORS; i++)
        s = random_tensor(&cs, &c, &sl_head_specs[i], 0, init_std, &rng, NULL, err);
    for (int i = 0; s == SL_OK && !n_labels && i < N_MLM_TENSORS; i++) /* no labels: a pre-training model */
        s = random_tensor(&cs, &c, &sl_mlm_specs[i], 0, init_std, &rng, NULL, err);
    if (s == SL_OK && init && init->local_heads) {
        if (!pos || !q[0] || !k[0]) s = sl_fail(err, SL_ERR_ARGUMENT, "local heads: no position table or layer");
        else local_heads(&c, init_std, pos, q, k);
    }
    if (s == SL_OK) s = sl_gguf_writer_to_memory(cs.w, out_data, out_size, err);
    sl_gguf_writer_free(cs.w);
    for (int i = 0; i < cs.n_buffers; i++) free(cs.buffers[i]);
    free(cs.buffers);
    return s;
}

/* ---- label lists -------------------------------------------------------------------------------- */

void sl_labels_free(char **labels, int n) {
    for (int i = 0; labels && i < n; i++) free(labels[i]);
    free(labels);
}

static int has_prefix(const char *t) {
    return strlen(t) > 2 && strchr("BIESLU", t[0]) && (t[1] == '-' || t[1] == '_');
}

/* Expands entity types to O + B-/I- each, unless the names are already full labels. */
static sl_status expand_types(char **types, int n_types, char ***labels, int *n, sl_error *err) {
    int full = 0;
    for (int i = 0; i < n_types; i++) full |= strcmp(types[i], "O") == 0 || has_prefix(types[i]);
    int count = full ? n_types : 1 + 2 * n_types;
    char **out = calloc((size_t)count, sizeof *out);
    if (!out) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (int i = 0; i < count; i++) {
        char buf[256];
        if (full) snprintf(buf, sizeof buf, "%s", types[i]);
        else if (i == 0) snprintf(buf, sizeof buf, "O");
        else snprintf(buf, sizeof buf, "%c-%s", (i - 1) % 2 ? 'I' : 'B', types[(i - 1) / 2]);
        if (!(out[i] = strdup(buf))) {
            sl_labels_free(out, count);
            return sl_fail(err, SL_ERR_MEMORY, "no memory");
        }
    }
    *labels = out;
    *n = count;
    return SL_OK;
}

static sl_status add_type(char ***types, int *n, const char *t, size_t len, sl_error *err) {
    for (int i = 0; i < *n; i++)
        if (strlen((*types)[i]) == len && memcmp((*types)[i], t, len) == 0) return SL_OK;
    char **grown = realloc(*types, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    *types = grown;
    if (!((*types)[*n] = strndup(t, len))) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    (*n)++;
    return SL_OK;
}

sl_status sl_labels_from_list(const char *list, char ***labels, int *n, sl_error *err) {
    char **types = NULL;
    int n_types = 0;
    sl_status s = SL_OK;
    for (const char *p = list; s == SL_OK && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len > 200) {
            s = sl_fail(err, SL_ERR_ARGUMENT, "labels '%s': empty or overlong name at position %d", list, (int)(p - list));
            break;
        }
        s = add_type(&types, &n_types, p, len, err);
        p += len + (e != NULL);
    }
    if (s == SL_OK && n_types == 0) s = sl_fail(err, SL_ERR_ARGUMENT, "labels: the list is empty");
    if (s == SL_OK) s = expand_types(types, n_types, labels, n, err);
    sl_labels_free(types, n_types);
    return s;
}

sl_status sl_labels_from_conll(const char *path, char ***labels, int *n, sl_error *err) {
    sl_conll data; /* the CoNLL reader makes the label set: O, then B-X, I-X per type in order of appearance */
    sl_status s = sl_conll_read(path, NULL, &data, err);
    if (s != SL_OK) return s;
    if (data.labels.n_types == 0) s = sl_fail(err, SL_ERR_FORMAT, "%s: no entity tags found", path);
    char **out = s == SL_OK ? calloc((size_t)data.labels.n_labels, sizeof *out) : NULL;
    if (s == SL_OK && !out) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (int i = 0; s == SL_OK && i < data.labels.n_labels; i++)
        if (!(out[i] = strdup(data.labels.labels[i]))) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    if (s == SL_OK) {
        *labels = out;
        *n = data.labels.n_labels;
    } else {
        sl_labels_free(out, data.labels.n_labels);
    }
    sl_conll_free(&data);
    return s;
}

/* ---- a fresh classification head ------------------------------------------------------------------ */

/* A tensor's name as a C string in buf[256] (names in the file are not 0-terminated); an error naming the
   file when it is longer. */
static sl_status tensor_name(const sl_gguf_tensor *t, const char *file, char buf[256], sl_error *err) {
    if (t->name_len >= 256)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor name of %zu bytes is too long", file, t->name_len);
    memcpy(buf, t->name, t->name_len);
    buf[t->name_len] = 0;
    return SL_OK;
}

static int key_is(const sl_gguf_kv *kv, const char *key) {
    return kv->name_len == strlen(key) && !memcmp(kv->name, key, kv->name_len);
}

/* The writer's file: to out_path (atomically), or with out_path NULL to malloc'ed bytes. */
static sl_status write_model(sl_gguf_writer *w, const char *out_path, uint8_t **out_data, size_t *out_size,
                             sl_error *err) {
    return out_path ? sl_gguf_writer_write(w, out_path, err) : sl_gguf_writer_to_memory(w, out_data, out_size, err);
}

sl_status sl_model_file_with_transitions(const uint8_t *data, size_t size, const char *name,
                                         const float *transitions, float weight, const char *out_path,
                                         uint8_t **out_data, size_t *out_size, sl_error *err) {
    sl_gguf *g = NULL;
    sl_status s = sl_gguf_parse(data, size, name, &g, err);
    if (s != SL_OK) return s;
    const sl_gguf_kv *labels = sl_gguf_find_kv(g, "surligne.labels");
    const int n_labels = labels && labels->type == SL_GGUF_ARRAY ? (int)labels->arr_n : 0;
    sl_gguf_writer *w = sl_gguf_writer_new();
    if (!w)
        s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    else if (transitions && n_labels == 0)
        s = sl_fail(err, SL_ERR_ARGUMENT, "%s: the model has no labels", name);
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (!sl_gguf_is_transition_key(kv->name, kv->name_len) && !key_is(kv, "general.alignment"))
            sl_gguf_add_kv_copy(w, kv);
    }
    if (s == SL_OK && transitions) sl_gguf_add_transitions(w, transitions, n_labels, weight);
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_tensors(g); i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        char tn[256];
        if ((s = tensor_name(t, name, tn, err))) break;
        sl_gguf_add_tensor(w, tn, t->type, t->n_dims, t->ne, t->data);
    }
    if (s == SL_OK)
        s = write_model(w, out_path, out_data, out_size, err);
    sl_gguf_writer_free(w);
    sl_gguf_free(g);
    return s;
}

/* The layer of a tensor named "blk.N.rest": N, and *rest the text after "blk.N."; -1 for other tensors. */
static int layer_of(const char *tensor, const char **rest) {
    if (strncmp(tensor, "blk.", 4) || tensor[4] < '0' || tensor[4] > '9') return -1;
    char *end;
    const long l = strtol(tensor + 4, &end, 10);
    if (*end != '.' || l > INT_MAX) return -1;
    *rest = end + 1;
    return (int)l;
}

sl_status sl_model_stack(const uint8_t *data, size_t size, const char *name, const int *from, int n_layer,
                         const char *out_path, uint8_t **out_data, size_t *out_size, sl_error *err) {
    if (n_layer < 1 || n_layer > SL_MAX_STACK)
        return sl_fail(err, SL_ERR_ARGUMENT, "a model of %d layers: give 1 to %d", n_layer, SL_MAX_STACK);
    sl_gguf *g = NULL;
    sl_status s = sl_gguf_parse(data, size, name, &g, err);
    if (s != SL_OK) return s;
    uint32_t n_old = 0;
    s = sl_gguf_get_u32(g, "bert.block_count", &n_old, err);
    for (int j = 0; s == SL_OK && j < n_layer; j++)
        if (from[j] < 0 || from[j] >= (int)n_old)
            s = sl_fail(err, SL_ERR_ARGUMENT, "%s has layers 0 to %u: no layer %d (new layer %d)", name,
                        n_old - 1, from[j], j);
    sl_gguf_writer *w = s == SL_OK ? sl_gguf_writer_new() : NULL;
    if (s == SL_OK && !w) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (!key_is(kv, "general.alignment") && !key_is(kv, "bert.block_count")) sl_gguf_add_kv_copy(w, kv);
    }
    if (s == SL_OK) sl_gguf_add_u32(w, "bert.block_count", (uint32_t)n_layer);
    /* the tensors in the file's order, each layer's run of tensors written once per new layer made from it
       where the first tensor of the file's layer 0 stood */
    int written = 0;
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_tensors(g); i++) {
        char tn[256], out[300];
        const char *rest;
        if ((s = tensor_name(sl_gguf_tensor_at(g, i), name, tn, err))) break;
        if (layer_of(tn, &rest) < 0) {
            const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
            sl_gguf_add_tensor(w, tn, t->type, t->n_dims, t->ne, t->data);
            continue;
        }
        if (written) continue;
        written = 1;
        for (int j = 0; s == SL_OK && j < n_layer; j++)
            for (size_t k = 0; s == SL_OK && k < sl_gguf_n_tensors(g); k++) {
                if ((s = tensor_name(sl_gguf_tensor_at(g, k), name, tn, err))) continue;
                if (layer_of(tn, &rest) != from[j]) continue;
                const sl_gguf_tensor *t = sl_gguf_tensor_at(g, k);
                snprintf(out, sizeof out, "blk.%d.%s", j, rest);
                sl_gguf_add_tensor(w, out, t->type, t->n_dims, t->ne, t->data);
            }
    }
    if (s == SL_OK)
        s = write_model(w, out_path, out_data, out_size, err);
    sl_gguf_writer_free(w);
    sl_gguf_free(g);
    return s;
}

sl_status sl_model_with_fresh_head(const uint8_t *data, size_t size, const char *name, const char *const *labels,
                                   int n_labels, uint64_t seed, uint8_t **out_data, size_t *out_size, sl_error *err) {
    if (n_labels < 1) return sl_fail(err, SL_ERR_ARGUMENT, "%s: a fresh head needs labels", name);
    sl_gguf *g = NULL;
    sl_status s = sl_gguf_parse(data, size, name, &g, err);
    if (s != SL_OK) return s;
    uint32_t C = 0;
    if ((s = sl_gguf_get_u32(g, "bert.embedding_length", &C, err))) {
        sl_gguf_free(g);
        return s;
    }
    sl_gguf_writer *w = sl_gguf_writer_new();
    float *cls = calloc((size_t)n_labels * C + (size_t)n_labels, sizeof *cls);
    if (!w || !cls) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (!key_is(kv, "surligne.labels") && !key_is(kv, "surligne.source_architecture") &&
            !key_is(kv, "general.alignment"))
            sl_gguf_add_kv_copy(w, kv);
    }
    if (s == SL_OK) {
        sl_gguf_add_arr_str(w, "surligne.labels", labels, NULL, (uint64_t)n_labels);
        sl_gguf_add_str(w, "surligne.source_architecture", "CamembertForTokenClassification");
        for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
            const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
            char tn[128];
            snprintf(tn, sizeof tn, "%.*s", (int)(t->name_len < 127 ? t->name_len : 127), t->name);
            if (!strncmp(tn, "classifier.", 11) || !strncmp(tn, "mlm.", 4)) continue;
            sl_gguf_add_tensor(w, tn, t->type, t->n_dims, t->ne, t->data);
        }
        /* as Hugging Face initialises a new head: normal(0, 0.02) weights, zero bias */
        uint64_t rng = seed;
        fill_normal(cls, (size_t)n_labels * C, 0.02, &rng);
        const int64_t ne_w[2] = {C, n_labels}, ne_b[1] = {n_labels};
        sl_gguf_add_tensor(w, "classifier.weight", SL_GGML_F32, 2, ne_w, cls);
        sl_gguf_add_tensor(w, "classifier.bias", SL_GGML_F32, 1, ne_b, cls + (size_t)n_labels * C);
        s = sl_gguf_writer_to_memory(w, out_data, out_size, err);
    }
    sl_gguf_writer_free(w);
    free(cls);
    sl_gguf_free(g);
    return s;
}

/* ---- model files -------------------------------------------------------------------------------- */

/* The Linear weights of the encoder change type (85% of camembert-base, what the products read), and so
   does the word-embedding table: its rows are only gathered, so q8_0 buys no speed there, but it is a
   fifth of camembert-base and two thirds of a small model, and its size is what a page downloads. The
   position and type tables, LayerNorm weights and biases are small; the classifier (labels x C) is tiny
   and its output is the logits themselves. */
static int is_encoder_linear(const char *name, int n_dims, int n_layer) {
    char want[128];
    int layer;
    if (n_dims == 2 && !strcmp(name, sl_global_specs[T_TOK_EMBD].gguf)) return 1;
    if (n_dims != 2 || sscanf(name, "blk.%d.", &layer) != 1 || layer < 0 || layer >= n_layer) return 0;
    for (int i = 0; i < N_LAYER_TENSORS; i++) {
        if (sl_layer_specs[i].cols == DIM_NONE) continue;
        snprintf(want, sizeof want, sl_layer_specs[i].gguf, layer);
        if (!strcmp(want, name)) return 1;
    }
    return 0;
}

static void tensor_row_to_f32(const sl_gguf_tensor *t, int64_t row, float *dst) {
    const int64_t n = t->ne[0];
    sl_row_to_f32(t->type, t->data + (size_t)row * sl_ggml_nbytes(t->type, n), dst, n);
}

/* The tensor t in `type`, row by row through f32: malloc'ed bytes. */
static uint8_t *convert_tensor(const sl_gguf_tensor *t, uint32_t type) {
    const int64_t n = t->ne[0], rows = t->ne[1];
    uint8_t *out = malloc(sl_ggml_nbytes(type, n * rows));
    float *row = malloc((size_t)n * sizeof *row);
    if (!out || !row) {
        free(out);
        free(row);
        return NULL;
    }
    const size_t row_bytes = sl_ggml_nbytes(type, n);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *dst = out + (size_t)r * row_bytes;
        tensor_row_to_f32(t, r, row);
        sl_row_from_f32(type, row, dst, n);
    }
    free(row);
    return out;
}

sl_status sl_quantize_model(const uint8_t *data, size_t size, const char *name, uint32_t type,
                            uint32_t embd_type, const char *out_path, uint8_t **out_data, size_t *out_size,
                            sl_quantize_report *report, sl_error *err) {
    sl_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    if (type != SL_GGML_F32 && type != SL_GGML_F16 && type != SL_GGML_Q8_0)
        return sl_fail(err, SL_ERR_ARGUMENT,
                       "cannot quantise Linear weights to ggml type %u (%s): f32, f16 or q8_0", type,
                       sl_ggml_type_name(type));
    if (!sl_ggml_block_size(embd_type))
        return sl_fail(
            err, SL_ERR_ARGUMENT,
            "cannot quantise the word embeddings to ggml type %u (%s): f32, f16, q8_0, q5_0 or q4_0",
            embd_type, sl_ggml_type_name(embd_type));
    sl_gguf *g;
    sl_status s = sl_gguf_parse(data, size, name, &g, err);
    if (s != SL_OK) return s;
    uint32_t n_layer = 0;
    if ((s = sl_gguf_get_u32(g, "bert.block_count", &n_layer, err))) {
        sl_gguf_free(g);
        return s;
    }
    sl_gguf_writer *w = sl_gguf_writer_new();
    const size_t n_tensors = sl_gguf_n_tensors(g);
    uint8_t **owned = calloc(n_tensors ? n_tensors : 1, sizeof *owned);
    if (!w || !owned) {
        s = sl_fail(err, SL_ERR_MEMORY, "no memory");
        goto done;
    }
    for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (kv->name_len == 17 && !memcmp(kv->name, "general.file_type", 17)) continue;
        sl_gguf_add_kv_copy(w, kv);
    }
    /* ggml's llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7 */
    sl_gguf_add_u32(w, "general.file_type", type == SL_GGML_Q8_0 ? 7 : type == SL_GGML_F16 ? 1 : 0);
    for (size_t i = 0; i < n_tensors; i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        char tname[256];
        if ((s = tensor_name(t, name, tname, err))) goto done;
        const void *bytes = t->data;
        uint32_t ttype = t->type;
        const uint32_t want =
            t->n_dims == 2 && !strcmp(tname, sl_global_specs[T_TOK_EMBD].gguf) ? embd_type : type;
        if (is_encoder_linear(tname, t->n_dims, (int)n_layer) && t->type != want) {
            if (t->ne[0] % sl_ggml_block_size(want) != 0) {
                if (rep.n_kept++ == 0) snprintf(rep.first_kept, sizeof rep.first_kept, "%.95s", tname);
            } else {
                if (!(owned[i] = convert_tensor(t, want))) {
                    s = sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", tname);
                    goto done;
                }
                bytes = owned[i];
                ttype = want;
                rep.n_converted++;
            }
        }
        rep.bytes_in += t->nbytes;
        rep.bytes_out += sl_ggml_nbytes(ttype, t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        sl_gguf_add_tensor(w, tname, ttype, t->n_dims, t->ne, bytes);
    }
    s = write_model(w, out_path, out_data, out_size, err);
done:
    for (size_t i = 0; owned && i < n_tensors; i++) free(owned[i]);
    free(owned);
    sl_gguf_writer_free(w);
    sl_gguf_free(g);
    if (report) *report = rep;
    return s;
}

/* ---- averaging model files ------------------------------------------------------------------------- */

/* Whether two files name the same labels (both none counts as the same). */
static sl_status same_labels(const sl_gguf *a, const sl_gguf *b, const char *name_a, const char *name_b,
                             sl_error *err) {
    const sl_gguf_kv *ka = sl_gguf_find_kv(a, "surligne.labels"), *kb = sl_gguf_find_kv(b, "surligne.labels");
    const uint64_t na = ka ? ka->arr_n : 0, nb = kb ? kb->arr_n : 0;
    if (na != nb)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s has %llu labels, %s %llu: average models of one label set",
                       name_b, (unsigned long long)nb, name_a, (unsigned long long)na);
    for (uint64_t i = 0; i < na; i++) {
        const char *sa, *sb;
        size_t la, lb;
        sl_status s;
        if ((s = sl_gguf_arr_str(a, "surligne.labels", i, &sa, &la, err)) ||
            (s = sl_gguf_arr_str(b, "surligne.labels", i, &sb, &lb, err)))
            return s;
        if (la != lb || memcmp(sa, sb, la))
            return sl_fail(err, SL_ERR_ARGUMENT, "%s: label %llu is '%.*s', in %s '%.*s'", name_b,
                           (unsigned long long)i, (int)lb, sb, name_a, (int)la, sa);
    }
    return SL_OK;
}

sl_status sl_model_average(const uint8_t *const *data, const size_t *size, const char *const *names, int n,
                           const double *weights, const char *out_path, uint8_t **out_data, size_t *out_size,
                           sl_error *err) {
    if (n < 1) return sl_fail(err, SL_ERR_ARGUMENT, "averaging needs at least one model");
    double total = 0;
    for (int k = 0; k < n; k++) {
        const double wk = weights ? weights[k] : 1.0;
        if (!(wk > 0) || !isfinite(wk))
            return sl_fail(err, SL_ERR_ARGUMENT, "%s: weight %g: weights must be positive", names[k], wk);
        total += wk;
    }
    sl_gguf **g = calloc((size_t)n, sizeof *g);
    if (!g) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    sl_status s = SL_OK;
    for (int k = 0; s == SL_OK && k < n; k++) s = sl_gguf_parse(data[k], size[k], names[k], &g[k], err);
    for (int k = 1; s == SL_OK && k < n; k++) {
        s = same_labels(g[0], g[k], names[0], names[k], err);
        if (s == SL_OK && sl_gguf_n_tensors(g[k]) != sl_gguf_n_tensors(g[0]))
            s = sl_fail(err, SL_ERR_ARGUMENT, "%s has %zu tensors, %s %zu: average models of one shape",
                        names[k], sl_gguf_n_tensors(g[k]), names[0], sl_gguf_n_tensors(g[0]));
    }
    sl_gguf_writer *w = s == SL_OK ? sl_gguf_writer_new() : NULL;
    if (s == SL_OK && !w) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (size_t i = 0; s == SL_OK && i < sl_gguf_n_kv(g[0]); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g[0], i);
        if (!key_is(kv, "general.alignment") && !key_is(kv, "general.file_type")) sl_gguf_add_kv_copy(w, kv);
    }
    if (s == SL_OK) sl_gguf_add_u32(w, "general.file_type", 0); /* all f32, as ggml numbers it */
    const size_t n_tensors = s == SL_OK ? sl_gguf_n_tensors(g[0]) : 0;
    float **avg = calloc(n_tensors + 1, sizeof *avg);
    if (s == SL_OK && !avg) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (size_t i = 0; s == SL_OK && i < n_tensors; i++) {
        const sl_gguf_tensor *t0 = sl_gguf_tensor_at(g[0], i);
        char tn[256];
        if ((s = tensor_name(t0, names[0], tn, err))) break;
        int64_t count = 1;
        for (int d = 0; d < t0->n_dims; d++) count *= t0->ne[d];
        double *acc = calloc((size_t)count + 1, sizeof *acc);
        if (!acc || !(avg[i] = malloc((size_t)count * sizeof *avg[i] + 1))) {
            free(acc);
            s = sl_fail(err, SL_ERR_MEMORY, "no memory for tensor %s", tn);
            break;
        }
        for (int k = 0; s == SL_OK && k < n; k++) {
            const sl_gguf_tensor *t = sl_gguf_find_tensor(g[k], tn);
            if (!t) {
                s = sl_fail(err, SL_ERR_ARGUMENT, "%s has no tensor %s (%s has)", names[k], tn, names[0]);
                break;
            }
            int same = t->n_dims == t0->n_dims;
            for (int d = 0; same && d < t->n_dims; d++) same = t->ne[d] == t0->ne[d];
            if (!same) {
                s = sl_fail(err, SL_ERR_ARGUMENT, "%s: tensor %s has another shape than in %s", names[k], tn,
                            names[0]);
                break;
            }
            const double wk = (weights ? weights[k] : 1.0) / total;
            if (t->type == SL_GGML_F32) {
                const float *x = (const float *)t->data;
                for (int64_t j = 0; j < count; j++) acc[j] += wk * x[j];
            } else if (t->type == SL_GGML_F16) {
                const uint16_t *x = (const uint16_t *)t->data;
                for (int64_t j = 0; j < count; j++) acc[j] += wk * sl_fp16_to_fp32(x[j]);
            } else {
                s = sl_fail(
                    err, SL_ERR_ARGUMENT,
                    "%s: tensor %s is %s: average f32 or f16 models (quantize the average afterwards)",
                    names[k], tn, sl_ggml_type_name(t->type));
            }
        }
        for (int64_t j = 0; s == SL_OK && j < count; j++) avg[i][j] = (float)acc[j];
        free(acc);
        if (s == SL_OK) sl_gguf_add_tensor(w, tn, SL_GGML_F32, t0->n_dims, t0->ne, avg[i]);
    }
    if (s == SL_OK)
        s = write_model(w, out_path, out_data, out_size, err);
    for (size_t i = 0; avg && i < n_tensors; i++) free(avg[i]);
    free(avg);
    sl_gguf_writer_free(w);
    for (int k = 0; k < n; k++) sl_gguf_free(g[k]);
    free(g);
    return s;
}
