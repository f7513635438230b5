#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "gemm_bf16.h"
#include "kernels.h"
#include "convert.h"
#include "quant.h"

/* ---- data -------------------------------------------------------------------------------------- */

void sl_dataset_free(sl_dataset *d) {
    free(d->start);
    free(d->len);
    free(d->ids);
    free(d->labels);
    free(d->word_of);
    memset(d, 0, sizeof *d);
}

typedef struct {
    sl_dataset *d;
    int cap_tokens, cap_examples;
    sl_error *err;
} dataset_builder;

static sl_status push_token(dataset_builder *b, int32_t id, int32_t label, int word) {
    sl_dataset *d = b->d;
    if (d->n_tokens == b->cap_tokens) {
        int cap = b->cap_tokens ? 2 * b->cap_tokens : 1 << 16;
        int32_t *ids = realloc(d->ids, (size_t)cap * sizeof *ids);
        if (ids) d->ids = ids;
        int32_t *labels = realloc(d->labels, (size_t)cap * sizeof *labels);
        if (labels) d->labels = labels;
        int *word_of = realloc(d->word_of, (size_t)cap * sizeof *word_of);
        if (word_of) d->word_of = word_of;
        if (!ids || !labels || !word_of) return sl_fail(b->err, SL_ERR_MEMORY, "no memory for %d tokens", cap);
        b->cap_tokens = cap;
    }
    d->ids[d->n_tokens] = id;
    d->labels[d->n_tokens] = label;
    d->word_of[d->n_tokens] = word;
    d->n_tokens++;
    return SL_OK;
}

static sl_status begin_example(dataset_builder *b) {
    sl_dataset *d = b->d;
    if (d->n_examples == b->cap_examples) {
        int cap = b->cap_examples ? 2 * b->cap_examples : 1024;
        int *start = realloc(d->start, (size_t)cap * sizeof *start);
        if (start) d->start = start;
        int *len = realloc(d->len, (size_t)cap * sizeof *len);
        if (len) d->len = len;
        if (!start || !len) return sl_fail(b->err, SL_ERR_MEMORY, "no memory for %d examples", cap);
        b->cap_examples = cap;
    }
    d->start[d->n_examples] = d->n_tokens;
    d->len[d->n_examples] = 0;
    d->n_examples++;
    return SL_OK;
}

/* Appends word w's n tokens to the open example (`open` tokens, <s> included; 0: none), its label on the
   first; closes the example first (</s>) where the word and </s> would not fit, counting a split when the
   word is not its sentence's first; a word alone longer than a window is cut. */
static sl_status push_word(dataset_builder *b, const int32_t *ids, int n, int32_t label, int w, int not_first,
                           int32_t bos, int32_t eos, int *open) {
    const int max_len = b->d->max_len;
    sl_status s;
    if (*open && *open + n + 1 > max_len) {
        if ((s = push_token(b, eos, SL_IGNORE_LABEL, -1))) return s;
        b->d->len[b->d->n_examples - 1] = *open + 1;
        *open = 0;
        if (not_first) b->d->n_split++;
    }
    if (!*open) {
        if ((s = begin_example(b)) || (s = push_token(b, bos, SL_IGNORE_LABEL, -1))) return s;
        *open = 1;
    }
    if (n > max_len - 2) n = max_len - 2;
    for (int i = 0; i < n; i++)
        if ((s = push_token(b, ids[i], i == 0 ? label : SL_IGNORE_LABEL, i == 0 ? w : -1))) return s;
    *open += n;
    return SL_OK;
}

/* Whether CoNLL word w is written against word w - 1 in running French text: a closing mark after it (", . )
   ] } …"), or after an opening bracket or an elision ("(", "l'", "qu'"). */
static int glues_to_previous(const char *prev, const char *word) {
    static const char *const closing[] = {",", ".", ")", "]", "}", "...", "\xe2\x80\xa6"};
    for (size_t k = 0; k < sizeof closing / sizeof *closing; k++)
        if (!strcmp(word, closing[k])) return 1;
    if (!strcmp(prev, "(") || !strcmp(prev, "[") || !strcmp(prev, "{")) return 1;
    const size_t n = strlen(prev);
    return (n >= 1 && prev[n - 1] == '\'') || (n >= 3 && !strcmp(prev + n - 3, "\xe2\x80\x99")); /* ' or ’ */
}

sl_status sl_dataset_build(const sl_conll *data, const sl_tokenizer *tok, int max_len, sl_dataset *out,
                           sl_error *err) {
    return sl_dataset_build_text(data, tok, max_len, 0.0f, 0, out, err);
}

sl_status sl_dataset_build_text(const sl_conll *data, const sl_tokenizer *tok, int max_len, float glue,
                                uint64_t seed, sl_dataset *out, sl_error *err) {
    memset(out, 0, sizeof *out);
    if (max_len < 3) return sl_fail(err, SL_ERR_ARGUMENT, "max_len %d is too small (at least 3)", max_len);
    if (!(glue >= 0.0f && glue <= 1.0f))
        return sl_fail(err, SL_ERR_ARGUMENT, "glue %g is not in [0, 1]", glue);
    const sl_special_ids sp = sl_tokenizer_special_ids(tok);
    const int32_t bos = sp.bos, eos = sp.eos;
    if (bos < 0 || eos < 0 || sp.pad < 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "the vocabulary has no <s>, </s> or padding id (%d, %d, %d)",
                       bos, eos, sp.pad);
    out->max_len = max_len;
    out->pad_id = sp.pad;
    dataset_builder b = {out, 0, 0, err};
    sl_tokens tk = {0};
    char *text = NULL; /* a run of glued words, written as one piece of text */
    size_t text_cap = 0;
    sl_status s = SL_OK;
    for (int si = 0; s == SL_OK && si < data->n_sentences; si++) {
        const int w0 = data->sentence_start[si], w1 = data->sentence_start[si + 1];
        int open = 0; /* tokens in the current example, <s> included */
        for (int g0 = w0, g1; s == SL_OK && g0 < w1; g0 = g1) {
            /* the run [g0, g1) of words with no space between them: each glue point taken with probability
               glue (seeded by the sentence and the word), so glue 0 tokenises every word on its own */
            for (g1 = g0 + 1;
                 g1 < w1 && glue > 0.0f && glues_to_previous(data->words[g1 - 1], data->words[g1]); g1++) {
                const uint64_t h = sl_hash64(seed ^ sl_hash64(((uint64_t)si << 32) + (uint64_t)g1));
                if (glue < 1.0f && (float)(h >> 40) / (float)(1u << 24) >= glue) break;
            }
            size_t len = 0;
            for (int w = g0; w < g1; w++) len += strlen(data->words[w]);
            if (len + 1 > text_cap) {
                char *t = realloc(text, len + 1);
                if (!t) {
                    s = sl_fail(err, SL_ERR_MEMORY, "no memory for a run of %zu bytes", len);
                    break;
                }
                text = t, text_cap = len + 1;
            }
            len = 0;
            for (int w = g0; w < g1; w++) {
                const size_t n = strlen(data->words[w]);
                memcpy(text + len, data->words[w], n);
                len += n;
            }
            s = sl_tokenize(tok, text, len, &tk, err);
            if (s != SL_OK) {
                sl_fail_context(err, "%s:%d", data->name ? data->name : "data", data->lines[g0]);
                break;
            }
            /* each word's tokens: those that start inside its bytes (starts never decrease); a word whose
               bytes a token of the word before covers has none */
            int t = 0;
            size_t end = 0;
            for (int w = g0; s == SL_OK && w < g1; w++) {
                end += strlen(data->words[w]);
                const int t0 = t;
                while (t < tk.n && ((size_t)tk.start[t] < end || w == g1 - 1)) t++;
                if (t == t0)
                    out->n_empty_words++;
                else
                    s = push_word(&b, tk.ids + t0, t - t0, data->tags[w], w, w > w0, bos, eos, &open);
            }
        }
        if (s == SL_OK && open) {
            s = push_token(&b, eos, SL_IGNORE_LABEL, -1);
            out->len[out->n_examples - 1] = open + 1;
        }
    }
    free(text);
    sl_tokens_free(&tk);
    if (s != SL_OK) sl_dataset_free(out);
    return s;
}

