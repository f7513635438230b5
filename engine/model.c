#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "fileio.h"
#include "kernels.h"
#include "safetensors.h"
#include "simd.h"
#include "threads.h"

/* ---- the tensor table --------------------------------------------------------------------------- */

const sl_tensor_spec sl_global_specs[N_GLOBAL_TENSORS] = {
    [T_TOK_EMBD] = {"token_embd.weight", "embeddings.word_embeddings.weight", DIM_VOCAB, DIM_EMBD},
    [T_POS_EMBD] = {"position_embd.weight", "embeddings.position_embeddings.weight", DIM_POS, DIM_EMBD},
    [T_TYPE_EMBD] = {"token_types.weight", "embeddings.token_type_embeddings.weight", DIM_TYPE, DIM_EMBD},
    [T_EMBD_NORM_W] = {"token_embd_norm.weight", "embeddings.LayerNorm.weight", DIM_EMBD, DIM_NONE},
    [T_EMBD_NORM_B] = {"token_embd_norm.bias", "embeddings.LayerNorm.bias", DIM_EMBD, DIM_NONE},
};

const sl_tensor_spec sl_layer_specs[N_LAYER_TENSORS] = {
    [L_Q_W] = {"blk.%d.attn_q.weight", "encoder.layer.%d.attention.self.query.weight", DIM_EMBD, DIM_EMBD},
    [L_Q_B] = {"blk.%d.attn_q.bias", "encoder.layer.%d.attention.self.query.bias", DIM_EMBD, DIM_NONE},
    [L_K_W] = {"blk.%d.attn_k.weight", "encoder.layer.%d.attention.self.key.weight", DIM_EMBD, DIM_EMBD},
    [L_K_B] = {"blk.%d.attn_k.bias", "encoder.layer.%d.attention.self.key.bias", DIM_EMBD, DIM_NONE},
    [L_V_W] = {"blk.%d.attn_v.weight", "encoder.layer.%d.attention.self.value.weight", DIM_EMBD, DIM_EMBD},
    [L_V_B] = {"blk.%d.attn_v.bias", "encoder.layer.%d.attention.self.value.bias", DIM_EMBD, DIM_NONE},
    [L_O_W] = {"blk.%d.attn_output.weight", "encoder.layer.%d.attention.output.dense.weight", DIM_EMBD, DIM_EMBD},
    [L_O_B] = {"blk.%d.attn_output.bias", "encoder.layer.%d.attention.output.dense.bias", DIM_EMBD, DIM_NONE},
    [L_LN1_W] = {"blk.%d.attn_output_norm.weight", "encoder.layer.%d.attention.output.LayerNorm.weight", DIM_EMBD,
                 DIM_NONE},
    [L_LN1_B] = {"blk.%d.attn_output_norm.bias", "encoder.layer.%d.attention.output.LayerNorm.bias", DIM_EMBD,
                 DIM_NONE},
    [L_UP_W] = {"blk.%d.ffn_up.weight", "encoder.layer.%d.intermediate.dense.weight", DIM_FF, DIM_EMBD},
    [L_UP_B] = {"blk.%d.ffn_up.bias", "encoder.layer.%d.intermediate.dense.bias", DIM_FF, DIM_NONE},
    [L_DOWN_W] = {"blk.%d.ffn_down.weight", "encoder.layer.%d.output.dense.weight", DIM_EMBD, DIM_FF},
    [L_DOWN_B] = {"blk.%d.ffn_down.bias", "encoder.layer.%d.output.dense.bias", DIM_EMBD, DIM_NONE},
    [L_LN2_W] = {"blk.%d.layer_output_norm.weight", "encoder.layer.%d.output.LayerNorm.weight", DIM_EMBD, DIM_NONE},
    [L_LN2_B] = {"blk.%d.layer_output_norm.bias", "encoder.layer.%d.output.LayerNorm.bias", DIM_EMBD, DIM_NONE},
};

/* The token-classification head is ours (llama.cpp has none): named as in Hugging Face. */
const sl_tensor_spec sl_head_specs[N_HEAD_TENSORS] = {
    [H_CLS_W] = {"classifier.weight", "classifier.weight", DIM_LABELS, DIM_EMBD},
    [H_CLS_B] = {"classifier.bias", "classifier.bias", DIM_LABELS, DIM_NONE},
};

/* RobertaLMHead, under its Hugging Face names (top level, as RobertaForMaskedLM saves them; the decoder's
   weight and bias are tied to the word embeddings and to lm_head.bias, and not saved). */
const sl_tensor_spec sl_mlm_specs[N_MLM_TENSORS] = {
    [M_DENSE_W] = {"mlm.dense.weight", "lm_head.dense.weight", DIM_EMBD, DIM_EMBD},
    [M_DENSE_B] = {"mlm.dense.bias", "lm_head.dense.bias", DIM_EMBD, DIM_NONE},
    [M_NORM_W] = {"mlm.norm.weight", "lm_head.layer_norm.weight", DIM_EMBD, DIM_NONE},
    [M_NORM_B] = {"mlm.norm.bias", "lm_head.layer_norm.bias", DIM_EMBD, DIM_NONE},
    [M_BIAS] = {"mlm.bias", "lm_head.bias", DIM_VOCAB, DIM_NONE},
};

int64_t sl_dim_size(const sl_config *c, sl_dim d) {
    switch (d) {
    case DIM_NONE: return 1;
    case DIM_VOCAB: return c->n_vocab;
    case DIM_EMBD: return c->n_embd;
    case DIM_POS: return c->n_pos;
    case DIM_TYPE: return c->n_type;
    case DIM_FF: return c->n_ff;
    case DIM_LABELS: return c->n_labels;
    }
    return 0;
}

int sl_config_max_tokens(const sl_config *c) { return c->n_pos - c->pad_id - 1; }

/* ---- GGUF keys ---------------------------------------------------------------------------------- */

#define KEY_ARCH "general.architecture"
#define KEY_CTX "bert.context_length"
#define KEY_EMBD "bert.embedding_length"
#define KEY_FF "bert.feed_forward_length"
#define KEY_LAYERS "bert.block_count"
#define KEY_HEADS "bert.attention.head_count"
#define KEY_EPS "bert.attention.layer_norm_epsilon"
#define KEY_LABELS "surligne.labels"
#define KEY_TYPES "surligne.token_type_count"
#define KEY_SOURCE "surligne.source_architecture"
#define KEY_TRANSITIONS "surligne.label_transitions"
#define KEY_TRANSITION_WEIGHT "surligne.transition_weight"
#define KEY_TOK_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TOKTYPES "tokenizer.ggml.token_type"
#define KEY_CHARSMAP "tokenizer.ggml.precompiled_charsmap"

