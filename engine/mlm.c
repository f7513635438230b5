#include "mlm.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "kernels.h"
#include "train.h"

/* ---- reading and tokenising ------------------------------------------------------------------------ */

void sl_mlm_corpus_init(sl_mlm_corpus *c, int block) {
    memset(c, 0, sizeof *c);
    c->block = block;
}

void sl_mlm_corpus_free(sl_mlm_corpus *c) {
    for (int s = 0; s < c->n_sources; s++) {
        free(c->sources[s].name);
        free(c->sources[s].ids);
        free(c->sources[s].train);
        free(c->sources[s].valid);
    }
    memset(c, 0, sizeof *c);
}

/* Lines of one file are tokenised in chunks, a pool task each; each chunk's ids are kept apart and joined in
   order afterwards, so the stream does not depend on the thread count. */
#define LINES_PER_TASK 256

typedef struct {
    const char *text;
    const size_t *line_start, *line_len; /* (n_lines) */
    const int *line_no;                  /* (n_lines) 1-based line numbers in the file */
    int n_lines;
    const sl_tokenizer *tok;
    int32_t bos, eos;
    sl_tokens *tokens;  /* (n_threads) */
    int32_t **out;      /* (n_tasks) the chunk's ids */
    size_t *out_n;      /* (n_tasks) */
    sl_status *status;  /* (n_tasks) */
    sl_error *errors;   /* (n_tasks) */
} tokenize_ctx;

static void tokenize_task(void *arg, int task, int thread) {
    tokenize_ctx *x = arg;
    const int l0 = task * LINES_PER_TASK, l1 = l0 + LINES_PER_TASK < x->n_lines ? l0 + LINES_PER_TASK : x->n_lines;
    size_t cap = 0, n = 0;
    int32_t *ids = NULL;
    sl_tokens *tk = &x->tokens[thread];
    x->status[task] = SL_OK;
    for (int l = l0; l < l1; l++) {
        sl_status s = sl_tokenize(x->tok, x->text + x->line_start[l], x->line_len[l], tk, &x->errors[task]);
        if (s != SL_OK) {
            sl_fail_context(&x->errors[task], "line %d", x->line_no[l]);
            x->status[task] = s;
            break;
        }
        if (tk->n == 0) continue;
        if (n + (size_t)tk->n + 2 > cap) {
            size_t c2 = 2 * cap + (size_t)tk->n + 2 + 4096;
            int32_t *grown = realloc(ids, c2 * sizeof *ids);
            if (!grown) {
                x->status[task] = sl_fail(&x->errors[task], SL_ERR_MEMORY, "no memory for tokens");
                break;
            }
            ids = grown;
            cap = c2;
        }
        ids[n++] = x->bos;
        memcpy(ids + n, tk->ids, (size_t)tk->n * sizeof *ids);
        n += (size_t)tk->n;
        ids[n++] = x->eos;
    }
    x->out[task] = ids;
    x->out_n[task] = n;
}

