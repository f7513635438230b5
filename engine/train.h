/* Fine-tuning the encoder for token classification, with the semantics of the Hugging Face Trainer:
   cross-entropy on the first sub-token of each word, AdamW (decoupled weight decay, none on biases and
   LayerNorm weights), linear warm-up then linear decay, gradient-norm clipping, dropout as configured.

   Example (the `surligne train` command does this with progress, evaluation and checkpoints):

       sl_dataset train;   // sentences -> token ids and labels, see below
       sl_dataset_build(&conll, sl_model_tokenizer(model), 128, &train, &err);
       sl_trainer *tr;
       sl_train_options o = sl_train_default_options();
       o.total_steps = n_epochs * sl_dataset_n_batches(&train, o.batch);
       sl_trainer_create(model, &o, &tr, &err);
       for (int step = 0; step < o.total_steps; step++) {
           sl_batch b; sl_dataset_batch(&train, order, step % n_batches, o.batch, &b);
           sl_step_stats st; sl_trainer_step(tr, b.ids, b.labels, b.B, b.T, &st, &err);
       }
       sl_trainer_save(tr, "model.gguf", &err);

   Memory: parameters, gradients and the two Adam moments are four f32 copies of the model, each one
   allocation carved in the order of the tensor table (model.h); activations and their gradients are sized
   once for batch x max_len tokens. A step allocates nothing. */
#ifndef SL_TRAIN_H
#define SL_TRAIN_H

#include <stdint.h>
#include "conll.h"
#include "model.h"

#define SL_IGNORE_LABEL (-100)

/* ---- data: sentences of words -> examples of token ids with labels on first sub-tokens ---------- */

typedef struct {
    int n_examples;
    int *start, *len;     /* (n_examples) example e is tokens [start[e], start[e] + len[e]), specials included */
    int32_t *ids;         /* (n_tokens) <s> tokens... </s> per example */
    int32_t *labels;      /* (n_tokens) label id on a word's first sub-token, SL_IGNORE_LABEL elsewhere */
    int *word_of;         /* (n_tokens) index of the CoNLL word a labelled token starts, -1 elsewhere */
    int n_tokens;
    int n_split;          /* sentences split because they were longer than max_len */
    int n_empty_words;    /* words that gave no token (their label is dropped) */
    int max_len;
    int32_t pad_id;
} sl_dataset;

/* Tokenises every word of every sentence on its own (as Hugging Face's is_split_into_words does with
   CamemBERT: each word gets the dummy prefix), adds the vocabulary's <s> and </s> (padding with its own), and
   labels the first sub-token of each word. A sentence longer than max_len tokens is split at word boundaries
   into several examples (a single word longer than that is cut). */
sl_status sl_dataset_build(const sl_conll *data, const sl_tokenizer *tok, int max_len, sl_dataset *out,
                           sl_error *err);
/* The same with the words written as running French text: with probability `glue` (seeded by `seed`, the
   sentence and the word) a word is tokenised together with the one before it, with no space between them,
   where French writes none: a closing mark (", . ) ] } …") after a word, a word after "(", "[", "{" or an
   elision ("l'", "qu'", "d’"). A run of such words is tokenised as one text (as the engine sees a page's
   "Darmanin," or "(Nebraska)" or "l'Europe": the glued tokens have no leading U+2581), each word taking the
   tokens that start in its bytes and its label on the first (a word whose bytes a token of the word before
   covers has none: n_empty_words). glue 0 is sl_dataset_build; 1 glues at every such point. */
sl_status sl_dataset_build_text(const sl_conll *data, const sl_tokenizer *tok, int max_len, float glue,
                                uint64_t seed, sl_dataset *out, sl_error *err);
void sl_dataset_free(sl_dataset *d);

/* An order of the examples: identity (seed 0 and shuffle off) or a seeded Fisher-Yates permutation. */
void sl_dataset_order(const sl_dataset *d, int shuffle, uint64_t seed, int *order);
/* A seeded order whose batches of `batch` hold examples of similar lengths, so little of a batch is padding
   (Hugging Face's group_by_length): the seeded permutation, cut into groups of SL_GROUP_BATCHES batches, each
   group sorted by length (ties in permutation order), then the full batches in a seeded order; a last,
   partial batch stays last. Returns -1 (order untouched) without memory. */
#define SL_GROUP_BATCHES 32
int sl_dataset_order_grouped(const sl_dataset *d, int batch, uint64_t seed, int *order);

typedef struct {
    int B, T;
    int32_t *ids, *labels; /* (B,T), right-padded with pad id / SL_IGNORE_LABEL */
    int first;             /* index in `order` of the batch's first example */
} sl_batch;

int sl_dataset_n_batches(const sl_dataset *d, int batch);
/* Batch k of the given order (the last batch may be smaller). b->ids/labels must hold batch * max_len. */
void sl_dataset_batch(const sl_dataset *d, const int *order, int k, int batch, sl_batch *b);

/* ---- the trainer ------------------------------------------------------------------------------- */

/* Sums over the processes of a data-parallel run (MPI_Allreduce in tools/, so that the engine needs no MPI),
   in place. Every process runs the same steps on its rows of the global batch: the trainer sums the counts
   that normalise the loss and the gradients, so each process ends every step with the weights of one
   process running the whole batch, up to the order of float sums. */
typedef struct {
    void (*sum_f32)(void *ctx, float *x, size_t n);
    void (*sum_f64)(void *ctx, double *x, size_t n);
    void *ctx;
} sl_collective;

