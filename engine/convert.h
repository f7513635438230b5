/* Hugging Face checkpoint folder -> one GGUF file (export.h goes the other way).
   Reads config.json, model.safetensors (F32, F16 or BF16) and sentencepiece.bpe.model and writes f32
   tensors under llama.cpp's BERT names, the labels and the tokenizer. The head:
     - labels given: a fresh classifier for them (the checkpoint's head, if any, is dropped);
     - else a CamembertForTokenClassification keeps its classifier and id2label;
     - else a CamembertForMaskedLM keeps its MLM head (mlm.* tensors) with no labels (surligne.labels empty),
       a pre-trained encoder to fine-tune or to export back;
     - a CamembertModel needs labels.
   The Roberta* and XLMRoberta* equivalents have the same layout.
   And the conversions of a GGUF model file into itself: other labels (a fresh head), other weight types
   (sl_quantize_model: q8_0, f16 or f32). */
#ifndef SL_CONVERT_H
#define SL_CONVERT_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gguf.h"
#include "tokenizer.h"

typedef struct {
    const char *const *labels; /* full label names ("O", "B-PER", ...) for a fresh head, or NULL */
    int n_labels;
    uint64_t seed; /* for the fresh head's random weights */
} sl_convert_options;

/* Writes the GGUF to out_path (atomically), or, when out_path is NULL, to *out_data / *out_size (malloc'ed). */
sl_status sl_convert_hf(const char *dir, const sl_convert_options *opt, const char *out_path, uint8_t **out_data,
                        size_t *out_size, sl_error *err);

/* How a random model starts. std: the config's initializer_range (0 for its default 0.02). local_heads: in the
   first two layers, heads 0 and 1 attend to the previous and the next token from the start: the last
   min(64, head size) components of the position table are sinusoids whose frequencies are spread over (0, pi)
   (so that their sum of cosines is zero at every other offset below that width), and those two heads' query
   and key weights on these components are a rotation by -1 / +1 position and the identity, scaled so that the
   neighbour gets an attention logit about 6 above the rest. Without it a small encoder trained with masked
   language modelling stays for tens of millions of tokens on the bag-of-words plateau, its attention uniform
   (runs/pretrain-local/README.md); every weight stays trainable. */
typedef struct {
    double std;
    int local_heads;
} sl_random_init;

/* A model of a named shape ("tiny": 2 layers x 32, "small": 4 x 256, "base": camembert-base 12 x 768) with
   random weights initialised as Hugging Face does (normal(0, std) for embeddings and Linear weights, zero
   biases and padding rows, LayerNorm 1 and 0; init NULL: the defaults), the given vocabulary and labels, as
   GGUF in memory. n_labels 0: no classifier but the masked-language-model head (CamembertForMaskedLM), for
   pre-training. */
sl_status sl_model_shape(const char *shape, int *layers, int *hidden, int *heads, int *ff, sl_error *err);
sl_status sl_model_random_shape(int layers, int hidden, int heads, int ff, const sl_vocab *vocab,
                                const char *const *labels, int n_labels, uint64_t seed, const sl_random_init *init,
                                uint8_t **out_data, size_t *out_size, sl_error *err);
sl_status sl_model_random(const char *shape, const sl_vocab *vocab, const char *const *labels, int n_labels,
                          uint64_t seed, const sl_random_init *init, uint8_t **out_data, size_t *out_size,
                          sl_error *err);

/* The weighted average of n model files' parameters (GGUF bytes; names for messages): a "model soup" of
   fine-tuning runs that started from one pre-trained encoder, or the average of one run's checkpoints. The
   files must have the same tensors (names and shapes) and the same labels; f32 and f16 tensors are averaged
   (in double) and written f32; a quantized tensor is an error (average the f32 files, then quantize). weights
   (may be NULL: equal) must be positive and are normalised to sum 1. The keys, label transitions included,
   are the first file's. Written to out_path (atomically), or with out_path NULL to malloc'ed bytes. */