/* Appends the tokens of one file's lines to src. */
static sl_status add_file(sl_mlm_source *src, const char *path, const sl_tokenizer *tok, int32_t bos, int32_t eos,
                          sl_pool *pool, sl_error *err) {
    uint8_t *data;
    size_t size;
    sl_status s = sl_read_file(path, &data, &size, err);
    if (s != SL_OK) return s;
    /* the non-empty lines (a trailing \r is dropped) */
    size_t n_alloc = 1024, n = 0;
    size_t *start = malloc(n_alloc * sizeof *start), *len = malloc(n_alloc * sizeof *len);
    int *line_no = malloc(n_alloc * sizeof *line_no);
    int line = 0;
    for (size_t p = 0; start && len && line_no && p < size;) {
        const uint8_t *nl = memchr(data + p, '\n', size - p);
        size_t e = nl ? (size_t)(nl - data) : size, l = e - p;
        line++;
        if (l && data[p + l - 1] == '\r') l--;
        if (l) {
            if (n == n_alloc) {
                n_alloc *= 2;
                size_t *s2 = realloc(start, n_alloc * sizeof *s2);
                if (s2) start = s2;
                size_t *l2 = realloc(len, n_alloc * sizeof *l2);
                if (l2) len = l2;
                int *n2 = realloc(line_no, n_alloc * sizeof *n2);
                if (n2) line_no = n2;
                if (!s2 || !l2 || !n2) break;
            }
            start[n] = p, len[n] = l, line_no[n] = line;
            n++;
        }
        p = e + 1;
    }
    const int n_tasks = (int)((n + LINES_PER_TASK - 1) / LINES_PER_TASK), threads = sl_pool_n_threads(pool);
    tokenize_ctx x = {(const char *)data, start, len, line_no, (int)n, tok, bos, eos,
                      calloc((size_t)threads, sizeof(sl_tokens)), calloc((size_t)n_tasks + 1, sizeof(int32_t *)),
                      calloc((size_t)n_tasks + 1, sizeof(size_t)), calloc((size_t)n_tasks + 1, sizeof(sl_status)),
                      calloc((size_t)n_tasks + 1, sizeof(sl_error))};
    if (!start || !len || !line_no || !x.tokens || !x.out || !x.out_n || !x.status || !x.errors) {
        s = sl_fail(err, SL_ERR_MEMORY, "%s: no memory for its lines", path);
    } else {
        sl_pool_run(pool, n_tasks, tokenize_task, &x);
        size_t total = 0;
        for (int k = 0; k < n_tasks && s == SL_OK; k++) {
            if (x.status[k] != SL_OK) {
                *err = x.errors[k];
                sl_fail_context(err, "%s", path);
                s = x.status[k];
            }
            total += x.out_n[k];
        }
        int32_t *ids = s == SL_OK ? realloc(src->ids, ((size_t)src->n_ids + total) * sizeof *ids) : NULL;
        if (s == SL_OK && !ids && total) s = sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu tokens", path, total);
        if (s == SL_OK && ids) {
            src->ids = ids;
            for (int k = 0; k < n_tasks; k++) {
                memcpy(src->ids + src->n_ids, x.out[k], x.out_n[k] * sizeof *ids);
                src->n_ids += (int64_t)x.out_n[k];
            }
            src->n_lines += (int64_t)n;
            src->n_bytes += (int64_t)size;
        }
    }
    for (int i = 0; x.tokens && i < threads; i++) sl_tokens_free(&x.tokens[i]);
    for (int k = 0; x.out && k < n_tasks; k++) free(x.out[k]);
    free(x.tokens), free(x.out), free(x.out_n), free(x.status), free(x.errors);
    free(start), free(len), free(line_no);
    free(data);
    return s;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

sl_status sl_mlm_corpus_add(sl_mlm_corpus *c, const char *path, double weight, const sl_tokenizer *tok,
                            sl_pool *pool, sl_error *err) {
    const int32_t bos = sl_tokenizer_special_ids(tok).bos, eos = sl_tokenizer_special_ids(tok).eos;
    if (bos < 0 || eos < 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: the vocabulary has no <s> or </s>", path);
    if (c->n_sources == SL_MLM_MAX_SOURCES)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: at most %d text sources", path, SL_MLM_MAX_SOURCES);
    if (!(weight > 0)) return sl_fail(err, SL_ERR_ARGUMENT, "%s: weight %g must be positive", path, weight);
    struct stat st;
    if (stat(path, &st) != 0) return sl_fail(err, SL_ERR_IO, "%s: no such file or folder", path);
    sl_mlm_source *src = &c->sources[c->n_sources];
    memset(src, 0, sizeof *src);
    src->weight = weight;
    if (!(src->name = strdup(path))) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    sl_status s = SL_OK;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) {
            free(src->name);
            return sl_fail(err, SL_ERR_IO, "%s: cannot open the folder", path);
        }
        char **names = NULL;
        int n = 0;
        for (struct dirent *e; s == SL_OK && (e = readdir(d));) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".txt") || e->d_name[0] == '.') continue;
            char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
            if (!grown || !(grown[n] = malloc(strlen(path) + l + 2))) {
                if (grown) names = grown;
                s = sl_fail(err, SL_ERR_MEMORY, "no memory");
                break;
            }
            names = grown;
            sprintf(names[n], "%s/%s", path, e->d_name);
            n++;
        }
        closedir(d);
        if (s == SL_OK && n == 0) s = sl_fail(err, SL_ERR_ARGUMENT, "%s: no .txt file in this folder", path);
        if (s == SL_OK) qsort(names, (size_t)n, sizeof *names, compare_names);
        for (int i = 0; s == SL_OK && i < n; i++) s = add_file(src, names[i], tok, bos, eos, pool, err);
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
    } else {
        s = add_file(src, path, tok, bos, eos, pool, err);
    }
    src->n_blocks = src->n_ids / c->block;
    if (s == SL_OK && src->n_blocks == 0)
        s = sl_fail(err, SL_ERR_ARGUMENT, "%s: %lld tokens, fewer than one sequence of %d", path,
                    (long long)src->n_ids, c->block);
    if (s != SL_OK) {
        free(src->name);
        free(src->ids);
        memset(src, 0, sizeof *src);
        return s;
    }
    c->n_sources++;
    return SL_OK;
}

