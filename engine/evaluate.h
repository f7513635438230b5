/* Word-level evaluation of a model on annotated sentences: entity precision, recall and F1 (metrics.h),
   as the Hugging Face token-classification example computes them during training.

   Example (what `surligne eval` does):

       sl_conll conll;        // read with the model's label set, so ids match: sl_conll_options
       sl_dataset d;          // sl_dataset_build(&conll, sl_model_tokenizer(m), 128, &d, &err)
       sl_metrics metrics;    // sl_metrics_init(&metrics, &conll.labels, &err)
       if (sl_evaluate(&conll, &d, 16, sl_model_logits_fn, model, sl_model_n_labels(model), &dec, &metrics,
                       NULL, &err))   // dec = sl_model_decoder(model, SL_DECODE_VITERBI)
           return err.status;
       sl_metrics_print(&metrics, 4, stdout);

   Why this shape:
   - The logits come through a function pointer, so the same evaluation serves a loaded model
     (sl_model_logits_fn, for `surligne eval`) and the parameters being trained (sl_trainer_logits_fn, for the
     dev evaluation after each epoch): the two give identical figures for identical weights.
   - A word is scored by its first sub-token (the token sl_dataset labels), exactly the positions the
     training loss uses. dec (ner.h; NULL: argmax) SL_DECODE_ARGMAX predicts each word's argmax label;
     SL_DECODE_VITERBI the best sequence of a sentence's labels the scheme allows (sl_ner_viterbi over the
     log-softmax, with dec's label transitions), as sl_recognize does by default. A word that gave no token,
   or whose token was cut off, is predicted O. Gold tags are the CoNLL ones, so every word of the file counts,
   tokenised or not.
   - Examples are taken in file order, `batch` at a time, padded to the longest of the batch. The buffers
     (one batch of ids and of logits, one predicted tag per word) are allocated once per call. */
#ifndef SL_EVALUATE_H
#define SL_EVALUATE_H

#include <stdint.h>
#include "metrics.h"
#include "train.h"

/* Logits (B*T, n_labels) for ids (B,T) padded with the dataset's pad id. */
typedef sl_status (*sl_logits_fn)(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err);

/* ctx is an sl_model * (sl_model_forward). */
sl_status sl_model_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err);
/* ctx is an sl_trainer * (sl_trainer_logits: current parameters, no dropout). */
sl_status sl_trainer_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err);

/* An ensemble of models with the same labels: its logits are the mean of the models' log-softmax (the log of
   the geometric mean of their probabilities, up to a constant per row), which is what decoding and
   distillation read from it. The logits are in model 0's label order (label_of maps the others'). The models
   are borrowed; `buf` (one model's logits) is grown as needed and freed by sl_ensemble_free. */
typedef struct {
    sl_model *const *models;
    int n_models;
    /* (n_models, n_labels) or NULL when every model orders its labels as model 0: label_of[k * n_labels + j]
       is the output of model k that holds model 0's label j */
    const int *label_of;
    float *buf;
    size_t cap;
} sl_ensemble;

/* ctx is an sl_ensemble *. */
sl_status sl_ensemble_logits_fn(void *ctx, const int32_t *ids, int B, int T, float *logits, sl_error *err);
void sl_ensemble_free(sl_ensemble *e);

/* out[0..n) = log-softmax of x[0..n) (out may be x). */
void sl_log_softmax(const float *x, int n, float *out);

/* The log-probabilities of every labelled token of d (d->word_of >= 0) as logits_fn gives them, in rows of
   out (d->n_tokens, n_labels) at the token's index; the other rows are left as they are. The examples are
   run in file order, `batch` at a time. */
sl_status sl_dataset_log_probs(const sl_dataset *d, int batch, sl_logits_fn logits_fn, void *ctx,
                               int n_labels, float *out, sl_error *err);

/* Adds every sentence of `data` to `metrics` (whose label set must be data->labels or the same labels):
   `d` must have been built from `data`, and the logits' labels must be data's label ids. `pred` (may be
   NULL) receives the predicted label id of each word (data->n_words). */
sl_status sl_evaluate(const sl_conll *data, const sl_dataset *d, int batch, sl_logits_fn logits_fn, void *ctx,
                      int n_labels, const sl_decoder *dec, sl_metrics *metrics, int *pred, sl_error *err);

#endif