/* A seeded Fisher-Yates shuffle of a[0..n). */
static void shuffle_ints(int *a, int n, uint64_t state) {
    for (int i = n - 1; i > 0; i--) {
        state = sl_hash64(state + 0x9e3779b97f4a7c15ull);
        int j = (int)(state % (uint64_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void sl_dataset_order(const sl_dataset *d, int shuffle, uint64_t seed, int *order) {
    for (int i = 0; i < d->n_examples; i++) order[i] = i;
    if (shuffle) shuffle_ints(order, d->n_examples, seed);
}

int sl_dataset_order_grouped(const sl_dataset *d, int batch, uint64_t seed, int *order) {
    const int n = d->n_examples, group = batch * SL_GROUP_BATCHES, full = batch > 0 ? n / batch : 0;
    int *tmp = malloc(((size_t)n + 1) * sizeof *tmp), *perm = malloc(((size_t)full + 1) * sizeof *perm);
    if (!tmp || !perm || batch < 1) {
        free(tmp), free(perm);
        return -1;
    }
    sl_dataset_order(d, 1, seed, tmp);
    /* each group sorted by length, by insertion: stable (ties in permutation order), and a group is small */
    for (int g0 = 0; g0 < n; g0 += group) {
        const int gn = n - g0 < group ? n - g0 : group;
        for (int i = g0 + 1; i < g0 + gn; i++) {
            const int e = tmp[i], le = d->len[e];
            int j = i - 1;
            while (j >= g0 && d->len[tmp[j]] > le) tmp[j + 1] = tmp[j], j--;
            tmp[j + 1] = e;
        }
    }
    /* the full batches in a seeded order (Fisher-Yates on batch indices), the partial one last */
    for (int k = 0; k < full; k++) perm[k] = k;
    shuffle_ints(perm, full, sl_hash64(seed ^ 0x5bd1e9955bd1e995ull));
    for (int k = 0; k < full; k++)
        memcpy(order + (size_t)k * batch, tmp + (size_t)perm[k] * batch, (size_t)batch * sizeof *order);
    memcpy(order + (size_t)full * batch, tmp + (size_t)full * batch,
           (size_t)(n - full * batch) * sizeof *order);
    free(tmp), free(perm);
    return 0;
}

int sl_dataset_n_batches(const sl_dataset *d, int batch) { return (d->n_examples + batch - 1) / batch; }

void sl_dataset_batch(const sl_dataset *d, const int *order, int k, int batch, sl_batch *b) {
    const int first = k * batch, B = d->n_examples - first < batch ? d->n_examples - first : batch;
    int T = 0;
    for (int r = 0; r < B; r++) T = d->len[order[first + r]] > T ? d->len[order[first + r]] : T;
    for (int r = 0; r < B; r++) {
        const int e = order[first + r], n = d->len[e];
        memcpy(b->ids + (size_t)r * T, d->ids + d->start[e], (size_t)n * sizeof(int32_t));
        memcpy(b->labels + (size_t)r * T, d->labels + d->start[e], (size_t)n * sizeof(int32_t));
        for (int t = n; t < T; t++) {
            b->ids[(size_t)r * T + t] = d->pad_id;
            b->labels[(size_t)r * T + t] = SL_IGNORE_LABEL;
        }
    }
    b->B = B;
    b->T = T;
    b->first = first;
}

/* ---- options and schedule ---------------------------------------------------------------------- */

sl_train_options sl_train_default_options(void) {
    return (sl_train_options){.batch = 16, .max_len = 128, .lr = 5e-5, .warmup_ratio = 0.1,
                              .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                              .max_grad_norm = 1.0f, .dropout_hidden = 0.1f, .dropout_attention = 0.1f,
                              .dropout_classifier = 0.1f, .total_steps = 1, .seed = 42, .n_threads = 1};
}

int sl_train_warmup_steps(const sl_train_options *o) { return (int)ceil(o->warmup_ratio * o->total_steps); }

/* get_linear_schedule_with_warmup: factor(s) = s / warmup below warmup, then (total - s) / (total - warmup);
   the scheduler steps after the optimiser, so step s (0-based) uses factor(s). */
double sl_train_lr(const sl_train_options *o, int step) {
    const int warmup = sl_train_warmup_steps(o), total = o->total_steps;
    double f;
    if (step < warmup) f = (double)step / (warmup > 1 ? warmup : 1);
    else f = fmax(0.0, (double)(total - step) / (double)(total - warmup > 1 ? total - warmup : 1));
    return o->lr * f;
}

/* ---- the trainer ------------------------------------------------------------------------------- */

typedef struct {
    char name[64];
    size_t offset, n; /* in floats, into params / grads / m / v */
    int decay;        /* weight decay applies (not a bias, not a LayerNorm weight) */
} param_tensor;

struct sl_trainer {
    const sl_model *init;
    float *transitions; /* label transitions for its files (sl_trainer_set_transitions); NULL: the init's */
    float transition_weight;
    const float *soft; /* distillation targets of the next steps' rows (sl_trainer_set_soft_targets) */
    float soft_weight;
    sl_config cfg;
    sl_train_options opt;
    sl_pool *pool;
    int precision; /* of the products (never SL_PRECISION_AUTO) */
    int step; /* optimisation steps done */
    /* parameters and their gradients and Adam moments: one allocation each, in table order */
    param_tensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    sl_weights w;      /* pointers into params */
    const float **layer_ptrs;
    /* activations for batch * max_len tokens, one allocation */
    int max_tokens, max_T;
    float *act_mem;
    sl_acts acts;
    sl_layer_acts *layer_acts;
    float *cls_buf;                                                /* (N,C) classifier input after dropout */
    float *logits, *dlogits;                                       /* (N,L) */
    float *d_out, *d_res, *d_ln1, *d_ctx, *d_q, *d_k, *d_v, *d_ff; /* (N,C) x7, (N,F) */
    /* the MLM head at the masked positions: M rows, grown to the largest M seen (mlm_cap) */
    int mlm_cap;
    int *mlm_rows;                                                 /* (M) token index in the batch */
    int32_t *mlm_target;                                           /* (M) original token id */
    float *mlm_mem;                                                /* one allocation for: */
    float *h_in, *h_pre, *h_act, *h_ln, *h_mean, *h_rstd, *dh_a, *dh_b; /* (M,C) x4, (M) x2, (M,C) x2 */
    float *mlm_logits;                                             /* (M,V), then their gradient */
    int row0; /* the batch's first row in the global batch (data-parallel runs) */
    double *ce_sums; /* (n_threads, 2) the cross-entropy's per-thread loss and correct-row sums */
};

static int is_decayed(const char *name) {
    size_t n = strlen(name);
    return !(n >= 5 && strcmp(name + n - 5, ".bias") == 0) && !strstr(name, "norm");
}

static sl_status add_tensor(sl_trainer *t, const sl_tensor_spec *spec, int layer, size_t *offset, sl_error *err) {
    param_tensor *p = &t->tensors[t->n_tensors++];
    snprintf(p->name, sizeof p->name, spec->gguf, layer);
    p->n = (size_t)(sl_dim_size(&t->cfg, spec->rows) * sl_dim_size(&t->cfg, spec->cols));
    p->offset = *offset;
    p->decay = is_decayed(p->name);
    *offset += p->n;
    (void)err;
    return SL_OK;
}

void sl_trainer_free(sl_trainer *t) {
    if (!t) return;
    free(t->transitions);
    free(t->tensors);
    free(t->params);
    free(t->grads);
    free(t->adam_m);
    free(t->adam_v);
    free(t->layer_ptrs);
    free(t->act_mem);
    free(t->acts.mask);
    free(t->acts.pos);
    free(t->layer_acts);
    free(t->mlm_rows);
    free(t->mlm_target);
    free(t->mlm_mem);
    free(t->mlm_logits);
    free(t->ce_sums);
    sl_pool_free(t->pool);
    free(t);
}

/* Carves the activation arena: every layer keeps its own buffers for the backward pass. */
static sl_status alloc_activations(sl_trainer *t, sl_error *err) {
    const sl_config *c = &t->cfg;
    const size_t N = (size_t)t->max_tokens, T = (size_t)t->max_T, C = (size_t)c->n_embd, F = (size_t)c->n_ff,
                 L = (size_t)c->n_labels, NH = (size_t)c->n_head, B = N / T, threads = (size_t)sl_pool_n_threads(t->pool);
    const size_t per_layer = 8 * N * C + B * NH * T * T + 2 * N * F + 4 * N;
    const size_t total = 2 * N * C + 2 * N + (size_t)c->n_layer * per_layer + N * C /* cls_in */ + 2 * N * L +
                         7 * N * C + N * F + threads * T;
    t->act_mem = malloc(total * sizeof(float));
    t->layer_acts = calloc((size_t)c->n_layer, sizeof *t->layer_acts);
    t->acts.mask = malloc(N);
    t->acts.pos = malloc(N * sizeof(int32_t));
    t->ce_sums = malloc(2 * threads * sizeof *t->ce_sums);
    if (!t->act_mem || !t->layer_acts || !t->acts.mask || !t->acts.pos || !t->ce_sums)
        return sl_fail(err, SL_ERR_MEMORY, "no memory for the activations of %zu tokens (%.1f GB)", N,
                       total * 4.0 / 1e9);
    float *p = t->act_mem;
#define TAKE(n) (p += (n), p - (n))
    t->acts.emb = TAKE(N * C);
    t->acts.x0 = TAKE(N * C);
    t->acts.emb_mean = TAKE(N);
    t->acts.emb_rstd = TAKE(N);
    for (int l = 0; l < c->n_layer; l++) {
        sl_layer_acts *a = &t->layer_acts[l];
        a->q = TAKE(N * C);
        a->k = TAKE(N * C);
        a->v = TAKE(N * C);
        a->probs = TAKE(B * NH * T * T);
        a->ctx = TAKE(N * C);
        a->res1 = TAKE(N * C);
        a->ln1 = TAKE(N * C);
        a->ln1_mean = TAKE(N);
        a->ln1_rstd = TAKE(N);
        a->ff_pre = TAKE(N * F);
        a->ff_act = TAKE(N * F);
        a->res2 = TAKE(N * C);
        a->out = TAKE(N * C);
        a->out_mean = TAKE(N);
        a->out_rstd = TAKE(N);
    }
    t->acts.layers = t->layer_acts;
    t->cls_buf = TAKE(N * C);
    t->logits = TAKE(N * L);
    t->dlogits = TAKE(N * L);
    t->d_out = TAKE(N * C);
    t->d_res = TAKE(N * C);
    t->d_ln1 = TAKE(N * C);
    t->d_ctx = TAKE(N * C);
    t->d_q = TAKE(N * C);
    t->d_k = TAKE(N * C);
    t->d_v = TAKE(N * C);
    t->d_ff = TAKE(N * F);
    t->acts.scratch = TAKE(threads * T);
#undef TAKE
    return SL_OK;
}

/* SL_PRECISION_AUTO (train.h: sl_trainer_precision): bf16 on AMX tiles, f32 elsewhere. */
static int auto_precision(void) {
    const char *kernel = sl_gemm_bf16_kernel();
    return kernel && !strcmp(kernel, "amx") ? SL_PRECISION_BF16 : SL_PRECISION_F32;
}

sl_status sl_trainer_create(const sl_model *init, const sl_train_options *o, sl_trainer **out, sl_error *err) {
    *out = NULL;
    if (o->batch < 1 || o->max_len < 3 || o->total_steps < 1 || !(o->lr >= 0) || o->warmup_ratio < 0 ||
        o->warmup_ratio > 1 || o->dropout_hidden < 0 || o->dropout_hidden >= 1 || o->dropout_attention < 0 ||
        o->dropout_attention >= 1 || o->dropout_classifier < 0 || o->dropout_classifier >= 1)
        return sl_fail(err, SL_ERR_ARGUMENT, "invalid training options (batch %d, max_len %d, steps %d, lr %g)",
                       o->batch, o->max_len, o->total_steps, o->lr);
    const sl_config *c = sl_model_config(init);
    sl_status q8 = sl_model_require_f32(init, err);
    if (q8 != SL_OK) return q8;
    if (o->max_len > sl_config_max_tokens(c))
        return sl_fail(err, SL_ERR_ARGUMENT, "max_len %d is longer than the model's %d tokens", o->max_len,
                       sl_config_max_tokens(c));
    sl_trainer *t = calloc(1, sizeof *t);
    if (!t) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    t->init = init;
    t->cfg = *c;
    t->opt = *o;
    t->max_T = o->max_len;
    t->max_tokens = o->batch * o->max_len;
    sl_status s = SL_OK;
    /* a pool even for one thread: it carries the products' precision and the kernels' scratch memory */
    if (!(t->pool = sl_pool_create(o->n_threads)))
        s = sl_fail(err, SL_ERR_MEMORY, "cannot start %d threads", o->n_threads);
    if (t->pool) {
        t->precision = o->precision == SL_PRECISION_AUTO ? auto_precision() : o->precision;
        sl_pool_set_precision(t->pool, t->precision);
    }
    const int n_head = c->n_labels > 0 ? N_HEAD_TENSORS : 0, n_mlm = c->has_mlm ? N_MLM_TENSORS : 0;
    const int n_tensors = N_GLOBAL_TENSORS + c->n_layer * N_LAYER_TENSORS + n_head + n_mlm;
    t->tensors = calloc((size_t)n_tensors, sizeof *t->tensors);
    t->layer_ptrs = calloc((size_t)c->n_layer * N_LAYER_TENSORS, sizeof *t->layer_ptrs);
    if (s == SL_OK && (!t->tensors || !t->layer_ptrs)) s = sl_fail(err, SL_ERR_MEMORY, "no memory");
    size_t off = 0;
    for (int i = 0; s == SL_OK && i < N_GLOBAL_TENSORS; i++) s = add_tensor(t, &sl_global_specs[i], 0, &off, err);
    for (int l = 0; s == SL_OK && l < c->n_layer; l++)
        for (int i = 0; s == SL_OK && i < N_LAYER_TENSORS; i++) s = add_tensor(t, &sl_layer_specs[i], l, &off, err);
    for (int i = 0; s == SL_OK && i < n_head; i++) s = add_tensor(t, &sl_head_specs[i], 0, &off, err);
    for (int i = 0; s == SL_OK && i < n_mlm; i++) s = add_tensor(t, &sl_mlm_specs[i], 0, &off, err);
    t->n_params = off;
    if (s == SL_OK) {
        t->params = malloc(off * sizeof(float));
        t->grads = calloc(off, sizeof(float));
        t->adam_m = calloc(off, sizeof(float));
        t->adam_v = calloc(off, sizeof(float));
        if (!t->params || !t->grads || !t->adam_m || !t->adam_v)
            s = sl_fail(err, SL_ERR_MEMORY, "no memory for %zu parameters (%.1f GB with gradients and moments)", off,
                        off * 16.0 / 1e9);
    }
    if (s == SL_OK) {
        /* copy the model's weights (in the file, or converted from f16) into the parameters */
        const sl_weights *mw = sl_model_weights(init);
        int k = 0;
        for (int i = 0; i < N_GLOBAL_TENSORS; i++, k++) {
            memcpy(t->params + t->tensors[k].offset, mw->global[i], t->tensors[k].n * sizeof(float));
            t->w.global[i] = t->params + t->tensors[k].offset;
        }
        for (int l = 0; l < c->n_layer; l++)
            for (int i = 0; i < N_LAYER_TENSORS; i++, k++) {
                memcpy(t->params + t->tensors[k].offset, mw->layers[l * N_LAYER_TENSORS + i],
                       t->tensors[k].n * sizeof(float));
                t->layer_ptrs[l * N_LAYER_TENSORS + i] = t->params + t->tensors[k].offset;
            }
        for (int i = 0; i < n_head; i++, k++) {
            memcpy(t->params + t->tensors[k].offset, mw->head[i], t->tensors[k].n * sizeof(float));
            t->w.head[i] = t->params + t->tensors[k].offset;
        }
        for (int i = 0; i < n_mlm; i++, k++) {
            memcpy(t->params + t->tensors[k].offset, mw->mlm[i], t->tensors[k].n * sizeof(float));
            t->w.mlm[i] = t->params + t->tensors[k].offset;
        }
        t->w.layers = t->layer_ptrs;
        s = alloc_activations(t, err);
    }
    if (s != SL_OK) {
        sl_trainer_free(t);
        return s;
    }
    *out = t;
    return SL_OK;
}

int sl_trainer_step_count(const sl_trainer *t) { return t->step; }

int sl_trainer_precision(const sl_trainer *t) {
    return t->precision;
}

int sl_trainer_tensor(const sl_trainer *t, int i, const char **name, size_t *n, float **param, float **grad) {
    if (i < 0 || i >= t->n_tensors) return 0;
    *name = t->tensors[i].name;
    *n = t->tensors[i].n;
    *param = t->params + t->tensors[i].offset;
    *grad = t->grads + t->tensors[i].offset;
    return 1;
}

/* Gradient of a parameter tensor by its position in the table. */
static float *grad_of(sl_trainer *t, const float *param) { return t->grads + (param - t->params); }

static sl_status check_batch(const sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                             sl_error *err) {
    if (B < 1 || T < 1 || B * T > t->max_tokens || T > t->max_T)
        return sl_fail(err, SL_ERR_ARGUMENT, "batch %d x %d does not fit the trainer's %d x %d", B, T,
                       t->max_tokens / t->max_T, t->max_T);
    for (int i = 0; i < B * T; i++) {
        if (ids[i] < 0 || ids[i] >= t->cfg.n_vocab)
            return sl_fail(err, SL_ERR_ARGUMENT, "token id %d at row %d, position %d is not in [0, %d)", ids[i],
                           i / T, i % T, t->cfg.n_vocab);
        if (labels && labels[i] != SL_IGNORE_LABEL && (labels[i] < 0 || labels[i] >= t->cfg.n_labels))
            return sl_fail(err, SL_ERR_ARGUMENT, "label %d at row %d, position %d is not in [0, %d)", labels[i],
                           i / T, i % T, t->cfg.n_labels);
    }
    return SL_OK;
}

sl_status sl_trainer_logits(sl_trainer *t, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    sl_status s = check_batch(t, ids, NULL, B, T, err);
    if (s != SL_OK) return s;
    t->acts.cls_in = NULL;
    sl_encoder_forward(&t->cfg, &t->w, ids, B, T, &t->acts, logits, NULL, t->pool);
    return SL_OK;
}

/* Sums over the processes of a data-parallel run; nothing with one process. */
static void sum_f64(const sl_trainer *t, double *x, size_t n) {
    if (t->opt.collective) t->opt.collective->sum_f64(t->opt.collective->ctx, x, n);
}

/* Cross-entropy of the labelled rows of logits (N,L), normalised by the labelled rows of the global batch:
   dlogits (may equal logits; NULL: no gradient) = (softmax - target) / n_global, 0 on rows not labelled. The
   target is the one-hot label, or with soft targets q (N,L) (1 - alpha) onehot + alpha q. */
typedef struct {
    float *dlogits;
    const float *logits;
    const int32_t *labels;
    const float *soft;
    float alpha;
    int N, L;
    float inv_n;
    double *sums; /* (n_threads, 2): loss and correct rows, per thread */
} crossentropy_ctx;

#define CE_ROWS 8

static void crossentropy_task(void *arg, int task, int thread) {
    const crossentropy_ctx *x = arg;
    const int L = x->L, i1 = (task + 1) * CE_ROWS < x->N ? (task + 1) * CE_ROWS : x->N;
    for (int i = task * CE_ROWS; i < i1; i++) {
        const float *z = x->logits + (size_t)i * L;
        float *d = x->dlogits ? x->dlogits + (size_t)i * L : NULL;
        const int y = x->labels[i];
        if (y == SL_IGNORE_LABEL) {
            if (d) memset(d, 0, (size_t)L * sizeof *d);
            continue;
        }
        int best;
        float ce = crossentropy_row(d, z, L, y, x->inv_n, &best);
        if (x->soft) {
            /* -log p_j = ce + z_y - z_j: the loss gains alpha (sum_j q_j (-log p_j) - ce), the gradient
               alpha (onehot - q) / n */
            const float *q = x->soft + (size_t)i * L;
            double cross = 0;
            for (int j = 0; j < L; j++) cross += (double)q[j] * (ce + z[y] - z[j]);
            ce += x->alpha * (float)(cross - ce);
            if (d)
                for (int j = 0; j < L; j++) d[j] += x->alpha * x->inv_n * ((j == y) - q[j]);
        }
        x->sums[2 * thread] += ce;
        x->sums[2 * thread + 1] += best == y;
    }
}

/* Fills stats->loss (mean over the global batch's labelled rows), n_labelled and n_correct (global). */
static void crossentropy(sl_trainer *t, float *dlogits, const float *logits, const int32_t *labels,
                         const float *soft, float alpha, int N, int L, sl_step_stats *stats) {
    double count = 0;
    for (int i = 0; i < N; i++) count += labels[i] != SL_IGNORE_LABEL;
    sum_f64(t, &count, 1);
    const int threads = sl_pool_n_threads(t->pool);
    double *sums = t->ce_sums;
    memset(sums, 0, 2 * (size_t)threads * sizeof *sums);
    crossentropy_ctx x = {dlogits, logits, labels, soft, alpha, N, L, count > 0 ? (float)(1.0 / count) : 0.0f,
                          sums};
    sl_pool_run(t->pool, (N + CE_ROWS - 1) / CE_ROWS, crossentropy_task, &x);
    double total[2] = {0, 0};
    for (int k = 0; k < threads; k++) total[0] += sums[2 * k], total[1] += sums[2 * k + 1];
    sum_f64(t, total, 2);
    stats->loss = count > 0 ? (float)(total[0] / count) : 0.0f;
    stats->n_labelled = (int)count;
    stats->n_correct = (int)total[1];
}

/* The gradient of the last layer's output is in t->d_out: down through the layers to the embeddings. */
static void encoder_backward(sl_trainer *t, const int32_t *ids, int B, int T, const sl_dropout_rates *rates) {
    const sl_config *c = &t->cfg;
    const int N = B * T, C = c->n_embd, F = c->n_ff, NH = c->n_head;
    const size_t NC = (size_t)N * C;
    const sl_acts *a = &t->acts;
    sl_dropout d;
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const float *const *lw = &t->w.layers[l * N_LAYER_TENSORS];
        const sl_layer_acts *la = &a->layers[l];
        const float *in = l == 0 ? a->x0 : a->layers[l - 1].out;
        const int site = SITE_LAYER + 3 * l;
        /* out = LayerNorm(res2) */
        memset(t->d_res, 0, NC * sizeof(float));
        layernorm_backward(t->d_res, grad_of(t, lw[L_LN2_W]), grad_of(t, lw[L_LN2_B]), t->d_out, la->res2,
                           lw[L_LN2_W], la->out_mean, la->out_rstd, N, C);
        /* res2 = dropout(ff_act W_down + b) + ln1 */
        memcpy(t->d_ln1, t->d_res, NC * sizeof(float));
        d = sl_dropout_site(rates, site + 2, rates->hidden, (uint64_t)T * C);
        dropout_forward(t->d_res, (int64_t)NC, &d, t->pool);
        memset(t->d_ff, 0, (size_t)N * F * sizeof(float));
        matmul_backward(t->d_ff, grad_of(t, lw[L_DOWN_W]), grad_of(t, lw[L_DOWN_B]), t->d_res, la->ff_act,
                        lw[L_DOWN_W], N, C, F, t->pool);
        gelu_backward(t->d_ff, la->ff_pre, t->d_ff, (int64_t)N * F, t->pool);
        matmul_backward(t->d_ln1, grad_of(t, lw[L_UP_W]), grad_of(t, lw[L_UP_B]), t->d_ff, la->ln1, lw[L_UP_W], N,
                        F, C, t->pool);
        /* ln1 = LayerNorm(res1) */
        memset(t->d_res, 0, NC * sizeof(float));
        layernorm_backward(t->d_res, grad_of(t, lw[L_LN1_W]), grad_of(t, lw[L_LN1_B]), t->d_ln1, la->res1,
                           lw[L_LN1_W], la->ln1_mean, la->ln1_rstd, N, C);
        /* res1 = dropout(ctx W_o + b) + in: the residual path's gradient becomes d_out of the layer below */
        memcpy(t->d_out, t->d_res, NC * sizeof(float));
        d = sl_dropout_site(rates, site + 1, rates->hidden, (uint64_t)T * C);
        dropout_forward(t->d_res, (int64_t)NC, &d, t->pool);
        memset(t->d_ctx, 0, NC * sizeof(float));
        matmul_backward(t->d_ctx, grad_of(t, lw[L_O_W]), grad_of(t, lw[L_O_B]), t->d_res, la->ctx, lw[L_O_W], N, C,
                        C, t->pool);
        d = sl_dropout_site(rates, site, rates->attention, (uint64_t)NH * T * T);
        attention_backward(t->d_q, t->d_k, t->d_v, t->d_ctx, la->probs, la->q, la->k, la->v, a->mask, B, T, C, NH,
                           &d, a->scratch, t->pool);
        matmul_backward(t->d_out, grad_of(t, lw[L_Q_W]), grad_of(t, lw[L_Q_B]), t->d_q, in, lw[L_Q_W], N, C, C,
                        t->pool);
        matmul_backward(t->d_out, grad_of(t, lw[L_K_W]), grad_of(t, lw[L_K_B]), t->d_k, in, lw[L_K_W], N, C, C,
                        t->pool);
        matmul_backward(t->d_out, grad_of(t, lw[L_V_W]), grad_of(t, lw[L_V_B]), t->d_v, in, lw[L_V_W], N, C, C,
                        t->pool);
    }
    /* x0 = dropout(LayerNorm(emb)); emb = word + type + position */
    d = sl_dropout_site(rates, SITE_EMBD, rates->hidden, (uint64_t)T * C);
    dropout_forward(t->d_out, (int64_t)NC, &d, t->pool);
    memset(t->d_res, 0, NC * sizeof(float));
    layernorm_backward(t->d_res, grad_of(t, t->w.global[T_EMBD_NORM_W]), grad_of(t, t->w.global[T_EMBD_NORM_B]),
                       t->d_out, a->emb, t->w.global[T_EMBD_NORM_W], a->emb_mean, a->emb_rstd, N, C);
    float *dwte = grad_of(t, t->w.global[T_TOK_EMBD]), *dwpe = grad_of(t, t->w.global[T_POS_EMBD]),
          *dtype = grad_of(t, t->w.global[T_TYPE_EMBD]);
    for (int i = 0; i < N; i++) {
        const float *g = t->d_res + (size_t)i * C;
        /* the padding rows are nn.Embedding's padding_idx: they never receive a gradient */
        if (ids[i] != c->pad_id)
            for (int j = 0; j < C; j++) dwte[(size_t)ids[i] * C + j] += g[j];
        if (a->pos[i] != c->pad_id)
            for (int j = 0; j < C; j++) dwpe[(size_t)a->pos[i] * C + j] += g[j];
        for (int j = 0; j < C; j++) dtype[j] += g[j];
    }
}

/* The gradients summed over the processes, and their norm. */
static void finish_gradients(sl_trainer *t, sl_step_stats *stats) {
    if (t->opt.collective) t->opt.collective->sum_f32(t->opt.collective->ctx, t->grads, t->n_params);
    stats->grad_norm = (float)sqrt(sum_squares(t->grads, (int64_t)t->n_params, t->pool));
    stats->lr = (float)sl_train_lr(&t->opt, t->step);
}

static sl_dropout_rates step_rates(const sl_trainer *t) {
    return (sl_dropout_rates){t->opt.dropout_hidden, t->opt.dropout_attention, t->opt.dropout_classifier,
                              sl_hash64(t->opt.seed * 1000003ull + (uint64_t)t->step), (uint64_t)t->row0};
}

void sl_trainer_set_row0(sl_trainer *t, int row0) { t->row0 = row0; }

void sl_trainer_set_soft_targets(sl_trainer *t, const float *q, float alpha) {
    t->soft = q && alpha > 0 ? q : NULL;
    t->soft_weight = t->soft ? alpha : 0.0f;
}

sl_status sl_trainer_backward(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err) {
    sl_status s = check_batch(t, ids, labels, B, T, err);
    if (s != SL_OK) return s;
    const sl_config *c = &t->cfg;
    if (c->n_labels == 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "the model has no token-classification head to train");
    const int N = B * T, C = c->n_embd, L = c->n_labels;
    const size_t NC = (size_t)N * C;
    const sl_dropout_rates rates = step_rates(t);
    sl_acts *a = &t->acts;
    a->cls_in = t->opt.dropout_classifier > 0 ? t->cls_buf : NULL;
    sl_encoder_forward(c, &t->w, ids, B, T, a, t->logits, &rates, t->pool);
    memset(t->grads, 0, t->n_params * sizeof(float));
    crossentropy(t, t->dlogits, t->logits, labels, t->soft, t->soft_weight, N, L, stats);

    /* head */
    const float *top = t->opt.dropout_classifier > 0 ? a->cls_in : a->layers[c->n_layer - 1].out;
    memset(t->d_out, 0, NC * sizeof(float));
    matmul_backward(t->d_out, grad_of(t, t->w.head[H_CLS_W]), grad_of(t, t->w.head[H_CLS_B]), t->dlogits, top,
                    t->w.head[H_CLS_W], N, L, C, t->pool);
    sl_dropout d = sl_dropout_site(&rates, SITE_CLS, rates.classifier, (uint64_t)T * C);
    dropout_forward(t->d_out, (int64_t)NC, &d, t->pool);
    encoder_backward(t, ids, B, T, &rates);
    finish_gradients(t, stats);
    return SL_OK;
}

/* ---- masked-language modelling ------------------------------------------------------------------ */

static sl_status mlm_reserve(sl_trainer *t, int M, sl_error *err) {
    if (M <= t->mlm_cap) return SL_OK;
    const size_t C = (size_t)t->cfg.n_embd, V = (size_t)t->cfg.n_vocab;
    int cap = M > 2 * t->mlm_cap ? M : 2 * t->mlm_cap;
    if (cap > t->max_tokens) cap = t->max_tokens;
    free(t->mlm_rows);
    free(t->mlm_target);
    free(t->mlm_mem);
    free(t->mlm_logits);
    t->mlm_rows = malloc((size_t)cap * sizeof *t->mlm_rows);
    t->mlm_target = malloc((size_t)cap * sizeof *t->mlm_target);
    t->mlm_mem = malloc(((size_t)cap * (6 * C + 2)) * sizeof(float));
    t->mlm_logits = malloc((size_t)cap * V * sizeof(float));
    if (!t->mlm_rows || !t->mlm_target || !t->mlm_mem || !t->mlm_logits) {
        t->mlm_cap = 0;
        return sl_fail(err, SL_ERR_MEMORY, "no memory for the MLM head at %d masked tokens (%.1f GB)", cap,
                       (double)cap * V * 4 / 1e9);
    }
    t->mlm_cap = cap;
    float *p = t->mlm_mem;
    const size_t MC = (size_t)cap * C;
    t->h_in = p, p += MC;
    t->h_pre = p, p += MC;
    t->h_act = p, p += MC;
    t->h_ln = p, p += MC;
    t->dh_a = p, p += MC;
    t->dh_b = p, p += MC;
    t->h_mean = p, p += cap;
    t->h_rstd = p;
    return SL_OK;
}

/* The encoder (with dropout when training), then RobertaLMHead at the masked rows only:
   h = LayerNorm(GELU(x W_d + b_d)), logits = h E^T + bias (E the word embeddings). With backward, the
   gradients of every parameter, the decoder's part of E's gradient included. */
static sl_status mlm_pass(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T, int backward,
                          sl_step_stats *stats, sl_error *err) {
    memset(stats, 0, sizeof *stats);
    sl_status s = check_batch(t, ids, NULL, B, T, err);
    if (s != SL_OK) return s;
    const sl_config *c = &t->cfg;
    if (!c->has_mlm) return sl_fail(err, SL_ERR_ARGUMENT, "the model has no masked-language-model head");
    const int N = B * T, C = c->n_embd, V = c->n_vocab;
    int M = 0;
    for (int i = 0; i < N; i++) {
        if (labels[i] == SL_IGNORE_LABEL) continue;
        if (labels[i] < 0 || labels[i] >= V)
            return sl_fail(err, SL_ERR_ARGUMENT, "MLM label %d at row %d, position %d is not a token id", labels[i],
                           i / T, i % T);
        M++;
    }
    if ((s = mlm_reserve(t, M > 0 ? M : 1, err))) return s;
    M = 0;
    for (int i = 0; i < N; i++)
        if (labels[i] != SL_IGNORE_LABEL) t->mlm_rows[M] = i, t->mlm_target[M++] = labels[i];
    const sl_dropout_rates rates = step_rates(t);
    sl_acts *a = &t->acts;
    a->cls_in = NULL;
    sl_encoder_forward(c, &t->w, ids, B, T, a, NULL, backward ? &rates : NULL, t->pool);
    const float *top = a->layers[c->n_layer - 1].out;
    const float *E = t->w.global[T_TOK_EMBD];
    for (int m = 0; m < M; m++)
        memcpy(t->h_in + (size_t)m * C, top + (size_t)t->mlm_rows[m] * C, (size_t)C * sizeof(float));
    if (M > 0) {
        matmul_forward(t->h_pre, t->h_in, t->w.mlm[M_DENSE_W], t->w.mlm[M_DENSE_B], M, C, C, t->pool);
        gelu_forward(t->h_act, t->h_pre, (int64_t)M * C, t->pool);
        layernorm_forward(t->h_ln, t->h_mean, t->h_rstd, t->h_act, t->w.mlm[M_NORM_W], t->w.mlm[M_NORM_B], M, C,
                          c->ln_eps, t->pool);
        matmul_forward(t->mlm_logits, t->h_ln, E, t->w.mlm[M_BIAS], M, V, C, t->pool);
    }
    crossentropy(t, backward ? t->mlm_logits : NULL, t->mlm_logits, t->mlm_target, NULL, 0.0f, M, V, stats);
    if (!backward) return SL_OK;
    memset(t->grads, 0, t->n_params * sizeof(float));
    const size_t MC = (size_t)M * C;
    memset(t->d_out, 0, (size_t)N * C * sizeof(float));
    if (M > 0) {
        memset(t->dh_a, 0, MC * sizeof(float));
        matmul_backward(t->dh_a, grad_of(t, E), grad_of(t, t->w.mlm[M_BIAS]), t->mlm_logits, t->h_ln, E, M, V, C,
                        t->pool);
        memset(t->dh_b, 0, MC * sizeof(float));
        layernorm_backward(t->dh_b, grad_of(t, t->w.mlm[M_NORM_W]), grad_of(t, t->w.mlm[M_NORM_B]), t->dh_a,
                           t->h_act, t->w.mlm[M_NORM_W], t->h_mean, t->h_rstd, M, C);
        gelu_backward(t->dh_b, t->h_pre, t->dh_b, (int64_t)MC, t->pool);
        memset(t->dh_a, 0, MC * sizeof(float));
        matmul_backward(t->dh_a, grad_of(t, t->w.mlm[M_DENSE_W]), grad_of(t, t->w.mlm[M_DENSE_B]), t->dh_b,
                        t->h_in, t->w.mlm[M_DENSE_W], M, C, C, t->pool);
        for (int m = 0; m < M; m++)
            memcpy(t->d_out + (size_t)t->mlm_rows[m] * C, t->dh_a + (size_t)m * C, (size_t)C * sizeof(float));
    }
    encoder_backward(t, ids, B, T, &rates);
    finish_gradients(t, stats);
    return SL_OK;
}

sl_status sl_trainer_mlm_backward(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                                  sl_step_stats *stats, sl_error *err) {
    return mlm_pass(t, ids, labels, B, T, 1, stats, err);
}

sl_status sl_trainer_mlm_eval(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err) {
    return mlm_pass(t, ids, labels, B, T, 0, stats, err);
}

/* AdamW as torch.optim.AdamW computes it on float32 tensors: scalars in double, rounded to float where
   they meet a tensor; decoupled weight decay before the moment update. */
typedef struct {
    sl_trainer *t;
    float clip;
    double lr;
} adamw_ctx;

#define ADAMW_CHUNK (1 << 16)

static void adamw_task(void *arg, int task, int thread) {
    (void)thread;
    const adamw_ctx *x = arg;
    sl_trainer *t = x->t;
    const sl_train_options *o = &t->opt;
    const int step = t->step + 1;
    const double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    const sl_adamw a = {.clip = x->clip, .decay = (float)(1.0 - x->lr * o->weight_decay), .b1 = o->beta1,
                        .one_minus_b1 = (float)(1.0 - o->beta1), .b2 = o->beta2,
                        .one_minus_b2 = (float)(1.0 - o->beta2), .step_size = (float)(-x->lr / bc1),
                        .bc2_sqrt = (float)sqrt(bc2), .eps = o->eps};
    const size_t i0 = (size_t)task * ADAMW_CHUNK, i1 = i0 + ADAMW_CHUNK < t->n_params ? i0 + ADAMW_CHUNK : t->n_params;
    /* the tensors (in offset order) that overlap [i0, i1), a vector loop over each part */
    int k = 0;
    while (k + 1 < t->n_tensors && t->tensors[k + 1].offset <= i0) k++;
    for (size_t i = i0; i < i1; k++) {
        const size_t end = t->tensors[k].offset + t->tensors[k].n, e = end < i1 ? end : i1;
        adamw_update(t->params + i, t->adam_m + i, t->adam_v + i, t->grads + i, (int64_t)(e - i), &a,
                     t->tensors[k].decay);
        i = e;
    }
}

/* Clipping, AdamW and the schedule, from the gradients of a backward pass. */
static sl_status optimizer_step(sl_trainer *t, const sl_step_stats *stats, sl_error *err) {
    if (!isfinite(stats->grad_norm))
        return sl_fail(err, SL_ERR_ARGUMENT, "step %d: the gradient is not finite (loss %g): lower the learning rate",
                       t->step + 1, stats->loss);
    /* clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1 */
    float clip = 1.0f;
    if (t->opt.max_grad_norm > 0) {
        float coef = t->opt.max_grad_norm / (stats->grad_norm + 1e-6f);
        if (coef < 1.0f) clip = coef;
    }
    adamw_ctx x = {t, clip, sl_train_lr(&t->opt, t->step)};
    sl_pool_run(t->pool, (int)((t->n_params + ADAMW_CHUNK - 1) / ADAMW_CHUNK), adamw_task, &x);
    t->step++;
    return SL_OK;
}

sl_status sl_trainer_step(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                          sl_step_stats *stats, sl_error *err) {
    sl_status s = sl_trainer_backward(t, ids, labels, B, T, stats, err);
    return s != SL_OK ? s : optimizer_step(t, stats, err);
}

sl_status sl_trainer_mlm_step(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err) {
    sl_status s = sl_trainer_mlm_backward(t, ids, labels, B, T, stats, err);
    return s != SL_OK ? s : optimizer_step(t, stats, err);
}

/* ---- saving ------------------------------------------------------------------------------------ */

static sl_gguf_writer *writer_with_metadata(const sl_trainer *t) {
    sl_gguf_writer *w = sl_gguf_writer_new();
    const sl_gguf *g = sl_model_gguf(t->init);
    for (size_t i = 0; w && i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        static const char *const skip[] = {"general.alignment", "general.file_type", "surligne.train."};
        int skipped = t->transitions && sl_gguf_is_transition_key(kv->name, kv->name_len);
        for (int k = 0; k < 3; k++) skipped |= kv->name_len >= strlen(skip[k]) && !memcmp(kv->name, skip[k], strlen(skip[k]));
        if (!skipped) sl_gguf_add_kv_copy(w, kv);
    }
    if (w && t->transitions)
        sl_gguf_add_transitions(w, t->transitions, t->cfg.n_labels, t->transition_weight);
    return w;
}

static int is_mlm_tensor(const char *name) { return !strncmp(name, "mlm.", 4); }

static void add_tensors(sl_gguf_writer *w, const sl_trainer *t, const float *base, const char *prefix, int drop_mlm) {
    const sl_config *c = &t->cfg;
    for (int i = 0; i < t->n_tensors; i++) {
        const param_tensor *p = &t->tensors[i];
        if (drop_mlm && is_mlm_tensor(p->name)) continue;
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        /* shape from the model's table: 2-D (rows, cols) tensors have ne = {cols, rows} */
        const sl_gguf_tensor *src = sl_gguf_find_tensor(sl_model_gguf(t->init), p->name);
        int64_t ne[2] = {src->ne[0], src->n_dims > 1 ? src->ne[1] : 1};
        (void)c;
        sl_gguf_add_tensor(w, name, SL_GGML_F32, src->n_dims, ne, base + p->offset);
    }
}

static void add_param_tensors(sl_gguf_writer *w, const sl_trainer *t, const float *base, const char *prefix) {
    add_tensors(w, t, base, prefix, 0);
}

sl_status sl_trainer_set_transitions(sl_trainer *t, const float *transitions, float weight, sl_error *err) {
    const size_t n = (size_t)(t->cfg.n_labels + 1) * t->cfg.n_labels;
    if (t->cfg.n_labels == 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "label transitions need a model with labels");
    float *copy = malloc(n * sizeof *copy);
    if (!copy) return sl_fail(err, SL_ERR_MEMORY, "no memory for the label transitions");
    memcpy(copy, transitions, n * sizeof *copy);
    free(t->transitions);
    t->transitions = copy;
    t->transition_weight = weight;
    return SL_OK;
}

sl_decoder sl_trainer_decoder(const sl_trainer *t) {
    if (!t->transitions) return sl_model_decoder(t->init, SL_DECODE_VITERBI);
    sl_decoder d = {SL_DECODE_VITERBI, t->transitions, t->transition_weight};
    return d;
}

sl_status sl_trainer_save_as(const sl_trainer *t, const char *path, int drop_mlm, int f16, sl_error *err) {
    if (drop_mlm && t->cfg.n_labels == 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: without its MLM head the model would have no head at all", path);
    sl_gguf_writer *w = writer_with_metadata(t);
    if (!w) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    sl_gguf_add_u32(w, "general.file_type", 0);
    add_tensors(w, t, t->params, "", drop_mlm);
    sl_status s;
    if (!f16) {
        s = sl_gguf_writer_write(w, path, err);
    } else { /* the encoder's Linear weights in f16, as `surligne quantize --type f16` writes them */
        uint8_t *data = NULL;
        size_t size = 0;
        s = sl_gguf_writer_to_memory(w, &data, &size, err);
        if (s == SL_OK)
            s = sl_quantize_model(data, size, path, SL_GGML_F16, SL_GGML_F16, path, NULL, NULL, NULL, err);
        free(data);
    }
    sl_gguf_writer_free(w);
    return s;
}

sl_status sl_trainer_save(const sl_trainer *t, const char *path, sl_error *err) {
    return sl_trainer_save_as(t, path, 0, 0, err);
}

/* The state file is a GGUF model (so it loads as one) plus the Adam moments under "adam_m."/"adam_v." and
   the step count and the caller's extra words under surligne.train.* keys. */
sl_status sl_trainer_save_state(const sl_trainer *t, const char *path, const uint64_t *extra, int n_extra,
                                sl_error *err) {
    sl_gguf_writer *w = writer_with_metadata(t);
    if (!w) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    sl_gguf_add_u32(w, "general.file_type", 0);
    sl_gguf_add_u32(w, "surligne.train.step", (uint32_t)t->step);
    sl_gguf_add_arr(w, "surligne.train.extra", SL_GGUF_UINT64, extra, (uint64_t)n_extra);
    add_param_tensors(w, t, t->params, "");
    add_param_tensors(w, t, t->adam_m, "adam_m.");
    add_param_tensors(w, t, t->adam_v, "adam_v.");
    sl_status s = sl_gguf_writer_write(w, path, err);
    sl_gguf_writer_free(w);
    return s;
}

sl_status sl_trainer_load_state(sl_trainer *t, const char *path, uint64_t *extra, int n_extra, sl_error *err) {
    uint8_t *data;
    size_t size;
    sl_gguf *g = NULL;
    sl_status s = sl_read_file(path, &data, &size, err);
    if (s != SL_OK) return s;
    if ((s = sl_gguf_parse(data, size, path, &g, err))) goto done;
    uint32_t step;
    const void *ex;
    uint64_t n_ex;
    if ((s = sl_gguf_get_u32(g, "surligne.train.step", &step, err)) ||
        (s = sl_gguf_get_arr(g, "surligne.train.extra", SL_GGUF_UINT64, &ex, &n_ex, err)))
        goto done;
    if (n_ex != (uint64_t)n_extra) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: %llu extra state words, expected %d", path, (unsigned long long)n_ex, n_extra);
        goto done;
    }
    memcpy(extra, ex, (size_t)n_extra * sizeof *extra);
    const char *prefixes[3] = {"", "adam_m.", "adam_v."};
    float *bases[3] = {t->params, t->adam_m, t->adam_v};
    for (int k = 0; k < 3 && s == SL_OK; k++)
        for (int i = 0; i < t->n_tensors && s == SL_OK; i++) {
            char name[96];
            snprintf(name, sizeof name, "%s%s", prefixes[k], t->tensors[i].name);
            const sl_gguf_tensor *x = sl_gguf_find_tensor(g, name);
            if (!x || x->type != SL_GGML_F32 || x->nbytes != t->tensors[i].n * sizeof(float))
                s = sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is missing or has another shape than the model's",
                            path, name);
            else
                memcpy(bases[k] + t->tensors[i].offset, x->data, x->nbytes);
        }
    if (s == SL_OK) t->step = (int)step;
done:
    sl_gguf_free(g);
    free(data);
    return s;
}