sl_status sl_mlm_corpus_split(sl_mlm_corpus *c, double fraction, sl_error *err) {
    if (!(fraction >= 0 && fraction < 1)) return sl_fail(err, SL_ERR_ARGUMENT, "validation fraction %g is not in [0, 1)", fraction);
    for (int s = 0; s < c->n_sources; s++) {
        sl_mlm_source *src = &c->sources[s];
        free(src->train);
        free(src->valid);
        src->train = malloc((size_t)src->n_blocks * sizeof *src->train);
        src->valid = malloc((size_t)src->n_blocks * sizeof *src->valid);
        if (!src->train || !src->valid) return sl_fail(err, SL_ERR_MEMORY, "no memory");
        src->n_train = src->n_valid = 0;
        const uint64_t threshold = (uint64_t)(fraction * 18446744073709551616.0);
        for (int64_t k = 0; k < src->n_blocks; k++) {
            /* a hash of the block index alone: the same split for every seed, process and resume */
            int held = fraction > 0 && sl_hash64((uint64_t)k * 0x9e3779b97f4a7c15ull + 0x5eed) < threshold;
            if (held) src->valid[src->n_valid++] = k;
            else src->train[src->n_train++] = k;
        }
        if (fraction > 0 && src->n_valid == 0 && src->n_train > 1) { /* a small source: its last block */
            src->valid[src->n_valid++] = src->train[--src->n_train];
        }
        if (src->n_train == 0) return sl_fail(err, SL_ERR_ARGUMENT, "%s: no block left for training", src->name);
    }
    return SL_OK;
}

/* ---- sampling ---------------------------------------------------------------------------------- */

static uint64_t mix(uint64_t a, uint64_t b) { return sl_hash64(a * 0x9e3779b97f4a7c15ull ^ sl_hash64(b + 0x632be59bd9b4e019ull)); }

sl_status sl_mlm_sampler_init(sl_mlm_sampler *s, const sl_mlm_corpus *c, uint64_t seed, sl_error *err) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    for (int k = 0; k < c->n_sources; k++) {
        if (!(s->perm[k] = malloc((size_t)c->sources[k].n_train * sizeof *s->perm[k]))) {
            sl_mlm_sampler_free(s);
            return sl_fail(err, SL_ERR_MEMORY, "no memory");
        }
        s->perm_pass[k] = -1;
    }
    return SL_OK;
}

void sl_mlm_sampler_free(sl_mlm_sampler *s) {
    for (int k = 0; k < SL_MLM_MAX_SOURCES; k++) free(s->perm[k]);
    memset(s->perm, 0, sizeof s->perm);
}

int sl_mlm_sampler_next(sl_mlm_sampler *s, const sl_mlm_corpus *c, uint64_t g, int32_t *ids) {
    double total = 0;
    for (int k = 0; k < c->n_sources; k++) total += c->sources[k].weight;
    const double u = (double)(mix(s->seed, g) >> 11) * (1.0 / 9007199254740992.0) * total;
    int k = 0;
    for (double acc = c->sources[0].weight; k + 1 < c->n_sources && u >= acc; acc += c->sources[++k].weight) {
    }
    const sl_mlm_source *src = &c->sources[k];
    const int64_t pass = s->taken[k] / src->n_train, i = s->taken[k] % src->n_train;
    if (s->perm_pass[k] != pass) { /* Fisher-Yates with the seed, the source and the pass */
        int64_t *p = s->perm[k];
        for (int64_t j = 0; j < src->n_train; j++) p[j] = src->train[j];
        uint64_t h = mix(mix(s->seed, (uint64_t)k + 1000), (uint64_t)pass);
        for (int64_t j = src->n_train - 1; j > 0; j--) {
            h = sl_hash64(h + 0x9e3779b97f4a7c15ull);
            int64_t r = (int64_t)(h % (uint64_t)(j + 1)), t = p[j];
            p[j] = p[r], p[r] = t;
        }
        s->perm_pass[k] = pass;
    }
    memcpy(ids, sl_mlm_block(c, k, s->perm[k][i]), (size_t)c->block * sizeof *ids);
    s->taken[k]++;
    return k;
}

