#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sl_status sl_model_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    return sl_model_forward((sl_model *)ctx, ids, B, T, logits, err);
}

sl_status sl_trainer_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    return sl_trainer_logits((sl_trainer *)ctx, ids, B, T, logits, err);
}

/* The id of the label "O" (a word with no prediction gets it); 0 if the set has none. */
static int outside_label(const sl_labelset *ls) {
    for (int i = 0; i < ls->n_labels; i++)
        if (ls->tag_of[i] == 'O') return i;
    return 0;
}

/* The label that continues `label`'s entity: I- of its type after B- or I- (where the set has that I-),
   O otherwise (after O, an E- or S- that closed it, or in a set without I-). */
static int continuation(const sl_labelset *ls, int label) {
    const int type = label >= 0 && label < ls->n_labels ? ls->type_of[label] : -1;
    if (type < 0 || (ls->tag_of[label] != 'B' && ls->tag_of[label] != 'I')) return outside_label(ls);
    for (int j = 0; j < ls->n_labels; j++)
        if (ls->type_of[j] == type && ls->tag_of[j] == 'I') return j;
    return outside_label(ls);
}

void sl_log_softmax(const float *x, int n, float *out) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[best]) best = j;
    double z = 0;
    for (int j = 0; j < n; j++) z += exp((double)x[j] - x[best]);
    const double lz = x[best] + log(z);
    for (int j = 0; j < n; j++) out[j] = (float)(x[j] - lz);
}

sl_status sl_ensemble_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err) {
    sl_ensemble *e = ctx;
    if (e->n_models < 1) return sl_fail(err, SL_ERR_ARGUMENT, "an ensemble needs at least one model");
    const int L = sl_model_n_labels(e->models[0]);
    const size_t N = (size_t)B * T;
    if (e->cap < N * L) {
        float *b = realloc(e->buf, N * L * sizeof *b);
        if (!b) return sl_fail(err, SL_ERR_MEMORY, "no memory for an ensemble's logits (%d x %d)", B, T);
        e->buf = b, e->cap = N * L;
    }
    memset(logits, 0, N * L * sizeof *logits);
    for (int k = 0; k < e->n_models; k++) {
        if (sl_model_n_labels(e->models[k]) != L)
            return sl_fail(err, SL_ERR_ARGUMENT, "ensemble model %d has %d labels, model 0 has %d", k,
                           sl_model_n_labels(e->models[k]), L);
        sl_status s = sl_model_forward(e->models[k], ids, B, T, e->buf, err);
        if (s != SL_OK) return s;
        const int *from = e->label_of ? e->label_of + (size_t)k * L : NULL;
        for (size_t i = 0; i < N; i++) {
            float *x = e->buf + i * L;
            sl_log_softmax(x, L, x);
            for (int j = 0; j < L; j++) logits[i * L + j] += x[from ? from[j] : j] / (float)e->n_models;
        }
    }
    return SL_OK;
}

void sl_ensemble_free(sl_ensemble *e) {
    free(e->buf);
    e->buf = NULL, e->cap = 0;
}

sl_status sl_dataset_log_probs(const sl_dataset *d, int batch, sl_logits_fn logits_fn, void *ctx,
                               int n_labels, float *out, sl_error *err) {
    if (batch < 1 || !logits_fn)
        return sl_fail(err, SL_ERR_ARGUMENT,
                       "log-probabilities need a batch size >= 1 and a logits function");
    const size_t N = (size_t)batch * d->max_len;
    int32_t *ids = malloc(N * sizeof *ids), *labels = malloc(N * sizeof *labels);
    float *logits = malloc(N * (size_t)n_labels * sizeof *logits);
    int *order = malloc(((size_t)d->n_examples + 1) * sizeof *order);
    sl_status s = SL_OK;
    if (!ids || !labels || !logits || !order)
        s = sl_fail(err, SL_ERR_MEMORY, "no memory for a batch of %d x %d", batch, d->max_len);
    if (s == SL_OK) {
        sl_dataset_order(d, 0, 0, order);
        sl_batch b = {.ids = ids, .labels = labels};
        const int n_batches = sl_dataset_n_batches(d, batch);
        for (int k = 0; s == SL_OK && k < n_batches; k++) {
            sl_dataset_batch(d, order, k, batch, &b);
            if ((s = logits_fn(ctx, b.ids, b.B, b.T, logits, err))) break;
            for (int r = 0; r < b.B; r++) {
                const int e = order[b.first + r];
                for (int t = 0; t < d->len[e]; t++) {
                    const size_t i = (size_t)d->start[e] + t;
                    if (d->word_of[i] >= 0)
                        sl_log_softmax(logits + ((size_t)r * b.T + t) * n_labels, n_labels,
                                       out + i * n_labels);
                }
            }
        }
    }
    free(ids);
    free(labels);
    free(logits);
    free(order);
    return s;
}

