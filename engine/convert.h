/* Hugging Face checkpoint folder -> one GGUF file (export.h goes the other way).
   Reads config.json, model.safetensors (F32, F16 or BF16) and sentencepiece.bpe.model and writes f32
   tensors under llama.cpp's BERT names, the labels and the tokenizer. The head:
     - labels given: a fresh classifier for them (the checkpoint's head, if any, is dropped);
     - else a CamembertForTokenClassification keeps its classifier and id2label;
     - else a CamembertForMaskedLM keeps its MLM head (mlm.* tensors) with no labels (surligne.labels empty),
       a pre-trained encoder to fine-tune or to export back;
     - a CamembertModel needs labels.
   The Roberta* and XLMRoberta* equivalents have the same layout. */
#ifndef SL_CONVERT_H
#define SL_CONVERT_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tokenizer.h"

typedef struct {
    const char *const *labels; /* full label names ("O", "B-PER", ...) for a fresh head, or NULL */
    int n_labels;
    uint64_t seed; /* for the fresh head's random weights */
} sl_convert_options;

/* Writes the GGUF to out_path (atomically), or, when out_path is NULL, to *out_data / *out_size (malloc'ed). */
sl_status sl_convert_hf(const char *dir, const sl_convert_options *opt, const char *out_path, uint8_t **out_data,
                        size_t *out_size, sl_error *err);

/* A model of a named shape ("tiny": 2 layers x 32, "small": 4 x 256, "base": camembert-base 12 x 768) with
   random weights initialised as Hugging Face does (normal(0, 0.02) for embeddings and Linear weights,
   zero biases and padding rows, LayerNorm 1 and 0), the given vocabulary and labels, as GGUF in memory.
   n_labels 0: no classifier but the masked-language-model head (CamembertForMaskedLM), for pre-training. */
sl_status sl_model_random(const char *shape, const sl_vocab *vocab, const char *const *labels, int n_labels,
                          uint64_t seed, uint8_t **out_data, size_t *out_size, sl_error *err);

/* "PER,ORG,LOC" -> O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC; a list that already has O or prefixes is
   kept as given. The result is malloc'ed strings in a malloc'ed array (free with sl_labels_free). */
sl_status sl_labels_from_list(const char *list, char ***labels, int *n, sl_error *err);
/* Entity types of a CoNLL file's tags (last field of each line), in order of first appearance, expanded
   to IOB2 labels as above. */
sl_status sl_labels_from_conll(const char *path, char ***labels, int *n, sl_error *err);
void sl_labels_free(char **labels, int n);

#endif