/* ---- masking ----------------------------------------------------------------------------------- */

sl_status sl_mlm_masking_init(sl_mlm_masking *m, const sl_model *model, uint8_t **kinds, sl_error *err) {
    const sl_gguf *g = sl_model_gguf(model);
    const sl_tokenizer *tok = sl_model_tokenizer(model);
    const int n = sl_tokenizer_n_tokens(tok);
    const void *types;
    uint64_t n_types;
    const int32_t mask_id = sl_tokenizer_special_ids(tok).mask;
    sl_status s;
    if ((s = sl_gguf_get_arr(g, "tokenizer.ggml.token_type", SL_GGUF_INT32, &types, &n_types, err))) return s;
    if (n_types != (uint64_t)n || mask_id < 0)
        return sl_fail(err, SL_ERR_FORMAT, "token types (%llu) do not fit the %d tokens, or no mask id (%d)",
                       (unsigned long long)n_types, n, mask_id);
    uint8_t *k = malloc((size_t)n);
    if (!k) return sl_fail(err, SL_ERR_MEMORY, "no memory");
    for (int i = 0; i < n; i++) {
        int32_t type;
        memcpy(&type, (const uint8_t *)types + 4 * (size_t)i, 4);
        size_t len;
        const char *piece = sl_tokenizer_piece(tok, i, &len);
        if (type != SL_TOK_NORMAL || i == (int)mask_id) k[i] = SL_MLM_SPECIAL;
        else k[i] = len >= 3 && !memcmp(piece, "\xe2\x96\x81", 3) ? SL_MLM_WORD_START : SL_MLM_CONTINUATION;
    }
    *m = (sl_mlm_masking){.probability = 0.15, .mask_fraction = 0.8, .random_fraction = 0.1, .whole_word = 0,
                          .mask_id = (int32_t)mask_id, .n_vocab = n, .kinds = k};
    *kinds = k;
    return SL_OK;
}

/* A uniform double in [0, 1) from (seed, position, draw). */
static double uniform(uint64_t seed, int i, int draw) {
    return (double)(mix(seed, (uint64_t)i * 4 + (uint64_t)draw) >> 11) * (1.0 / 9007199254740992.0);
}

int sl_mlm_mask(const sl_mlm_masking *m, const int32_t *ids, int n, uint64_t seed, int32_t *inputs, int32_t *labels) {
    int n_masked = 0, word_chosen = 0;
    for (int i = 0; i < n; i++) {
        const int32_t id = ids[i];
        const int kind = id >= 0 && id < m->n_vocab ? m->kinds[id] : SL_MLM_SPECIAL;
        int chosen;
        if (kind == SL_MLM_SPECIAL) chosen = word_chosen = 0;
        else if (m->whole_word && kind == SL_MLM_CONTINUATION && i > 0 && ids[i - 1] >= 0 &&
                 ids[i - 1] < m->n_vocab && m->kinds[ids[i - 1]] != SL_MLM_SPECIAL)
            chosen = word_chosen; /* a piece inside a word follows the word's draw */
        else chosen = word_chosen = uniform(seed, i, 0) < m->probability;
        inputs[i] = id;
        labels[i] = SL_IGNORE_LABEL;
        if (!chosen) continue;
        labels[i] = id;
        n_masked++;
        const double u = uniform(seed, i, 1);
        if (u < m->mask_fraction) inputs[i] = m->mask_id;
        else if (u < m->mask_fraction + m->random_fraction)
            inputs[i] = (int32_t)(mix(seed, (uint64_t)i * 4 + 2) % (uint64_t)m->n_vocab);
    }
    return n_masked;
}