void sl_gguf_add_config(sl_gguf_writer *w, const sl_config *c, const char *const *labels, const sl_vocab *v,
                        const char *source_architecture) {
    sl_gguf_add_str(w, KEY_ARCH, "bert");
    sl_gguf_add_str(w, "general.name", "surligne");
    sl_gguf_add_u32(w, KEY_CTX, (uint32_t)c->n_pos);
    sl_gguf_add_u32(w, KEY_EMBD, (uint32_t)c->n_embd);
    sl_gguf_add_u32(w, KEY_FF, (uint32_t)c->n_ff);
    sl_gguf_add_u32(w, KEY_LAYERS, (uint32_t)c->n_layer);
    sl_gguf_add_u32(w, KEY_HEADS, (uint32_t)c->n_head);
    sl_gguf_add_f32(w, KEY_EPS, c->ln_eps);
    sl_gguf_add_bool(w, "bert.attention.causal", false);
    sl_gguf_add_u32(w, KEY_TYPES, (uint32_t)c->n_type);
    sl_gguf_add_str(w, KEY_SOURCE, source_architecture);
    sl_gguf_add_arr_str(w, KEY_LABELS, labels, NULL, (uint64_t)c->n_labels);
    /* SentencePiece unigram with a precompiled charsmap is what llama.cpp calls "t5" (its UGM tokenizer);
       ids are CamemBERT's fairseq layout, so the vocabulary is stored in id order. */
    sl_gguf_add_str(w, KEY_TOK_MODEL, "t5");
    sl_gguf_add_arr_str(w, KEY_TOKENS, v->pieces, v->piece_lens, (uint64_t)v->n_tokens);
    sl_gguf_add_arr(w, KEY_SCORES, SL_GGUF_FLOAT32, v->scores, (uint64_t)v->n_tokens);
    sl_gguf_add_arr(w, KEY_TOKTYPES, SL_GGUF_INT32, v->types, (uint64_t)v->n_tokens);
    sl_gguf_add_arr(w, KEY_CHARSMAP, SL_GGUF_UINT8, v->charsmap, (uint64_t)v->charsmap_len);
    sl_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk_id);
    sl_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos_id);
    sl_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos_id);
    sl_gguf_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad_id);
    sl_gguf_add_u32(w, "tokenizer.ggml.mask_token_id", (uint32_t)v->mask_id);
    sl_gguf_add_bool(w, "tokenizer.ggml.add_space_prefix", v->add_dummy_prefix);
    sl_gguf_add_bool(w, "tokenizer.ggml.remove_extra_whitespaces", v->remove_extra_whitespaces);
    sl_gguf_add_bool(w, "tokenizer.ggml.escape_whitespaces", v->escape_whitespaces);
}

/* ---- the model ---------------------------------------------------------------------------------- */

struct sl_model {
    sl_config cfg;
    char *name;
    uint8_t *file_data; /* owned when loaded from a file */
    int writable;       /* the q8_0 Linear weights may be packed over their own bytes (sl_model_load_writable) */
    sl_gguf *gguf;
    sl_weights w;
    float **owned; /* f32 copies of f16 tensors */
    int n_owned;
    const sl_gguf_tensor *first_quantised; /* the first quantised tensor (q8_0, q5_0 or q4_0), or NULL */
    sl_tokenizer *tok;
    sl_labelset labels;
    float *transitions; /* (n_labels + 1) x n_labels log-probabilities (sl_decoder), NULL when the file has
                           none */
    float transition_weight; /* their weight in Viterbi decoding */
    sl_context *own; /* the context of sl_recognize, sl_model_forward, sl_model_set_threads on the model */
};

/* What inference writes, per caller: the model stays read-only once loaded, so contexts of one model can run
   on several threads at once (whisper.cpp's context/state split). */
struct sl_context {
    const sl_model *model;
    sl_pool *pool;
    /* activations, sized for arena_tokens = B*T tokens and arena_T keys */
    float *arena;
    int arena_tokens, arena_T, arena_threads;
    sl_acts acts;
    sl_layer_acts *layer_acts; /* n_layer entries, all with the same buffers */
    /* recognize() scratch */
    sl_tokens tokens;
    int32_t *win_ids;
    float *win_logits, *scores;
    int scores_cap;
};

const sl_tokenizer *sl_model_tokenizer(const sl_model *m) { return m->tok; }
const sl_labelset *sl_model_labelset(const sl_model *m) { return &m->labels; }
const sl_config *sl_model_config(const sl_model *m) { return &m->cfg; }
const sl_gguf *sl_model_gguf(const sl_model *m) { return m->gguf; }
const sl_weights *sl_model_weights(const sl_model *m) { return &m->w; }
sl_status sl_model_require_f32(const sl_model *m, sl_error *err) {
    if (!m->first_quantised) return SL_OK;
    return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: tensor '%.*s' is %s: train from an f32/f16 model", m->name,
                   (int)m->first_quantised->name_len, m->first_quantised->name,
                   sl_ggml_type_name(m->first_quantised->type));
}
sl_pool *sl_model_pool(sl_model *m) { return m->own->pool; }
int sl_model_n_labels(const sl_model *m) { return m ? m->cfg.n_labels : 0; }
const char *sl_model_label(const sl_model *m, int i) {
    return m && i >= 0 && i < m->labels.n_labels ? m->labels.labels[i] : NULL;
}
int sl_model_max_tokens(const sl_model *m) { return m ? sl_config_max_tokens(&m->cfg) : 0; }

/* The rule recogniser's types after the model's, each once: i-th of them, or its count when i < 0. */
static int rule_type(const sl_model *m, int i, const char **type) {
    int n = 0;
    for (const char *const *r = sl_rule_types; *r; r++) {
        int own = 0;
        for (int t = 0; t < m->labels.n_types && !own; t++) own = !strcmp(m->labels.types[t], *r);
        if (!own && n++ == i) *type = *r;
    }
    return n;
}
int sl_model_n_types(const sl_model *m) { return m ? m->labels.n_types + rule_type(m, -1, NULL) : 0; }
const char *sl_model_type(const sl_model *m, int i) {
    const char *type = NULL;
    if (!m || i < 0) return NULL;
    if (i < m->labels.n_types) return m->labels.types[i];
    rule_type(m, i - m->labels.n_types, &type);
    return type;
}

