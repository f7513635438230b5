/* Training against PyTorch, step for step, for both objectives: token classification (fixtures by
   tools/reference/train_fixtures.py, tests/fixtures/train/README.md) and masked-language modelling with the
   LM head at the masked positions (tools/reference/mlm_fixtures.py, tests/fixtures/mlm/README.md): the
   gradient of every tensor at the first step, the loss, gradient norm and learning rate of 20 AdamW steps,
   and the weights after them, at 1 and 2 threads; the data pipeline's batches equal the reference's;
   saving and resuming the training state gives the same weights as an uninterrupted run; distillation
   targets (sl_trainer_set_soft_targets) give PyTorch's loss and gradients
   (tools/reference/distill_fixtures.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "fileio.h"
#include "safetensors.h"
#include "evaluate.h"
#include "train.h"

#define N_STEPS 20

/* One reference run: its fixtures, its checkpoint and what differs between the objectives. */
typedef struct {
    const char *name, *dir, *model;
    int mlm;
    double embedding_tolerance; /* the word-embedding rows after 20 steps (see each README) */
} parity;

static const parity TOKEN_CLASSIFICATION = {"token classification", "tests/fixtures/train/",
                                            "tests/fixtures/tiny-hf", 0, 1e-5};
static const parity MASKED_LM = {"masked LM", "tests/fixtures/mlm/", "tests/fixtures/tiny-mlm-hf", 1, 5e-5};
static const parity *P;

/* A file of the current fixture folder. */
static const char *fix(const char *file) {
    static char path[256];
    snprintf(path, sizeof path, "%s%s", P->dir, file);
    return path;
}

static sl_status backward(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T, sl_step_stats *s,
                          sl_error *err) {
    return P->mlm ? sl_trainer_mlm_backward(t, ids, labels, B, T, s, err)
                  : sl_trainer_backward(t, ids, labels, B, T, s, err);
}

static sl_status step(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T, sl_step_stats *s,
                      sl_error *err) {
    return P->mlm ? sl_trainer_mlm_step(t, ids, labels, B, T, s, err) : sl_trainer_step(t, ids, labels, B, T, s, err);
}

typedef struct {
    int B, T;
    int32_t *ids, *labels;
} fixture_batch;

static int read_batches(fixture_batch *b) {
    FILE *f = fopen(fix("batches.txt"), "r");
    if (!f) return 0;
    char line[256];
    long pos = 0;
    while (fgets(line, sizeof line, f) && line[0] == '#') pos = ftell(f);
    fseek(f, pos, SEEK_SET);
    int n = 0;
    for (int k = 0; k < N_STEPS; k++) {
        int step;
        if (fscanf(f, " step %d %d %d", &step, &b[k].B, &b[k].T) != 3) break;
        size_t N = (size_t)b[k].B * b[k].T;
        b[k].ids = malloc(N * sizeof(int32_t));
        b[k].labels = malloc(N * sizeof(int32_t));
        int ok = 1;
        for (int r = 0; r < b[k].B && ok; r++) {
            ok = fscanf(f, " ids") == 0;
            for (int t = 0; t < b[k].T && ok; t++) ok = fscanf(f, "%d", &b[k].ids[r * b[k].T + t]) == 1;
        }
        for (int r = 0; r < b[k].B && ok; r++) {
            ok = fscanf(f, " labels") == 0;
            for (int t = 0; t < b[k].T && ok; t++) ok = fscanf(f, "%d", &b[k].labels[r * b[k].T + t]) == 1;
        }
        if (!ok) break;
        n++;
    }
    fclose(f);
    return n;
}

/* Hugging Face name of a GGUF tensor name, through the model's table. */
static const char *hf_name(const char *gguf, char *buf, size_t size) {
    for (int i = 0; i < N_GLOBAL_TENSORS; i++)
        if (!strcmp(gguf, sl_global_specs[i].gguf)) return snprintf(buf, size, "roberta.%s", sl_global_specs[i].hf), buf;
    for (int i = 0; i < N_HEAD_TENSORS; i++)
        if (!strcmp(gguf, sl_head_specs[i].gguf)) return snprintf(buf, size, "%s", sl_head_specs[i].hf), buf;
    for (int i = 0; i < N_MLM_TENSORS; i++)
        if (!strcmp(gguf, sl_mlm_specs[i].gguf)) return snprintf(buf, size, "%s", sl_mlm_specs[i].hf), buf;
    int l;
    for (int i = 0; i < N_LAYER_TENSORS; i++) {
        char name[96];
        for (l = 0; l < 64; l++) {
            snprintf(name, sizeof name, sl_layer_specs[i].gguf, l);
            if (!strcmp(name, gguf)) {
                char hf[160];
                snprintf(hf, sizeof hf, sl_layer_specs[i].hf, l);
                return snprintf(buf, size, "roberta.%s", hf), buf;
            }
        }
    }
    return NULL;
}