sl_status sl_model_average(const uint8_t *const *data, const size_t *size, const char *const *names, int n,
                           const double *weights, const char *out_path, uint8_t **out_data, size_t *out_size,
                           sl_error *err);

/* A model of n_layer encoder layers made of the layers of `data`: new layer j is a copy of layer from[j]
   (each 0 <= from[j] < the file's layers; a layer may be used more than once, in any order). Growing a
   pre-trained encoder in depth this way ("0,1,2,3,0,1,2,3", stacking, Gong et al. 2019; or "0,1,2,3,2,3") and
   pre-training on starts the deeper encoder from what the shallow one learnt. Every other key and tensor
   (embeddings, heads, label transitions) is kept as it is, in its type; bert.block_count is set to n_layer.
   Written to out_path (atomically), or with out_path NULL to malloc'ed bytes. */
#define SL_MAX_STACK 64
sl_status sl_model_stack(const uint8_t *data, size_t size, const char *name, const int *from, int n_layer,
                         const char *out_path, uint8_t **out_data, size_t *out_size, sl_error *err);

/* The model file `data` with the label transitions `transitions` ((n_labels + 1) x n_labels
   log-probabilities, model.h's sl_gguf_add_transitions) and their weight in place of any it had, or with none
   when transitions is NULL; every other key and tensor as it was. Written to out_path (atomically), or with
   out_path NULL to malloc'ed bytes (*out_data, *out_size). */
sl_status sl_model_file_with_transitions(const uint8_t *data, size_t size, const char *name,
                                         const float *transitions, float weight, const char *out_path,
                                         uint8_t **out_data, size_t *out_size, sl_error *err);

/* A model (GGUF bytes, e.g. a pre-trained encoder) with a fresh token-classification head for `labels`
   (normal(0, 0.02) weights, zero bias, as Hugging Face initialises one), in place of any classifier it had;
   its MLM head is dropped. Every other key and tensor is kept as it is. Malloc'ed GGUF bytes. */
sl_status sl_model_with_fresh_head(const uint8_t *data, size_t size, const char *name, const char *const *labels,
                                   int n_labels, uint64_t seed, uint8_t **out_data, size_t *out_size, sl_error *err);

/* "PER,ORG,LOC" -> O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC; a list that already has O or prefixes is
   kept as given. The result is malloc'ed strings in a malloc'ed array (free with sl_labels_free). */
sl_status sl_labels_from_list(const char *list, char ***labels, int *n, sl_error *err);
/* The IOB2 labels of a CoNLL file's entity types, as its reader (conll.h) makes them: O, then B-X, I-X for
   each type in order of first appearance. */
sl_status sl_labels_from_conll(const char *path, char ***labels, int *n, sl_error *err);
void sl_labels_free(char **labels, int n);

/* ---- model files -------------------------------------------------------------------------------- */

typedef struct {
    int n_converted; /* Linear weights written in the new type */
    int n_kept;      /* Linear weights left in their type (q types: rows not a multiple of 32) */
    char first_kept[96];
    size_t bytes_in, bytes_out; /* tensor data, before and after */
} sl_quantize_report;

/* Rewrites a model (GGUF bytes) with the Linear weights of the encoder layers (attention q, k, v, output,
   feed-forward up and down) in `type`: SL_GGML_Q8_0, SL_GGML_F16 or SL_GGML_F32, and the word embeddings in
   `embd_type`: one of those or SL_GGML_Q5_0 / SL_GGML_Q4_0 (fewer bits for the largest table: its rows are
   only gathered), from any of them. The position and type tables, LayerNorms, biases and the classifier are
   copied as they are (see convert.c). Every key is copied, general.file_type set as ggml does for `type`
   (f32 0, f16 1, q8_0 7). Writes to out_path atomically, or when out_path is NULL to *out_data / *out_size
   (malloc'ed). report may be NULL. */
sl_status sl_quantize_model(const uint8_t *data, size_t size, const char *name, uint32_t type,
                            uint32_t embd_type, const char *out_path, uint8_t **out_data, size_t *out_size,
                            sl_quantize_report *report, sl_error *err);

#endif