void sl_model_free(sl_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->w.layers);
    if (m->w.q8_layers)
        for (int i = 0; i < m->cfg.n_layer * N_LAYER_TENSORS; i++) sl_q8_packed_free(m->w.q8_layers[i]);
    free(m->w.q8_layers);
    for (int i = 0; i < N_HEAD_TENSORS; i++) sl_q8_packed_free(m->w.q8_head[i]);
    sl_context_free(m->own);
    sl_tokenizer_free(m->tok);
    sl_labelset_free(&m->labels);
    free(m->transitions);
    sl_gguf_free(m->gguf);
    free(m->file_data);
    free(m->name);
    free(m);
}

sl_status sl_context_create(const sl_model *m, sl_context **out, sl_error *err) {
    if (!out) return sl_fail(err, SL_ERR_ARGUMENT, "sl_context_create: out is NULL");
    *out = NULL;
    if (!m) return sl_fail(err, SL_ERR_ARGUMENT, "sl_context_create: no model");
    sl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx || !(ctx->layer_acts = calloc((size_t)m->cfg.n_layer, sizeof *ctx->layer_acts))) {
        free(ctx);
        return sl_fail(err, SL_ERR_MEMORY, "no memory for a context");
    }
    ctx->model = m;
    *out = ctx;
    return SL_OK;
}

void sl_context_free(sl_context *ctx) {
    if (!ctx) return;
    sl_pool_free(ctx->pool);
    free(ctx->arena);
    free(ctx->acts.mask);
    free(ctx->acts.pos);
    free(ctx->layer_acts);
    sl_tokens_free(&ctx->tokens);
    free(ctx->win_ids);
    free(ctx->win_logits);
    free(ctx->scores);
    free(ctx);
}

enum { SL_MAX_ACTIVATION_MB = 2048 }; /* a base model needs 31 MB for 512 tokens */

static sl_status get_dim(const sl_gguf *g, const char *key, int *out, sl_error *err) {
    uint32_t v;
    sl_status s = sl_gguf_get_u32(g, key, &v, err);
    if (s != SL_OK) return s;
    if (v == 0 || v > (1u << 24)) return sl_fail(err, SL_ERR_FORMAT, "key '%s' = %u is out of range", key, v);
    *out = (int)v;
    return SL_OK;
}

/* Whether another tensor of the file has bytes in t's range. GGUF lets tensors share data (offsets are
   free): such a tensor is not packed over its own bytes, which the other one still reads. */
static int shares_bytes(const sl_gguf *g, const sl_gguf_tensor *t) {
    for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
        const sl_gguf_tensor *u = sl_gguf_tensor_at(g, i);
        if (u != t && u->nbytes && t->nbytes && u->data < t->data + t->nbytes && t->data < u->data + u->nbytes)
            return 1;
    }
    return 0;
}

/* Finds a tensor, checks its shape against the config, and gives an f32 pointer to its data (in place
   for F32, a converted copy for F16). A Linear weight (packed not NULL) may also be q8_0: then it is packed
   for the kernels into *packed and *out is NULL. The word embeddings (blocks_out not NULL) may be q8_0, q5_0
   or q4_0: then *blocks_out points at their blocks in place, *blocks_type is their type and *out is NULL. The
   position and type tables, LayerNorms and biases must be f32 or f16: they are small, and rounding them buys
   nothing. */
static sl_status bind_tensor(sl_model *m, const sl_tensor_spec *spec, int layer, const float **out,
                             const void **blocks_out, uint32_t *blocks_type, sl_q8_packed **packed,
                             sl_error *err) {
    char name[128];
    snprintf(name, sizeof name, spec->gguf, layer);
    const sl_gguf_tensor *t = sl_gguf_find_tensor(m->gguf, name);
    if (!t) return sl_fail(err, SL_ERR_FORMAT, "tensor '%s' is missing", name);
    int64_t rows = sl_dim_size(&m->cfg, spec->rows), cols = sl_dim_size(&m->cfg, spec->cols);
    /* ggml order: ne[0] is the fastest dimension, PyTorch's last */
    int want_dims = spec->cols == DIM_NONE ? 1 : 2;
    int64_t ne0 = spec->cols == DIM_NONE ? rows : cols, ne1 = spec->cols == DIM_NONE ? 1 : rows;
    if (t->n_dims != want_dims || t->ne[0] != ne0 || (want_dims == 2 && t->ne[1] != ne1))
        return sl_fail(err, SL_ERR_SHAPE, "tensor '%s' has %d dims [%lld, %lld], expected [%lld, %lld] from the config",
                       name, t->n_dims, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                       (long long)ne0, (long long)ne1);
    size_t n = (size_t)(ne0 * ne1);
    if (t->type == SL_GGML_F32) {
        *out = (const float *)t->data;
        return SL_OK;
    }
    const int quantised = t->type == SL_GGML_Q8_0 || t->type == SL_GGML_Q5_0 || t->type == SL_GGML_Q4_0;
    if (quantised && blocks_out) { /* the parser checked that ne[0] is a multiple of 32 */
        *blocks_out = t->data;
        *blocks_type = t->type;
        *out = NULL;
        if (!m->first_quantised) m->first_quantised = t;
        return SL_OK;
    }
    if (t->type == SL_GGML_Q8_0 && packed) {
        const sl_block_q8_0 *blocks = (const sl_block_q8_0 *)(const void *)t->data;
        const int group = sl_q8_kernels_best()->group;
        if (!(m->writable && !shares_bytes(m->gguf, t) &&
              (*packed =
                   sl_q8_pack_in_place((sl_block_q8_0 *)(uintptr_t)blocks, (int)ne1, (int)ne0, group))) &&
            !(*packed = sl_q8_pack(blocks, (int)ne1, (int)ne0, group)))
            return sl_fail(err, SL_ERR_MEMORY, "no memory to pack tensor '%s'", name);
        *out = NULL;
        if (!m->first_quantised) m->first_quantised = t;
        return SL_OK;
    }
    if (t->type != SL_GGML_F16)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "tensor '%s' has type %s; %s", name,
                       sl_ggml_type_name(t->type),
                       quantised ? "only the word embeddings may be q4_0 or q5_0, and Linear weights q8_0"
                                 : "this build reads f32, f16, q8_0, q5_0 and q4_0");
    float *f = malloc(n * sizeof *f);
    float **owned = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *owned);
    if (!f || !owned) {
        free(f);
        if (owned) m->owned = owned;
        return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", name);
    }
    m->owned = owned;
    m->owned[m->n_owned++] = f;
    sl_to_f32(SL_DT_F16, t->data, f, n);
    *out = f;
    return SL_OK;
}