sl_status sl_evaluate(const sl_conll *data, const sl_dataset *d, int batch, sl_logits_fn logits_fn, void *ctx,
                      int n_labels, const sl_decoder *dec, sl_metrics *metrics, int *pred, sl_error *err) {
    if (n_labels != data->labels.n_labels)
        return sl_fail(err, SL_ERR_ARGUMENT, "the model has %d labels, the data's label set %d", n_labels,
                       data->labels.n_labels);
    /* every labelled token's log-probabilities: a word is predicted by its first sub-token, the one the
       dataset labels */
    float *tok_logp = malloc(((size_t)d->n_tokens + 1) * n_labels * sizeof *tok_logp);
    int *own_pred = pred ? NULL : malloc(((size_t)data->n_words + 1) * sizeof *own_pred);
    if (!pred) pred = own_pred;
    const int viterbi = dec && dec->mode == SL_DECODE_VITERBI;
    /* which words have a token: NULL when all do (the words of sl_dataset_build always do) */
    uint8_t *has_token = d->n_empty_words > 0 ? calloc((size_t)data->n_words + 1, 1) : NULL;
    /* with Viterbi decoding, each word's log-probabilities, decoded sentence by sentence at the end */
    float *logp = viterbi ? malloc(((size_t)data->n_words + 1) * n_labels * sizeof *logp) : NULL;
    sl_status s = SL_OK;
    if (!tok_logp || !pred || (viterbi && !logp) || (d->n_empty_words > 0 && !has_token))
        s = sl_fail(err, SL_ERR_MEMORY, "no memory to evaluate %d tokens", d->n_tokens);
    if (s == SL_OK) s = sl_dataset_log_probs(d, batch, logits_fn, ctx, n_labels, tok_logp, err);
    if (s == SL_OK) {
        const int o = outside_label(&data->labels);
        for (int w = 0; w < data->n_words; w++) pred[w] = o;
        /* a word that gave no token reads as a sure O, as greedy decoding predicts it */
        if (viterbi)
            for (int w = 0; w < data->n_words; w++)
                for (int j = 0; j < n_labels; j++) logp[(size_t)w * n_labels + j] = j == o ? 0.0f : -INFINITY;
        for (int i = 0; i < d->n_tokens; i++) {
            const int w = d->word_of[i];
            if (w < 0 || w >= data->n_words) continue;
            if (has_token) has_token[w] = 1;
            const float *x = tok_logp + (size_t)i * n_labels;
            int best = 0;
            for (int j = 1; j < n_labels; j++)
                if (x[j] > x[best]) best = j;
            pred[w] = best;
            if (viterbi) memcpy(logp + (size_t)w * n_labels, x, (size_t)n_labels * sizeof *x);
        }
    }
    for (int si = 0; s == SL_OK && si < data->n_sentences; si++) {
        const int w0 = data->sentence_start[si], w1 = data->sentence_start[si + 1];
        if (viterbi &&
            (s = sl_ner_viterbi(&data->labels, logp + (size_t)w0 * n_labels, w1 - w0, dec, pred + w0, err)))
            break;
        /* a word that gave no token of its own (a glued "." that the token "M." of the word before covers)
           is inside that token, so it continues the previous word's entity, as the engine's spans have it */
        if (has_token)
            for (int w = w0 + 1; w < w1; w++)
                if (!has_token[w]) pred[w] = continuation(&data->labels, pred[w - 1]);
        s = sl_metrics_add(metrics, data->tags + w0, pred + w0, w1 - w0, err);
    }
    free(tok_logp);
    free(own_pred);
    free(logp);
    free(has_token);
    return s;
}