static sl_train_options parity_options(void) {
    sl_train_options o = sl_train_default_options();
    o.batch = 4;
    o.max_len = 128;
    o.lr = 1e-3;
    o.warmup_ratio = 0.1;
    o.total_steps = N_STEPS;
    o.dropout_hidden = o.dropout_attention = o.dropout_classifier = 0;
    return o;
}

/* The step-1 gradients against `file` (every tensor it has). With distil, the file's soft_targets and alpha
   are the step's distillation targets (tools/reference/distill_fixtures.py) and its loss is compared too. */
static void check_gradients(sl_model *m, fixture_batch *b, const char *file, int distil) {
    sl_error err;
    uint8_t *data;
    size_t size;
    sl_safetensors *st;
    if (sl_read_file(fix(file), &data, &size, &err) || sl_safetensors_parse(data, size, file, &st, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    sl_train_options o = parity_options();
    sl_trainer *t;
    CHECK(sl_trainer_create(m, &o, &t, &err) == SL_OK, "trainer: %s", err.message);
    float *soft = NULL, alpha = 0, ref_loss = 0;
    if (distil) {
        const sl_st_tensor *q = sl_safetensors_find(st, "soft_targets"),
                           *a = sl_safetensors_find(st, "alpha"), *l = sl_safetensors_find(st, "loss");
        CHECK(q && a && l && q->n_elements == (int64_t)b[0].B * b[0].T * 7, "%s: soft_targets, alpha, loss",
              file);
        if (!q || !a || !l) return;
        soft = malloc((size_t)q->n_elements * sizeof *soft);
        sl_to_f32(q->dtype, q->data, soft, (size_t)q->n_elements);
        sl_to_f32(a->dtype, a->data, &alpha, 1);
        sl_to_f32(l->dtype, l->data, &ref_loss, 1);
        sl_trainer_set_soft_targets(t, soft, alpha);
    }
    sl_step_stats stats;
    CHECK(backward(t, b[0].ids, b[0].labels, b[0].B, b[0].T, &stats, &err) == SL_OK, "%s", err.message);
    if (distil)
        CHECK(fabs(stats.loss - ref_loss) <= 1e-5 * ref_loss, "distillation loss %.7g, PyTorch %.7g",
              stats.loss, ref_loss);
    const char *name;
    size_t n;
    float *p, *g;
    int checked = 0;
    double worst = 0;
    for (int i = 0; sl_trainer_tensor(t, i, &name, &n, &p, &g); i++) {
        char buf[200];
        const char *hf = hf_name(name, buf, sizeof buf);
        const sl_st_tensor *ref = hf ? sl_safetensors_find(st, hf) : NULL;
        if (distil && !ref && hf && !strcmp(hf, "roberta.embeddings.word_embeddings.weight")) continue;
        CHECK(ref && (size_t)ref->n_elements == n, "gradient of %s (%s) missing or of another size", name,
              hf ? hf : "?");
        if (!ref || (size_t)ref->n_elements != n) continue;
        float *r = malloc(n * sizeof *r);
        sl_to_f32(ref->dtype, ref->data, r, n);
        double scale = 0, diff = 0;
        for (size_t j = 0; j < n; j++) {
            scale = fmax(scale, fabs(r[j]));
            diff = fmax(diff, fabs((double)g[j] - r[j]));
        }
        /* the key biases' gradient is 0 in exact arithmetic: rounding noise, compared absolutely */
        int key_bias = strstr(name, "attn_k.bias") != NULL;
        double rel = key_bias ? diff : diff / (scale > 0 ? scale : 1);
        CHECK(rel <= (key_bias ? 1e-6 : 1e-4), "gradient of %s: max abs diff %.3g, tensor scale %.3g", name, diff, scale);
        if (!key_bias) worst = fmax(worst, rel);
        checked++;
        free(r);
    }
    printf("  %s: step-1 gradients%s: %d tensors, worst max|diff| / max|g| = %.2e\n", P->name,
           distil ? " with distillation targets" : "", checked, worst);
    CHECK(checked == 5 - distil + 16 * 2 + (P->mlm ? N_MLM_TENSORS : N_HEAD_TENSORS),
          "%d gradient tensors checked", checked);
    free(soft);
    sl_trainer_free(t);
    sl_safetensors_free(st);
    free(data);
}

/* Runs steps [from, to) of the fixture batches. */
static void run_steps(sl_trainer *t, fixture_batch *b, int from, int to, double (*ref)[3], double *worst) {
    sl_error err;
    for (int k = from; k < to; k++) {
        sl_step_stats s;
        sl_status st = step(t, b[k].ids, b[k].labels, b[k].B, b[k].T, &s, &err);
        CHECK(st == SL_OK, "step %d: %s", k + 1, err.message);
        if (!ref) continue;
        double dl = fabs(s.loss - ref[k][0]) / ref[k][0], dn = fabs(s.grad_norm - ref[k][1]) / ref[k][1],
               dr = fabs(s.lr - ref[k][2]);
        CHECK(dl <= 1e-5 && dn <= 1e-5 && dr <= 1e-9, "step %d: loss %.7g vs %.7g, norm %.7g vs %.7g, lr %.7g vs %.7g",
              k + 1, s.loss, ref[k][0], s.grad_norm, ref[k][1], s.lr, ref[k][2]);
        worst[0] = fmax(worst[0], dl);
        worst[1] = fmax(worst[1], dn);
    }
}

static void check_weights(sl_trainer *t) {
    sl_error err;
    uint8_t *data;
    size_t size;
    sl_safetensors *st;
    if (sl_read_file(fix("weights_step20.safetensors"), &data, &size, &err) ||
        sl_safetensors_parse(data, size, "weights_step20.safetensors", &st, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    const char *name;
    size_t n;
    float *p, *g;
    double worst = 0;
    for (int i = 0; sl_trainer_tensor(t, i, &name, &n, &p, &g); i++) {
        char buf[200];
        const char *hf = hf_name(name, buf, sizeof buf);
        if (!strcmp(name, "token_embd.weight")) {
            /* only the rows the fixture kept: used ones and a few unused ones (pure decay) */
            const char *rows[2] = {"word_embeddings_rows", "word_embeddings_unused_rows"};
            const char *ids[2] = {"word_embeddings_row_ids", "word_embeddings_unused_row_ids"};
            for (int k = 0; k < 2; k++) {
                const sl_st_tensor *r = sl_safetensors_find(st, rows[k]), *id = sl_safetensors_find(st, ids[k]);
                CHECK(r && id, "%s missing", rows[k]);
                if (!r || !id) continue;
                int C = (int)r->shape[1];
                float *rv = malloc((size_t)r->n_elements * sizeof *rv), *iv = malloc((size_t)id->n_elements * sizeof *iv);
                sl_to_f32(r->dtype, r->data, rv, (size_t)r->n_elements);
                sl_to_f32(id->dtype, id->data, iv, (size_t)id->n_elements);
                double d = 0;
                for (int64_t j = 0; j < id->n_elements; j++)
                    for (int c = 0; c < C; c++) d = fmax(d, fabs((double)p[(size_t)iv[j] * C + c] - rv[j * C + c]));
                CHECK(d <= P->embedding_tolerance, "%s after 20 steps: max abs diff %.3g", rows[k], d);
                worst = fmax(worst, d);
                free(rv);
                free(iv);
            }
            continue;
        }
        const sl_st_tensor *ref = hf ? sl_safetensors_find(st, hf) : NULL;
        CHECK(ref && (size_t)ref->n_elements == n, "weights of %s missing", name);
        if (!ref) continue;
        float *r = malloc(n * sizeof *r);
        sl_to_f32(ref->dtype, ref->data, r, n);
        double d = 0;
        for (size_t j = 0; j < n; j++) d = fmax(d, fabs((double)p[j] - r[j]));
        int key_bias = strstr(name, "attn_k.bias") != NULL; /* moved by noise only: see the fixture's README */
        CHECK(d <= (key_bias ? 1e-2 : 2e-5), "%s after 20 steps: max abs diff %.3g", name, d);
        if (!key_bias) worst = fmax(worst, d);
        free(r);
    }
    printf("  %s: weights after %d steps: max abs diff %.2e\n", P->name, N_STEPS, worst);
    sl_safetensors_free(st);
    free(data);
}

/* Logits of a made-up model: a function of the token id and the label only, so a word's scores are known from
   its first sub-token. */
static float made_up_logit(int32_t id, int j) {
    uint32_t h = (uint32_t)id * 2654435761u ^ (uint32_t)(j + 1) * 40503u;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    return (float)(h % 1000) / 125.0f - 4.0f;
}

static sl_status made_up_logits(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    (void)err;
    const int L = *(const int *)ctx;
    for (int i = 0; i < B * T; i++)
        for (int j = 0; j < L; j++) logits[(size_t)i * L + j] = made_up_logit(ids[i], j);
    return SL_OK;
}

/* sl_evaluate's decodings on made-up logits: argmax gives each word the best label of its first sub-token;
   Viterbi gives, for every sentence of up to 6 words, the valid IOB2 sequence of highest log-softmax sum
   found by trying them all (and never a worse sum than that of a valid sequence elsewhere). */
static void check_evaluate_decoding(const sl_conll *conll, const sl_dataset *d) {
    const sl_labelset *ls = &conll->labels;
    int L = ls->n_labels;
    const int W = conll->n_words; /* pred covers every word of the file, sentences cut off included */
    int *arg = malloc((size_t)W * sizeof *arg), *vit = malloc((size_t)W * sizeof *vit);
    float *lp = malloc((size_t)W * L * sizeof *lp);
    sl_metrics m1 = {0}, m2 = {0};
    sl_error err;
    CHECK(sl_metrics_init(&m1, ls, &err) == SL_OK && sl_metrics_init(&m2, ls, &err) == SL_OK, "%s",
          err.message);
    const sl_decoder argmax = {SL_DECODE_ARGMAX, NULL, 0}, viterbi = {SL_DECODE_VITERBI, NULL, 0};
    CHECK(sl_evaluate(conll, d, 4, made_up_logits, &L, L, &argmax, &m1, arg, &err) == SL_OK, "%s",
          err.message);
    CHECK(sl_evaluate(conll, d, 4, made_up_logits, &L, L, &viterbi, &m2, vit, &err) == SL_OK, "%s",
          err.message);
    int o = 0;
    while (o < L && ls->tag_of[o] != 'O') o++;
    for (int w = 0; w < W; w++)
        for (int j = 0; j < L; j++) lp[(size_t)w * L + j] = j == o ? 0.0f : -INFINITY;
    for (int e = 0; e < d->n_examples; e++)
        for (int t = 0; t < d->len[e]; t++) {
            const int w = d->word_of[d->start[e] + t];
            if (w < 0) continue;
            const int32_t id = d->ids[d->start[e] + t];
            double z = 0;
            for (int j = 0; j < L; j++) z += exp(made_up_logit(id, j));
            int best = 0;
            for (int j = 0; j < L; j++) {
                lp[(size_t)w * L + j] = (float)(made_up_logit(id, j) - log(z));
                if (made_up_logit(id, j) > made_up_logit(id, best)) best = j;
            }
            CHECK(arg[w] == best, "word %d: argmax %d, its first sub-token's best label %d", w, arg[w], best);
        }
    int differ = 0, tried = 0;
    for (int s = 0; s < conll->n_sentences; s++) {
        const int w0 = conll->sentence_start[s], n = conll->sentence_start[s + 1] - w0;
        for (int i = 0; i < n; i++) differ += vit[w0 + i] != arg[w0 + i];
        if (n > 6) continue;
        tried++;
        int y[6], total = 1;
        double best = -INFINITY, got = 0;
        for (int i = 0; i < n; i++) total *= L, got += lp[(size_t)(w0 + i) * L + vit[w0 + i]];
        for (int k = 0; k < total; k++) {
            int ok = 1;
            double sc = 0;
            for (int i = 0, r = k; i < n; i++, r /= L) y[i] = r % L;
            for (int i = 0; i < n && ok; i++) { /* IOB2: an I- continues a B- or I- of its type */
                const int yi = y[i];
                if (ls->tag_of[yi] == 'I')
                    ok = i > 0 && ls->tag_of[y[i - 1]] != 'O' && ls->type_of[y[i - 1]] == ls->type_of[yi];
                sc += lp[(size_t)(w0 + i) * L + yi];
            }
            if (ok && sc > best) best = sc;
        }
        CHECK(fabs(got - best) < 1e-4, "sentence %d: Viterbi's labels sum %g, the best valid sequence %g", s,
              got, best);
    }
    CHECK(differ > 0 && tried > 10, "Viterbi changed %d labels; %d sentences checked by enumeration", differ,
          tried);
    sl_metrics_free(&m1), sl_metrics_free(&m2);
    free(arg), free(vit), free(lp);
}

/* Batches grouped by length: a permutation of the examples, the same for a seed and another for another seed;
   with one group (80 examples < 32 batches), the full batches are slices of the examples sorted by length (no
   two overlap in length) in a shuffled order, the partial batch last, and the padding is less than a plain
   shuffle's. */
static void check_grouped_order(const sl_dataset *d) {
    const int n = d->n_examples;
    int a[80], b[80], c[80], plain[80], seen[80] = {0};
    CHECK(n == 80, "%d examples", n);
    if (n != 80) return;
    CHECK(sl_dataset_order_grouped(d, 3, 7, a) == 0 && sl_dataset_order_grouped(d, 3, 7, b) == 0 &&
              sl_dataset_order_grouped(d, 3, 8, c) == 0,
          "grouped order");
    int same = 1, other = 1, perm = 1;
    for (int i = 0; i < n; i++) {
        same &= a[i] == b[i], other &= a[i] == c[i];
        perm &= a[i] >= 0 && a[i] < n && !seen[a[i]]++;
    }
    CHECK(perm && same && !other, "a permutation (%d), the same for one seed (%d), another for another (%d)",
          perm, same, !other);
    int lo[27], hi[27], ordered = 1;
    for (int k = 0; k < 26; k++) {
        lo[k] = 1 << 30, hi[k] = 0;
        for (int r = 0; r < 3; r++) {
            const int len = d->len[a[3 * k + r]];
            lo[k] = len < lo[k] ? len : lo[k], hi[k] = len > hi[k] ? len : hi[k];
        }
    }
    for (int k = 0; k < 26; k++)
        for (int j = 0; j < 26; j++) ordered &= j == k || hi[k] <= lo[j] || hi[j] <= lo[k];
    CHECK(ordered, "full batches overlap in length");
    CHECK(d->len[a[78]] >= hi[0] && d->len[a[79]] >= d->len[a[78]],
          "the partial batch holds the longest, last");
    int shuffled = 0;
    for (int k = 1; k < 26; k++) shuffled |= lo[k] < lo[k - 1];
    CHECK(shuffled, "the batches come in length order: not shuffled");
    sl_dataset_order(d, 1, 7, plain);
    long pad_grouped = 0, pad_plain = 0;
    for (int k = 0; k < 27; k++) {
        int tg = 0, tp = 0;
        for (int r = 3 * k; r < 3 * k + 3 && r < n; r++) {
            tg = d->len[a[r]] > tg ? d->len[a[r]] : tg;
            tp = d->len[plain[r]] > tp ? d->len[plain[r]] : tp;
        }
        for (int r = 3 * k; r < 3 * k + 3 && r < n; r++)
            pad_grouped += tg - d->len[a[r]], pad_plain += tp - d->len[plain[r]];
    }
    CHECK(pad_grouped < pad_plain, "padding %ld grouped, %ld shuffled", pad_grouped, pad_plain);
    printf("  batches of 3 grouped by length: %ld padding tokens, %ld with a plain shuffle\n", pad_grouped,
           pad_plain);
}

/* Words as running text (sl_dataset_build_text): glue 0 is sl_dataset_build; glue 1 gives the tokens of the
   sentence written as French text (the engine's own tokenisation of a page), each word's label on the token
   that starts at its first byte; a glue between them is seeded. */
static void check_glued(sl_model *m, const sl_conll *wikiann, const sl_dataset *plain) {
    sl_error err;
    sl_dataset d;
    CHECK(sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 0.0f, 7, &d, &err) == SL_OK, "%s",
          err.message);
    CHECK(d.n_tokens == plain->n_tokens && d.n_examples == plain->n_examples &&
              !memcmp(d.ids, plain->ids, (size_t)d.n_tokens * sizeof *d.ids) &&
              !memcmp(d.labels, plain->labels, (size_t)d.n_tokens * sizeof *d.labels),
          "glue 0 differs from sl_dataset_build");
    sl_dataset_free(&d);
    CHECK(sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 1.5f, 7, &d, &err) == SL_ERR_ARGUMENT &&
              strstr(err.message, "glue"),
          "glue 1.5 accepted: %s", err.message);

    static const char *const words[] = {"Gérald", "Darmanin", ",",      "ministre", "(",       "Paris", ")",
                                        "de",     "l'",       "Europe", "d’",       "Orléans", "..."};
    static const char *const tags[] = {"B-PER", "I-PER", "O",     "O", "O",     "B-LOC", "O",
                                       "O",     "O",     "B-LOC", "O", "B-LOC", "O"};
    const char *text = "Gérald Darmanin, ministre (Paris) de l'Europe d’Orléans...";
    const int n_words = (int)(sizeof words / sizeof *words);
    char dir[] = "/tmp/surligne-glue-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/s.conll", dir);
    FILE *f = fopen(path, "w");
    for (int w = 0; f && w < n_words; w++) fprintf(f, "%s\t%s\n", words[w], tags[w]);
    if (f) fclose(f);
    sl_conll c;
    sl_conll_options co = {sl_model_labelset(m), 1};
    if (sl_conll_read(path, &co, &c, &err) != SL_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    sl_tokens tk = {0};
    CHECK(sl_tokenize(sl_model_tokenizer(m), text, strlen(text), &tk, &err) == SL_OK, "%s", err.message);
    CHECK(sl_dataset_build_text(&c, sl_model_tokenizer(m), 128, 1.0f, 7, &d, &err) == SL_OK, "%s",
          err.message);
    CHECK(d.n_examples == 1 && d.len[0] == tk.n + 2, "%d examples, %d tokens; the text has %d", d.n_examples,
          d.n_examples ? d.len[0] : 0, tk.n);
    if (d.n_examples == 1 && d.len[0] == tk.n + 2) {
        CHECK(!memcmp(d.ids + 1, tk.ids, (size_t)tk.n * sizeof *tk.ids), "ids differ from the text's");
        int w = 0;
        size_t at = 0; /* byte offset of word w in the text */
        for (int t = 0; t < tk.n; t++) {
            while (w < n_words && at + strlen(words[w]) <= (size_t)tk.start[t]) {
                at += strlen(words[w]);
                at += text[at] == ' ';
                w++;
            }
            const int first =
                w < n_words && (size_t)tk.start[t] == at && (t == 0 || tk.start[t - 1] < tk.start[t]);
            CHECK(d.labels[1 + t] == (first ? c.tags[w] : SL_IGNORE_LABEL) &&
                      d.word_of[1 + t] == (first ? w : -1),
                  "token %d (byte %d): label %d, word %d", t, tk.start[t], d.labels[1 + t], d.word_of[1 + t]);
        }
    }
    sl_dataset_free(&d);
    /* glue 0.5: the same with the same seed, some glue points taken and some not over the WikiAnn sentences
     */
    sl_dataset a, b, none, all;
    sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 0.5f, 7, &a, &err);
    sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 0.5f, 7, &b, &err);
    sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 0.0f, 7, &none, &err);
    sl_dataset_build_text(wikiann, sl_model_tokenizer(m), 128, 1.0f, 7, &all, &err);
    CHECK(a.n_tokens == b.n_tokens && !memcmp(a.ids, b.ids, (size_t)a.n_tokens * sizeof *a.ids),
          "glue 0.5 is not reproducible");
    CHECK(all.n_tokens < a.n_tokens && a.n_tokens < none.n_tokens, "tokens: glue 1 %d, 0.5 %d, 0 %d",
          all.n_tokens, a.n_tokens, none.n_tokens);
    /* a word that gave no token (its bytes inside the word before's token) continues that word's entity */
    int L = wikiann->labels.n_labels, *pred = malloc(((size_t)wikiann->n_words + 1) * sizeof *pred),
        covered = 0;
    uint8_t *has = calloc((size_t)wikiann->n_words + 1, 1);
    sl_metrics mt = {0};
    const sl_decoder argmax = {SL_DECODE_ARGMAX, NULL, 0};
    CHECK(sl_metrics_init(&mt, &wikiann->labels, &err) == SL_OK &&
              sl_evaluate(wikiann, &all, 4, made_up_logits, &L, L, &argmax, &mt, pred, &err) == SL_OK,
          "%s", err.message);
    for (int t = 0; t < all.n_tokens; t++)
        if (all.word_of[t] >= 0) has[all.word_of[t]] = 1;
    for (int si = 0; si < wikiann->n_sentences; si++)
        for (int w = wikiann->sentence_start[si] + 1; w < wikiann->sentence_start[si + 1]; w++) {
            if (has[w]) continue;
            covered++;
            const sl_labelset *ls = &wikiann->labels;
            const int p = pred[w - 1], inside = ls->tag_of[p] == 'B' || ls->tag_of[p] == 'I';
            CHECK(ls->tag_of[pred[w]] == (inside ? 'I' : 'O') &&
                      ls->type_of[pred[w]] == ls->type_of[p] * inside - !inside,
                  "word %d '%s' with no token: label %d after %d", w, wikiann->words[w], pred[w], p);
        }
    CHECK(covered > 0 && covered == all.n_empty_words, "%d words with no token, the dataset counts %d",
          covered, all.n_empty_words);
    sl_metrics_free(&mt);
    free(pred), free(has);
    printf("  running text: %d tokens glued, %d with glue 0.5, %d word by word\n", all.n_tokens, a.n_tokens,
           none.n_tokens);
    sl_dataset_free(&a), sl_dataset_free(&b), sl_dataset_free(&none), sl_dataset_free(&all);
    sl_tokens_free(&tk);
    sl_conll_free(&c);
    remove(path);
    rmdir(dir);
}