static sl_status load_tokenizer(sl_model *m, sl_error *err) {
    sl_status s = sl_tokenizer_from_gguf(m->gguf, &m->tok, err);
    if (s) return s;
    const int n = sl_tokenizer_n_tokens(m->tok), pad = sl_tokenizer_special_ids(m->tok).pad;
    if (n != m->cfg.n_vocab)
        return sl_fail(err, SL_ERR_SHAPE, "key '%s' has %d tokens, but token_embd.weight has %d rows",
                       KEY_TOKENS, n, m->cfg.n_vocab);
    if (pad != m->cfg.pad_id)
        return sl_fail(err, SL_ERR_FORMAT, "padding token id %d differs from the model's %d", pad,
                       m->cfg.pad_id);
    return SL_OK;
}

static sl_status load_labels(sl_model *m, sl_error *err) {
    const sl_gguf_kv *kv = sl_gguf_find_kv(m->gguf, KEY_LABELS);
    if (!kv) return sl_fail(err, SL_ERR_FORMAT, "key '%s' is missing", KEY_LABELS);
    /* empty: no classifier (a pre-trained encoder with its MLM head) */
    if (kv->type != SL_GGUF_ARRAY || kv->arr_type != SL_GGUF_STRING || kv->arr_n > 4096)
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' must be an array of at most 4096 strings", KEY_LABELS);
    int n = (int)kv->arr_n;
    m->cfg.n_labels = n;
    if (n == 0) return SL_OK;
    char **names = calloc((size_t)n, sizeof *names);
    sl_status s = names ? SL_OK : sl_fail(err, SL_ERR_MEMORY, "no memory for labels");
    for (int i = 0; s == SL_OK && i < n; i++) {
        const char *p;
        size_t len;
        s = sl_gguf_arr_str(m->gguf, KEY_LABELS, (uint64_t)i, &p, &len, err);
        if (s == SL_OK && !(names[i] = strndup(p, len))) s = sl_fail(err, SL_ERR_MEMORY, "no memory for labels");
    }
    if (s == SL_OK) s = sl_labelset_init(&m->labels, (const char *const *)names, n, err);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    return s;
}

void sl_gguf_add_transitions(sl_gguf_writer *w, const float *transitions, int n_labels, float weight) {
    sl_gguf_add_arr(w, KEY_TRANSITIONS, SL_GGUF_FLOAT32, transitions, (uint64_t)(n_labels + 1) * n_labels);
    sl_gguf_add_f32(w, KEY_TRANSITION_WEIGHT, weight);
}

int sl_gguf_is_transition_key(const char *name, size_t len) {
    return (len == strlen(KEY_TRANSITIONS) && !memcmp(name, KEY_TRANSITIONS, len)) ||
           (len == strlen(KEY_TRANSITION_WEIGHT) && !memcmp(name, KEY_TRANSITION_WEIGHT, len));
}

/* The optional label transitions: (n_labels + 1) x n_labels finite log-probabilities (<= 0) and their weight
   (default 1), or neither. */
static sl_status load_transitions(sl_model *m, sl_error *err) {
    const int L = m->cfg.n_labels;
    const sl_gguf_kv *kv = sl_gguf_find_kv(m->gguf, KEY_TRANSITIONS);
    m->transition_weight = 1;
    if (sl_gguf_find_kv(m->gguf, KEY_TRANSITION_WEIGHT)) {
        sl_status s = sl_gguf_get_f32(m->gguf, KEY_TRANSITION_WEIGHT, &m->transition_weight, err);
        if (s != SL_OK) return s;
        if (!(m->transition_weight >= 0 && m->transition_weight <= 100))
            return sl_fail(err, SL_ERR_FORMAT, "key '%s' is %g: expected a weight in [0, 100]",
                           KEY_TRANSITION_WEIGHT, (double)m->transition_weight);
    }
    if (!kv) return SL_OK;
    const void *data;
    uint64_t n;
    sl_status s = sl_gguf_get_arr(m->gguf, KEY_TRANSITIONS, SL_GGUF_FLOAT32, &data, &n, err);
    if (s != SL_OK) return s;
    if (L == 0 || n != (uint64_t)(L + 1) * L)
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' holds %llu values: expected (%d labels + 1) x %d",
                       KEY_TRANSITIONS, (unsigned long long)n, L, L);
    if (!(m->transitions = malloc((size_t)n * sizeof *m->transitions)))
        return sl_fail(err, SL_ERR_MEMORY, "no memory for the label transitions");
    memcpy(m->transitions, data, (size_t)n * sizeof *m->transitions); /* GGUF arrays are not aligned */
    for (uint64_t i = 0; i < n; i++)
        if (!(m->transitions[i] <= 0 && isfinite(m->transitions[i])))
            return sl_fail(err, SL_ERR_FORMAT,
                           "key '%s': value %llu (after label %d, to label %d) is %g, not a log-probability",
                           KEY_TRANSITIONS, (unsigned long long)i, (int)(i / L) - 1, (int)(i % L),
                           (double)m->transitions[i]);
    return SL_OK;
}

sl_decoder sl_model_decoder(const sl_model *m, sl_decoding mode) {
    sl_decoder d = {mode, m->transitions, m->transitions ? m->transition_weight : 0};
    return d;
}