typedef struct {
    int batch, max_len;
    double lr, warmup_ratio; /* double, as Python's floats: ceil(0.1 * 20) must be 2 */
    float weight_decay, beta1, beta2, eps, max_grad_norm;
    float dropout_hidden, dropout_attention, dropout_classifier;
    int total_steps;
    uint64_t seed;
    int n_threads;
    const sl_collective *collective; /* NULL: one process */
    int precision; /* of the matrix products: SL_PRECISION_F32 (0, the default) or SL_PRECISION_BF16
                      (kernels.h: bf16 operands, f32 sums, where the processor has AVX-512 BF16; f32
                      elsewhere), or SL_PRECISION_AUTO: bf16 where that is known to be faster
                      (sl_trainer_precision) */
} sl_train_options;

sl_train_options sl_train_default_options(void);
/* ceil(warmup_ratio * total_steps), as the Trainer computes it. */
int sl_train_warmup_steps(const sl_train_options *o);
/* The learning rate of step `step` (0-based): linear warm-up to lr, then linear decay to 0. */
double sl_train_lr(const sl_train_options *o, int step);

typedef struct {
    float loss;      /* mean cross-entropy over the labelled tokens of the (global) batch */
    float grad_norm; /* total L2 norm of the gradient before clipping */
    float lr;        /* learning rate used by this step */
    int n_labelled;  /* labelled (MLM: masked) tokens of the global batch */
    int n_correct;   /* MLM: masked tokens whose most likely token is the original one */
} sl_step_stats;

typedef struct sl_trainer sl_trainer;

/* Copies the model's weights into trainable parameters. The model must stay alive (its tokenizer, labels
   and metadata are used when saving). */
sl_status sl_trainer_create(const sl_model *init, const sl_train_options *o, sl_trainer **out, sl_error *err);
void sl_trainer_free(sl_trainer *t);

/* Forward + backward: the loss and the gradients (stats->grad_norm set; nothing updated). */
sl_status sl_trainer_backward(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err);
/* One optimisation step: backward, clipping, AdamW, schedule. */
sl_status sl_trainer_step(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                          sl_step_stats *stats, sl_error *err);
/* Masked-language modelling (the model needs its MLM head): labels (B,T) hold the original token id at
   the masked positions and SL_IGNORE_LABEL elsewhere (sl_mlm_mask makes both); the head runs at the masked
   positions only, and the loss is their mean cross-entropy over the vocabulary. */
sl_status sl_trainer_mlm_backward(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                                  sl_step_stats *stats, sl_error *err);
sl_status sl_trainer_mlm_step(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err);
/* The MLM loss without dropout or gradients (validation): stats->loss, n_labelled, n_correct. */
sl_status sl_trainer_mlm_eval(sl_trainer *t, const int32_t *ids, const int32_t *labels, int B, int T,
                              sl_step_stats *stats, sl_error *err);

/* Data-parallel runs: the next batch given to a step is rows [row0, row0 + B) of the global batch (dropout
   masks follow the global row). 0 by default. */
void sl_trainer_set_row0(sl_trainer *t, int row0);
/* Distillation (Hinton et al. 2015): the following steps' targets are (1 - alpha) x the one-hot label +
   alpha x row i of q (B*T, n_labels: probabilities, a teacher's) for each labelled row i of the ids given to
   the step, so q must be re-pointed at each batch's rows. q = NULL or alpha 0: the labels alone. */
void sl_trainer_set_soft_targets(sl_trainer *t, const float *q, float alpha);

/* Logits (B*T, n_labels) with the current parameters, no dropout (evaluation). */
sl_status sl_trainer_logits(sl_trainer *t, const int32_t *ids, int B, int T, float *logits, sl_error *err);
int sl_trainer_step_count(const sl_trainer *t); /* optimisation steps done */
/* The precision the products run at: the option's, or for SL_PRECISION_AUTO bf16 where they run on AMX tiles
   (1.6-1.9x f32 in training, measured) and f32 elsewhere. Where vdpbf16ps is the bf16 kernel, AUTO keeps f32:
   measured, vdpbf16ps training runs 1.45x f32 on a Zen 4 but 0.78x on a Xeon, and a choice by timing would
   make a run's arithmetic, and so its bits, depend on the machine's load; SL_PRECISION_BF16 asks for it. */
int sl_trainer_precision(const sl_trainer *t);

/* Tensor i of the parameters / gradients in the model's table order (global, layers, head):
   name (GGUF), element count, and pointers. Returns 0 past the end. */
int sl_trainer_tensor(const sl_trainer *t, int i, const char **name, size_t *n, float **param, float **grad);

/* Writes the current weights as a GGUF model (atomically). */
sl_status sl_trainer_save(const sl_trainer *t, const char *path, sl_error *err);
/* The label transitions ((n_labels + 1) x n_labels log-probabilities, copied; ner.h's sl_decoder) and weight
   its saved files carry instead of the initial model's; sl_trainer_decoder: Viterbi with them (or with the
   initial model's, if it has some and none were set), for the dev evaluation. */
sl_status sl_trainer_set_transitions(sl_trainer *t, const float *transitions, float weight, sl_error *err);
sl_decoder sl_trainer_decoder(const sl_trainer *t);
/* The same, choosing the heads written: without the MLM head (drop_mlm), as f16 (the encoder's 2-D
   tensors; a checkpoint to continue from). */
sl_status sl_trainer_save_as(const sl_trainer *t, const char *path, int drop_mlm, int f16, sl_error *err);
/* The training state: weights, Adam moments, step count and the caller's `extra` keys (RNG, data
   position), for --resume; written atomically. */
sl_status sl_trainer_save_state(const sl_trainer *t, const char *path, const uint64_t *extra, int n_extra,
                                sl_error *err);
sl_status sl_trainer_load_state(sl_trainer *t, const char *path, uint64_t *extra, int n_extra, sl_error *err);

#endif