/* An ensemble's logits are the mean of its models' log-softmax (tiny-hf and its f16 copy, whose logits
   differ a little), and sl_dataset_log_probs gives the log-softmax of every labelled token's row. */
static void check_ensemble(sl_model *m, const sl_dataset *d) {
    sl_error err;
    uint8_t *gguf;
    size_t size;
    sl_model *m2;
    if (sl_convert_hf("tests/fixtures/tiny-hf-f16", NULL, NULL, &gguf, &size, &err) ||
        sl_model_load_memory(gguf, size, "tiny-f16", &m2, &err)) {
        CHECK(0, "setup: %s", err.message);
        return;
    }
    const int L = sl_model_n_labels(m), N = d->n_tokens;
    sl_model *models[2] = {m, m2};
    sl_ensemble ens = {.models = models, .n_models = 2};
    float *one = malloc((size_t)N * L * sizeof *one), *two = malloc((size_t)N * L * sizeof *two),
          *both = malloc((size_t)N * L * sizeof *both);
    CHECK(sl_dataset_log_probs(d, 5, sl_model_logits_fn, m, L, one, &err) == SL_OK &&
              sl_dataset_log_probs(d, 3, sl_model_logits_fn, m2, L, two, &err) == SL_OK &&
              sl_dataset_log_probs(d, 4, sl_ensemble_logits_fn, &ens, L, both, &err) == SL_OK,
          "%s", err.message);
    double worst = 0, apart = 0, mass = 0;
    int rows = 0;
    for (int i = 0; i < N; i++) {
        if (d->word_of[i] < 0) continue;
        rows++;
        /* the geometric mean of the two distributions, renormalised */
        double z = 0, p1 = 0;
        for (int j = 0; j < L; j++) z += exp(0.5 * (one[(size_t)i * L + j] + two[(size_t)i * L + j]));
        for (int j = 0; j < L; j++) {
            const double want = 0.5 * (one[(size_t)i * L + j] + two[(size_t)i * L + j]) - log(z);
            worst = fmax(worst, fabs(both[(size_t)i * L + j] - want));
            apart = fmax(apart, fabs(one[(size_t)i * L + j] - two[(size_t)i * L + j]));
            p1 += exp(one[(size_t)i * L + j]);
        }
        mass = fmax(mass, fabs(p1 - 1));
    }
    CHECK(
        rows > 500 && worst < 1e-5 && apart > 1e-4 && mass < 1e-5,
        "ensemble of 2 over %d rows: max |diff| %.3g from the mean log-softmax (the models differ by %.3g); "
        "probabilities sum to 1 within %.3g",
        rows, worst, apart, mass);
    printf("  ensemble of 2 models: %d labelled tokens, max |diff| from the mean log-softmax %.2e\n", rows,
           worst);
    /* a model whose labels are in another order is read through label_of: here the model and itself with its
       outputs reversed, so label j is the mean of its log-probabilities of j and L-1-j */
    int *label_of = malloc(2 * (size_t)L * sizeof *label_of);
    for (int j = 0; j < L; j++) label_of[j] = j, label_of[L + j] = L - 1 - j;
    sl_model *same[2] = {m, m};
    sl_ensemble rev = {.models = same, .n_models = 2, .label_of = label_of};
    CHECK(sl_dataset_log_probs(d, 4, sl_ensemble_logits_fn, &rev, L, both, &err) == SL_OK, "%s", err.message);
    double worst_rev = 0;
    for (int i = 0; i < N; i++) {
        if (d->word_of[i] < 0) continue;
        double z = 0;
        for (int j = 0; j < L; j++) z += exp(0.5 * (one[(size_t)i * L + j] + one[(size_t)i * L + L - 1 - j]));
        for (int j = 0; j < L; j++)
            worst_rev = fmax(
                worst_rev, fabs(both[(size_t)i * L + j] -
                                (0.5 * (one[(size_t)i * L + j] + one[(size_t)i * L + L - 1 - j]) - log(z))));
    }
    CHECK(worst_rev < 1e-5, "ensemble through label_of: max |diff| %.3g", worst_rev);
    printf("  the same through label_of (the second model's labels reversed): max |diff| %.2e\n", worst_rev);
    sl_ensemble_free(&rev);
    free(label_of);
    sl_ensemble_free(&ens);
    free(one), free(two), free(both);
    sl_model_free(m2);
    free(gguf);
}