static sl_status load_gguf(sl_model *m, const uint8_t *data, size_t size, sl_error *err) {
    sl_status s = sl_gguf_parse(data, size, m->name, &m->gguf, err);
    if (s != SL_OK) return s; /* the parser names the file */
    const sl_gguf *g = m->gguf;
    const char *arch;
    size_t arch_len;
    if ((s = sl_gguf_get_str(g, KEY_ARCH, &arch, &arch_len, err))) return s;
    if (arch_len != 4 || memcmp(arch, "bert", 4) != 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (expected 'bert')",
                       (int)(arch_len > 64 ? 64 : arch_len), arch);
    sl_config *c = &m->cfg;
    if ((s = get_dim(g, KEY_CTX, &c->n_pos, err)) || (s = get_dim(g, KEY_EMBD, &c->n_embd, err)) ||
        (s = get_dim(g, KEY_FF, &c->n_ff, err)) || (s = get_dim(g, KEY_LAYERS, &c->n_layer, err)) ||
        (s = get_dim(g, KEY_HEADS, &c->n_head, err)) || (s = get_dim(g, KEY_TYPES, &c->n_type, err)) ||
        (s = sl_gguf_get_f32(g, KEY_EPS, &c->ln_eps, err)))
        return s;
    if (c->n_embd % c->n_head != 0)
        return sl_fail(err, SL_ERR_FORMAT, "embedding length %d is not a multiple of the head count %d", c->n_embd,
                       c->n_head);
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' = %g is out of range", KEY_EPS, c->ln_eps);
    /* each layer is N_LAYER_TENSORS tensors: a count the file cannot hold is refused before the per-layer
       tables (two pointers a tensor) are allocated from it */
    if ((size_t)c->n_layer * N_LAYER_TENSORS > sl_gguf_n_tensors(g))
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' = %d needs %zu tensors, the file has %zu", KEY_LAYERS,
                       c->n_layer, (size_t)c->n_layer * N_LAYER_TENSORS, sl_gguf_n_tensors(g));
    uint32_t pad;
    if ((s = sl_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &pad, err))) return s;
    c->pad_id = (int)pad;
    if (c->n_pos < c->pad_id + 3)
        return sl_fail(err, SL_ERR_FORMAT, "position table (%d rows) too small for padding id %d", c->n_pos,
                       c->pad_id);
    /* the activations of one window of the longest input the position table allows: the file's tensors
       bound the weights, not these (a small file can declare a huge FFN width or head count) */
    const double window = c->n_pos - c->pad_id - 1,
                 act_mb = window * (8.0 * c->n_embd + c->n_ff + (double)c->n_head * window) * 4 / (1 << 20);
    if (act_mb > SL_MAX_ACTIVATION_MB)
        return sl_fail(err, SL_ERR_FORMAT,
                       "the model needs %.0f MB of activations for a window of %.0f tokens (hidden %d, "
                       "intermediate %d, %d heads): more than %d MB",
                       act_mb, window, c->n_embd, c->n_ff, c->n_head, SL_MAX_ACTIVATION_MB);
    const sl_gguf_tensor *te = sl_gguf_find_tensor(g, "token_embd.weight");
    if (!te || te->n_dims != 2) return sl_fail(err, SL_ERR_FORMAT, "tensor 'token_embd.weight' is missing or not 2-D");
    if (te->ne[1] <= 0 || te->ne[1] > (1 << 24)) return sl_fail(err, SL_ERR_FORMAT, "bad vocabulary size");
    c->n_vocab = (int)te->ne[1];
    if ((s = load_labels(m, err)) || (s = load_transitions(m, err))) return s;
    for (int i = 0; i < N_GLOBAL_TENSORS; i++)
        if ((s = bind_tensor(m, &sl_global_specs[i], 0, &m->w.global[i],
                             i == T_TOK_EMBD ? &m->w.tok_embd_rows : NULL, &m->w.tok_embd_type, NULL, err)))
            return s;
    m->w.layers = calloc((size_t)c->n_layer * N_LAYER_TENSORS, sizeof *m->w.layers);
    m->w.q8_layers = calloc((size_t)c->n_layer * N_LAYER_TENSORS, sizeof *m->w.q8_layers);
    if (!m->w.layers || !m->w.q8_layers) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    /* the 2-D tensors of a layer and of the head are its Linear weights */
    for (int l = 0; l < c->n_layer; l++)
        for (int i = 0; i < N_LAYER_TENSORS; i++) {
            const int k = l * N_LAYER_TENSORS + i;
            if ((s = bind_tensor(m, &sl_layer_specs[i], l, &m->w.layers[k], NULL, NULL,
                                 sl_layer_specs[i].cols != DIM_NONE ? &m->w.q8_layers[k] : NULL, err)))
                return s;
        }
    for (int i = 0; c->n_labels > 0 && i < N_HEAD_TENSORS; i++)
        if ((s = bind_tensor(m, &sl_head_specs[i], 0, &m->w.head[i], NULL, NULL,
                             sl_head_specs[i].cols != DIM_NONE ? &m->w.q8_head[i] : NULL, err)))
            return s;
    c->has_mlm = sl_gguf_find_tensor(g, sl_mlm_specs[M_BIAS].gguf) != NULL;
    for (int i = 0; c->has_mlm && i < N_MLM_TENSORS; i++)
        if ((s = bind_tensor(m, &sl_mlm_specs[i], 0, &m->w.mlm[i], NULL, NULL, NULL, err))) return s;
    if (c->n_labels == 0 && !c->has_mlm)
        return sl_fail(err, SL_ERR_FORMAT, "no head: key '%s' is empty and tensor '%s' is missing", KEY_LABELS,
                       sl_mlm_specs[M_BIAS].gguf);
    if (!m->first_quantised) { /* all f32: the forward pass takes the f32 products only */
        free(m->w.q8_layers);
        m->w.q8_layers = NULL;
    }
    return load_tokenizer(m, err);
}

static sl_status load_model(const void *data, size_t size, const char *name, int writable, sl_model **out,
                            sl_error *err) {
    if (!out) return sl_fail(err, SL_ERR_ARGUMENT, "no place for the model (out is NULL)");
    *out = NULL;
    if (!data) return sl_fail(err, SL_ERR_ARGUMENT, "no model bytes (data is NULL)");
    sl_model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name ? name : "model"))) {
        free(m);
        return sl_fail(err, SL_ERR_MEMORY, "no memory for the model");
    }
    m->writable = writable;
    sl_status s = load_gguf(m, data, size, err);
    if (s == SL_OK) s = sl_context_create(m, &m->own, err);
    if (s != SL_OK) {
        if (!strstr(err->message, m->name)) sl_fail_context(err, "%s", m->name);
        sl_model_free(m);
        return s;
    }
    *out = m;
    return SL_OK;
}

/* The public entry points accept a NULL err: the messages are then written here and dropped (the internal
   functions may read back the message they wrote, so they always get an sl_error). */
sl_status sl_model_load_memory(const void *data, size_t size, const char *name, sl_model **out, sl_error *err) {
    sl_error dropped;
    return load_model(data, size, name, 0, out, err ? err : &dropped);
}

sl_status sl_model_load_writable(void *data, size_t size, const char *name, sl_model **out, sl_error *err) {
    sl_error dropped;
    return load_model(data, size, name, 1, out, err ? err : &dropped);
}

sl_status sl_model_load_file(const char *path, sl_model **out, sl_error *err) {
    sl_error dropped;
    if (!err) err = &dropped;
    if (!out) return sl_fail(err, SL_ERR_ARGUMENT, "no place for the model (out is NULL)");
    *out = NULL;
    if (!path) return sl_fail(err, SL_ERR_ARGUMENT, "no model file (path is NULL)");
    uint8_t *data;
    size_t size;
    sl_status s = sl_read_file(path, &data, &size, err);
    if (s != SL_OK) return s;
    s = sl_model_load_writable(data, size, path, out, err);
    if (s != SL_OK) {
        free(data);
        return s;
    }
    (*out)->file_data = data;
    return SL_OK;
}

static sl_status context_set_threads(sl_context *ctx, int n_threads, sl_error *err) {
    if (n_threads < 1) n_threads = 1;
    if (sl_pool_n_threads(ctx->pool) == n_threads) return SL_OK;
    sl_pool_free(ctx->pool);
    ctx->pool = NULL;
    if (n_threads > 1 && !(ctx->pool = sl_pool_create(n_threads)))
        return sl_fail(err, SL_ERR_MEMORY, "cannot start %d threads", n_threads);
    return SL_OK;
}

sl_status sl_model_set_threads(sl_model *m, int n_threads, sl_error *err) {
    return context_set_threads(m->own, n_threads, err);
}

/* ---- forward ------------------------------------------------------------------------------------ */

/* Sizes the inference arena for n_tokens = B*T rows and T keys: one allocation, carved into the buffers
   that every layer shares (the forward pass never needs a layer's activations after the next layer). */
static sl_status ensure_arena(sl_context *ctx, int n_tokens, int T, sl_error *err) {
    const sl_model *m = ctx->model;
    int threads = sl_pool_n_threads(ctx->pool);
    if (n_tokens <= ctx->arena_tokens && T <= ctx->arena_T && threads <= ctx->arena_threads) return SL_OK;
    if (n_tokens < ctx->arena_tokens) n_tokens = ctx->arena_tokens;
    if (T < ctx->arena_T) T = ctx->arena_T;
    const size_t C = (size_t)m->cfg.n_embd, F = (size_t)m->cfg.n_ff, N = (size_t)n_tokens;
    const size_t q8_floats =
        m->first_quantised
            ? (matmul_q8_0_scratch_size((int)N, (int)(F > C ? F : C)) + sizeof(float) - 1) / sizeof(float)
            : 0;
    size_t total = 7 * N * C + N * F + (size_t)threads * T + q8_floats;
    float *a = malloc(total * sizeof *a);
    uint8_t *mask = malloc(N);
    int32_t *pos = malloc(N * sizeof *pos);
    if (!a || !mask || !pos) {
        free(a);
        free(mask);
        free(pos);
        return sl_fail(err, SL_ERR_MEMORY, "no memory for activations of %d tokens", n_tokens);
    }
    free(ctx->arena);
    free(ctx->acts.mask);
    free(ctx->acts.pos);
    ctx->arena = a;
    float *x = a, *q = x + N * C, *k = q + N * C, *v = k + N * C, *att = v + N * C, *res = att + N * C,
          *ln = res + N * C, *ff = ln + N * C, *scratch = ff + N * F;
    /* x: each layer's input and output; res: both residual sums; ff: GELU in place */
    for (int l = 0; l < m->cfg.n_layer; l++)
        ctx->layer_acts[l] = (sl_layer_acts){.q = q, .k = k, .v = v, .ctx = att, .res1 = res, .ln1 = ln,
                                           .ff_pre = ff, .ff_act = ff, .res2 = res, .out = x};
    ctx->acts = (sl_acts){.mask = mask, .pos = pos, .emb = x, .x0 = x, .layers = ctx->layer_acts,
                          .scratch = scratch, .q8_scratch = q8_floats ? scratch + (size_t)threads * T : NULL};
    ctx->arena_tokens = n_tokens;
    ctx->arena_T = T;
    ctx->arena_threads = threads;
    return SL_OK;
}

sl_dropout sl_dropout_site(const sl_dropout_rates *r, int site, float p, uint64_t per_row) {
    sl_dropout d = {0, 0, 0};
    if (r && p > 0) d = (sl_dropout){p, sl_hash64(r->seed * 0x100000001b3ull + (uint64_t)site), r->row0 * per_row};
    return d;
}

/* A Linear layer, out (M,N) = inp (M,K) . W (N,K)^T + bias, with W in f32 or (wq not NULL) in q8_0; then
   GELU in place when `gelu` (the q8_0 product applies it tile by tile, while the tile is in cache). */
static void linear_forward(float *out, const float *inp, const float *w, const sl_q8_packed *wq, const float *bias,
                           int M, int N, int K, int gelu, const sl_acts *a, sl_pool *pool) {
    if (wq) {
        matmul_q8_0_forward(out, inp, wq, bias, M, gelu, a->q8_scratch, pool);
    } else {
        matmul_forward(out, inp, w, bias, M, N, K, pool);
        if (gelu) gelu_forward(out, out, (int64_t)M * N, pool);
    }
}