/* The data pipeline: the first 80 WikiAnn sentences give the reference's batches. */
static void check_pipeline(sl_model *m, fixture_batch *b) {
    sl_conll conll;
    sl_error err;
    sl_conll_options co = {sl_model_labelset(m), 0};
    if (sl_conll_read(SL_SHARED_DATA "/wikiann-fr/train.conll", &co, &conll, &err) != SL_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    conll.n_sentences = 80; /* the fixture's sentences */
    sl_dataset d;
    CHECK(sl_dataset_build(&conll, sl_model_tokenizer(m), 128, &d, &err) == SL_OK, "%s", err.message);
    int order[80];
    sl_dataset_order(&d, 0, 0, order);
    int32_t ids[4 * 128], labels[4 * 128];
    sl_batch batch = {.ids = ids, .labels = labels};
    CHECK(sl_dataset_n_batches(&d, 4) == N_STEPS, "%d batches", sl_dataset_n_batches(&d, 4));
    for (int k = 0; k < N_STEPS && k < sl_dataset_n_batches(&d, 4); k++) {
        sl_dataset_batch(&d, order, k, 4, &batch);
        int same = batch.B == b[k].B && batch.T == b[k].T &&
                   !memcmp(ids, b[k].ids, (size_t)batch.B * batch.T * sizeof(int32_t)) &&
                   !memcmp(labels, b[k].labels, (size_t)batch.B * batch.T * sizeof(int32_t));
        CHECK(same, "batch %d differs from the reference (%dx%d vs %dx%d)", k + 1, batch.B, batch.T, b[k].B, b[k].T);
    }
    check_evaluate_decoding(&conll, &d);
    check_grouped_order(&d);
    check_glued(m, &conll, &d);
    check_ensemble(m, &d);
    sl_dataset_free(&d);
    sl_conll_free(&conll);
}

/* Steps, gradients and weights against one fixture; then, for token classification, the data pipeline
   and saving/resuming. */
static void run_parity(const parity *p) {
    P = p;
    sl_error err;
    uint8_t *gguf;
    size_t size;
    sl_model *m;
    if (sl_convert_hf(p->model, NULL, NULL, &gguf, &size, &err) ||
        sl_model_load_memory(gguf, size, "tiny", &m, &err)) {
        CHECK(0, "setup: %s", err.message);
        return;
    }
    fixture_batch b[N_STEPS];
    int n = read_batches(b);
    CHECK(n == N_STEPS, "read %d batches", n);
    if (n != N_STEPS) return;
    double ref[N_STEPS][3];
    FILE *f = fopen(fix("steps.txt"), "r");
    char line[256];
    int k = 0;
    while (f && fgets(line, sizeof line, f) && k < N_STEPS) {
        int step;
        if (line[0] != '#' && sscanf(line, "%d %lf %lf %lf", &step, &ref[k][0], &ref[k][1], &ref[k][2]) == 4) k++;
    }
    if (f) fclose(f);
    CHECK(k == N_STEPS, "read %d steps", k);

    check_gradients(m, b, "grads_step1.safetensors", 0);
    if (!p->mlm) check_gradients(m, b, "distill_step1.safetensors", 1);
    if (!p->mlm) check_pipeline(m, b);

    /* 20 steps, 1 and 2 threads */
    for (int threads = 1; threads <= 2; threads++) {
        sl_train_options o = parity_options();
        o.n_threads = threads;
        sl_trainer *t;
        CHECK(sl_trainer_create(m, &o, &t, &err) == SL_OK, "trainer: %s", err.message);
        double worst[2] = {0, 0};
        run_steps(t, b, 0, N_STEPS, ref, worst);
        printf("  %s, %d thread(s): %d steps, worst relative diff: loss %.2e, grad norm %.2e\n", p->name, threads,
               N_STEPS, worst[0], worst[1]);
        check_weights(t);
        sl_trainer_free(t);
    }
    if (p->mlm) {
        for (int i = 0; i < N_STEPS; i++) free(b[i].ids), free(b[i].labels);
        sl_model_free(m);
        free(gguf);
        return;
    }

    /* save the state after 8 steps, resume in a new trainer: the same weights as 20 straight steps */
    char dir[] = "/tmp/surligne-train-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/state.gguf", dir);
    sl_train_options o = parity_options();
    o.dropout_hidden = o.dropout_attention = o.dropout_classifier = 0.1f; /* the dropout masks must resume too */
    sl_trainer *straight, *first, *resumed;
    double none[2];
    sl_trainer_create(m, &o, &straight, &err);
    run_steps(straight, b, 0, N_STEPS, NULL, none);
    sl_trainer_create(m, &o, &first, &err);
    run_steps(first, b, 0, 8, NULL, none);
    uint64_t extra[2] = {12345, 678}, back[2] = {0, 0};
    CHECK(sl_trainer_save_state(first, path, extra, 2, &err) == SL_OK, "save state: %s", err.message);
    sl_trainer_free(first);
    sl_trainer_create(m, &o, &resumed, &err);
    CHECK(sl_trainer_load_state(resumed, path, back, 2, &err) == SL_OK, "load state: %s", err.message);
    CHECK(back[0] == 12345 && back[1] == 678 && sl_trainer_step_count(resumed) == 8, "state words %llu %llu, step %d",
          (unsigned long long)back[0], (unsigned long long)back[1], sl_trainer_step_count(resumed));
    run_steps(resumed, b, 8, N_STEPS, NULL, none);
    const char *name;
    size_t count;
    float *p1, *p2, *g;
    int identical = 1;
    for (int i = 0; sl_trainer_tensor(straight, i, &name, &count, &p1, &g); i++) {
        sl_trainer_tensor(resumed, i, &name, &count, &p2, &g);
        identical &= !memcmp(p1, p2, count * sizeof(float));
    }
    CHECK(identical, "resumed training differs from the uninterrupted run");
    /* the saved model loads and runs */
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    CHECK(sl_trainer_save(resumed, path, &err) == SL_OK, "save: %s", err.message);
    sl_model *saved;
    CHECK(sl_model_load_file(path, &saved, &err) == SL_OK, "load saved: %s", err.message);
    if (saved) {
        float logits_saved[47 * 7], logits_trainer[47 * 7];
        sl_model_forward(saved, b[0].ids, 1, b[0].T, logits_saved, &err);
        sl_trainer_logits(resumed, b[0].ids, 1, b[0].T, logits_trainer, &err);
        CHECK(!memcmp(logits_saved, logits_trainer, sizeof(float) * 7 * b[0].T), "saved model's logits differ");
        sl_model_free(saved);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/state.gguf", dir);
    unlink(path);
    rmdir(dir);
    sl_trainer_free(straight);
    sl_trainer_free(resumed);
    for (int i = 0; i < N_STEPS; i++) free(b[i].ids), free(b[i].labels);
    sl_model_free(m);
    free(gguf);
}

int main(void) {
    run_parity(&TOKEN_CLASSIFICATION);
    run_parity(&MASKED_LM);
    return check_report("test_train");
}