void sl_encoder_forward(const sl_config *c, const sl_weights *w, const int32_t *ids, int B, int T, sl_acts *a,
                        float *logits, const sl_dropout_rates *drop, sl_pool *pool) {
    const int C = c->n_embd, NH = c->n_head, F = c->n_ff, L = c->n_labels, N = B * T;
    const float hidden = drop ? drop->hidden : 0;
    /* RoBERTa position ids: the running count of real tokens, offset by the padding id; pads sit at it. */
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int t = 0; t < T; t++) {
            int real = ids[b * T + t] != c->pad_id;
            count += real;
            a->mask[b * T + t] = (uint8_t)real;
            a->pos[b * T + t] = real ? count + c->pad_id : c->pad_id;
        }
    }
    /* embeddings: emb (N,C) = word + type 0 + position, LayerNorm, dropout */
    for (int i = 0; i < N; i++) {
        const float *we = w->global[T_TOK_EMBD] ? w->global[T_TOK_EMBD] + (size_t)ids[i] * C : NULL;
        if (!we) { /* a quantised table: the row is dequantised into the output first */
            sl_row_to_f32(w->tok_embd_type,
                          (const uint8_t *)w->tok_embd_rows +
                              (size_t)ids[i] * sl_ggml_nbytes(w->tok_embd_type, C),
                          a->emb + (size_t)i * C, C);
            we = a->emb + (size_t)i * C;
        }
        const float *pe = w->global[T_POS_EMBD] + (size_t)a->pos[i] * C;
        const float *te = w->global[T_TYPE_EMBD];
        float *x = a->emb + (size_t)i * C;
        for (int j = 0; j < C; j++) x[j] = (we[j] + te[j]) + pe[j];
    }
    layernorm_forward(a->x0, a->emb_mean, a->emb_rstd, a->emb, w->global[T_EMBD_NORM_W], w->global[T_EMBD_NORM_B],
                      N, C, c->ln_eps, pool);
    sl_dropout d = sl_dropout_site(drop, SITE_EMBD, hidden, (uint64_t)T * C);
    dropout_forward(a->x0, (int64_t)N * C, &d, pool);

    for (int l = 0; l < c->n_layer; l++) {
        const float *const *lw = &w->layers[l * N_LAYER_TENSORS];
        sl_q8_packed *const *lq = w->q8_layers ? &w->q8_layers[l * N_LAYER_TENSORS] : NULL;
#define Q8(i) (lq ? lq[i] : NULL)
        sl_layer_acts *la = &a->layers[l];
        const float *in = l == 0 ? a->x0 : a->layers[l - 1].out;
        const int site = SITE_LAYER + 3 * l;
        if (Q8(L_Q_W) && Q8(L_K_W) && Q8(L_V_W)) { /* one quantisation of in, one run of the threads */
            float *const out[3] = {la->q, la->k, la->v};
            const sl_q8_packed *const qkv[3] = {Q8(L_Q_W), Q8(L_K_W), Q8(L_V_W)};
            const float *const bias[3] = {lw[L_Q_B], lw[L_K_B], lw[L_V_B]};
            matmul_q8_0_forward_n(3, out, in, qkv, bias, N, a->q8_scratch, pool);
        } else {
            linear_forward(la->q, in, lw[L_Q_W], Q8(L_Q_W), lw[L_Q_B], N, C, C, 0, a, pool);
            linear_forward(la->k, in, lw[L_K_W], Q8(L_K_W), lw[L_K_B], N, C, C, 0, a, pool);
            linear_forward(la->v, in, lw[L_V_W], Q8(L_V_W), lw[L_V_B], N, C, C, 0, a, pool);
        }
        d = sl_dropout_site(drop, site, drop ? drop->attention : 0, (uint64_t)NH * T * T);
        attention_forward(la->ctx, la->probs, la->q, la->k, la->v, a->mask, B, T, C, NH, &d, a->scratch, pool);
        linear_forward(la->res1, la->ctx, lw[L_O_W], Q8(L_O_W), lw[L_O_B], N, C, C, 0, a, pool);
        d = sl_dropout_site(drop, site + 1, hidden, (uint64_t)T * C);
        dropout_forward(la->res1, (int64_t)N * C, &d, pool);
        residual_forward(la->res1, in, (int64_t)N * C, pool);
        layernorm_forward(la->ln1, la->ln1_mean, la->ln1_rstd, la->res1, lw[L_LN1_W], lw[L_LN1_B], N, C, c->ln_eps, pool);
        if (la->ff_act == la->ff_pre) { /* inference: GELU in place */
            linear_forward(la->ff_act, la->ln1, lw[L_UP_W], Q8(L_UP_W), lw[L_UP_B], N, F, C, 1, a, pool);
        } else { /* training keeps the input of GELU for the backward pass */
            linear_forward(la->ff_pre, la->ln1, lw[L_UP_W], Q8(L_UP_W), lw[L_UP_B], N, F, C, 0, a, pool);
            gelu_forward(la->ff_act, la->ff_pre, (int64_t)N * F, pool);
        }
        linear_forward(la->res2, la->ff_act, lw[L_DOWN_W], Q8(L_DOWN_W), lw[L_DOWN_B], N, C, F, 0, a, pool);
#undef Q8
        d = sl_dropout_site(drop, site + 2, hidden, (uint64_t)T * C);
        dropout_forward(la->res2, (int64_t)N * C, &d, pool);
        residual_forward(la->res2, la->ln1, (int64_t)N * C, pool);
        layernorm_forward(la->out, la->out_mean, la->out_rstd, la->res2, lw[L_LN2_W], lw[L_LN2_B], N, C, c->ln_eps, pool);
    }
    const float *top = a->layers[c->n_layer - 1].out;
    if (!logits) return;
    if (a->cls_in) {
        memcpy(a->cls_in, top, (size_t)N * C * sizeof(float));
        d = sl_dropout_site(drop, SITE_CLS, drop ? drop->classifier : 0, (uint64_t)T * C);
        dropout_forward(a->cls_in, (int64_t)N * C, &d, pool);
        top = a->cls_in;
    }
    linear_forward(logits, top, w->head[H_CLS_W], w->q8_head[H_CLS_W], w->head[H_CLS_B], N, L, C, 0, a, pool);
}

static sl_status check_ids(const sl_config *c, const int32_t *ids, int B, int T, sl_error *err) {
    if (B < 1 || T < 1) return sl_fail(err, SL_ERR_ARGUMENT, "empty batch (%d x %d)", B, T);
    if (T > sl_config_max_tokens(c))
        return sl_fail(err, SL_ERR_ARGUMENT, "sequence of %d tokens is longer than the model's %d", T,
                       sl_config_max_tokens(c));
    for (int i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return sl_fail(err, SL_ERR_ARGUMENT, "token id %d at row %d, position %d is not in [0, %d)", ids[i],
                           i / T, i % T, c->n_vocab);
    return SL_OK;
}

static sl_status context_forward(sl_context *ctx, const int32_t *ids, int B, int T, float *logits,
                                 sl_error *err) {
    const sl_model *m = ctx->model;
    const sl_config *c = &m->cfg;
    if (c->n_labels == 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s has no token-classification head (a pre-trained encoder): fine-tune it first, e.g. "
                       "surligne train --init %s --train FILE.conll -o OUT.gguf",
                       m->name, m->name);
    sl_status s = check_ids(c, ids, B, T, err);
    if (s == SL_OK) s = ensure_arena(ctx, B * T, T, err);
    if (s != SL_OK) return s;
    sl_encoder_forward(c, &m->w, ids, B, T, &ctx->acts, logits, NULL, ctx->pool);
    return SL_OK;
}

sl_status sl_model_forward(sl_model *m, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    return context_forward(m->own, ids, B, T, logits, err);
}

sl_status sl_model_mlm_forward(sl_model *m, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    const sl_config *c = &m->cfg;
    const sl_weights *w = &m->w;
    if (!c->has_mlm) return sl_fail(err, SL_ERR_UNSUPPORTED, "%s has no masked-language-model head", m->name);
    if (!w->global[T_TOK_EMBD])
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: the MLM decoder needs f32 or f16 word embeddings (they are q8_0)",
                       m->name);
    sl_context *ctx = m->own;
    sl_status s = check_ids(c, ids, B, T, err);
    if (s == SL_OK) s = ensure_arena(ctx, B * T, T, err);
    if (s != SL_OK) return s;
    const int N = B * T, C = c->n_embd;
    float *h = malloc((size_t)N * C * 2 * sizeof *h), *stats = malloc((size_t)N * 2 * sizeof *stats);
    if (!h || !stats) {
        free(h);
        free(stats);
        return sl_fail(err, SL_ERR_MEMORY, "no memory for the MLM head of %d tokens", N);
    }
    sl_encoder_forward(c, w, ids, B, T, &ctx->acts, NULL, NULL, ctx->pool);
    const float *top = ctx->acts.layers[c->n_layer - 1].out;
    float *h2 = h + (size_t)N * C;
    /* RobertaLMHead: LayerNorm(GELU(x W_d + b_d)) E^T + bias */
    matmul_forward(h, top, w->mlm[M_DENSE_W], w->mlm[M_DENSE_B], N, C, C, ctx->pool);
    gelu_forward(h, h, (int64_t)N * C, ctx->pool);
    layernorm_forward(h2, stats, stats + N, h, w->mlm[M_NORM_W], w->mlm[M_NORM_B], N, C, c->ln_eps, ctx->pool);
    matmul_forward(logits, h2, w->global[T_TOK_EMBD], w->mlm[M_BIAS], N, c->n_vocab, C, ctx->pool);
    free(h);
    free(stats);
    return SL_OK;
}

/* ---- recognition -------------------------------------------------------------------------------- */

sl_options sl_default_options(void) {
    sl_options o = {.aggregation = SL_AGG_FIRST,
                    .threshold = 0,
                    .max_tokens = 0,
                    .stride = 0,
                    .n_threads = 1,
                    .dates = 1,
                    .decoding = SL_DECODE_VITERBI};
    return o;
}

static sl_status grow(void **p, size_t n, size_t elem, sl_error *err) {
    void *q = realloc(*p, n * elem);
    if (!q) return sl_fail(err, SL_ERR_MEMORY, "no memory for %zu items", n);
    *p = q;
    return SL_OK;
}

/* The automatic stride (sl_options.stride 0): 128 tokens, as the Hugging Face pipeline is usually run with,
   or a quarter of the window, rounded up, where that is less (510 tokens: 128; 62: 16); below the window. */
static int auto_stride(int window) {
    int stride = (window + 3) / 4 < 128 ? (window + 3) / 4 : 128;
    return stride < window ? stride : window - 1;
}

sl_status sl_recognize(sl_model *m, const char *text, size_t len, const sl_options *opt, sl_entities *out,
                       sl_error *err) {
    if (!m) return sl_fail(err, SL_ERR_ARGUMENT, "sl_recognize: no model");
    return sl_context_recognize(m->own, text, len, opt, out, err);
}

sl_status sl_context_recognize(sl_context *ctx, const char *text, size_t len, const sl_options *opt,
                               sl_entities *out, sl_error *err) {
    sl_error dropped;
    if (!err) err = &dropped;
    if (!ctx || !out || (!text && len)) {
        const char *missing = !ctx ? "context" : !out ? "output" : "text";
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_recognize: no %s", missing);
    }
    const sl_model *m = ctx->model;
    if (!text) text = "";
    sl_options o = opt ? *opt : sl_default_options();
    const sl_config *c = &m->cfg;
    const int L = c->n_labels;
    int max_tokens = sl_config_max_tokens(c);
    if (o.max_tokens > 0 && o.max_tokens < max_tokens) max_tokens = o.max_tokens;
    if (max_tokens < 3) return sl_fail(err, SL_ERR_ARGUMENT, "max_tokens %d is too small (at least 3)", o.max_tokens);
    const int window = max_tokens - 2; /* room for <s> and </s> */
    if (o.stride == 0) o.stride = auto_stride(window);
    if (o.stride < 0 || o.stride >= window)
        return sl_fail(err, SL_ERR_ARGUMENT, "stride %d must be in [1, %d) for windows of %d tokens (0: automatic)",
                       o.stride, window, window);
    if (o.aggregation < SL_AGG_NONE || o.aggregation > SL_AGG_MAX)
        return sl_fail(err, SL_ERR_ARGUMENT, "unknown aggregation %d", (int)o.aggregation);
    if (o.decoding != SL_DECODE_VITERBI && o.decoding != SL_DECODE_ARGMAX)
        return sl_fail(err, SL_ERR_ARGUMENT, "unknown decoding %d", (int)o.decoding);
    sl_status s = context_set_threads(ctx, o.n_threads, err);
    if (s != SL_OK) return s;
    if ((s = sl_tokenize(m->tok, text, len, &ctx->tokens, err))) return s;
    const sl_tokens *tk = &ctx->tokens;
    const int n = tk->n;
    if (n == 0) return SL_OK;

    int n_windows = sl_ner_windows(n, window, o.stride, NULL, 0);
    int *starts = malloc((size_t)n_windows * sizeof *starts);
    if (!starts) return sl_fail(err, SL_ERR_MEMORY, "no memory for windows");
    sl_ner_windows(n, window, o.stride, starts, n_windows);
    if (n > ctx->scores_cap) {
        if ((s = grow((void **)&ctx->scores, (size_t)n * L, sizeof *ctx->scores, err))) goto done;
        ctx->scores_cap = n;
    }
    if ((s = grow((void **)&ctx->win_ids, (size_t)max_tokens, sizeof *ctx->win_ids, err)) ||
        (s = grow((void **)&ctx->win_logits, (size_t)max_tokens * L, sizeof *ctx->win_logits, err)))
        goto done;
    const sl_special_ids sp = sl_tokenizer_special_ids(m->tok);
    for (int w = 0; w < n_windows; w++) {
        const int t0 = starts[w], t1 = t0 + window < n ? t0 + window : n, T = t1 - t0 + 2;
        ctx->win_ids[0] = sp.bos;
        memcpy(ctx->win_ids + 1, tk->ids + t0, (size_t)(t1 - t0) * sizeof *ctx->win_ids);
        ctx->win_ids[T - 1] = sp.eos;
        if ((s = context_forward(ctx, ctx->win_ids, 1, T, ctx->win_logits, err))) goto done;
        softmax_forward(ctx->win_logits, T, L);
        for (int i = t0; i < t1; i++)
            if (sl_ner_window_for_token(i, n, window, starts, n_windows) == w)
                memcpy(ctx->scores + (size_t)i * L, ctx->win_logits + (size_t)(i - t0 + 1) * L, (size_t)L * sizeof(float));
    }
    sl_token_scores ts = {n, ctx->scores, tk->start, tk->end, tk->word_start};
    const size_t first = out->n;
    const sl_decoder dec = sl_model_decoder(m, o.decoding);
    s = sl_ner_decode(&m->labels, &ts, o.aggregation, &dec, o.threshold, text, out, err);
    if (s == SL_OK && !o.keep_punctuation) sl_entities_trim_punctuation(out, first, text);
    if (s == SL_OK && o.dates) { /* the rule recogniser's dates, times, amounts, percentages (dates.c) */
        sl_entities rules = {0};
        s = sl_recognize_dates(text, len, &rules, err);
        if (s == SL_OK) s = sl_dates_merge(out, first, &rules, text, err);
        sl_entities_free(&rules);
        if (s != SL_OK) out->n = first;
    }
done:
    free(starts);
    return s;
}
