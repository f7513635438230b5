/* One GGUF model file -> a Hugging Face folder that transformers loads and the Hub serves: the inverse of
   convert.h. Written into `dir`:

     config.json              the keys and value types transformers writes for CamemBERT (architectures,
                              id2label/label2id for token classification, sizes, ids, "gelu", ...)
     model.safetensors        F32 tensors under Hugging Face's names ("roberta." + body, "classifier.*" or
                              "lm_head.*"); no pooler, and not lm_head.decoder.weight/bias, which are tied
                              to the word embeddings and to lm_head.bias (transformers does not save them)
     sentencepiece.bpe.model  the SentencePiece model of the vocabulary stored in the GGUF (sl_spm_serialize)
     tokenizer_config.json    CamembertTokenizer's, as the CamemBERT tokenizer on the Hub has them
     special_tokens_map.json

   The GGUF is read directly (tensors by name, keys), not loaded as a model: f16 tensors are widened and
   q8_0 ones dequantised (d * q, the values the engine computes with) to f32. The five files are written to
   temporary files in `dir` and renamed into place only once all are written. */
#ifndef SL_EXPORT_H
#define SL_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum {
    SL_EXPORT_AUTO,                 /* token classification when the file has labels, else masked LM when it
                                       has the MLM head, else the bare encoder */
    SL_EXPORT_MASKED_LM,            /* CamembertForMaskedLM: needs the mlm.* tensors */
    SL_EXPORT_TOKEN_CLASSIFICATION, /* CamembertForTokenClassification: needs labels and classifier.* */
    SL_EXPORT_MODEL,                /* CamembertModel: the encoder alone, under its names without "roberta." */
} sl_export_arch;

typedef struct {
    sl_export_arch arch;
    bool force; /* write into a folder that is not empty, replacing the files of the same names */
} sl_export_options;

/* What the export did, for the caller to tell. */
typedef struct {
    const char *architecture;   /* written in config.json, e.g. "CamembertForTokenClassification" */
    int n_tensors;              /* in model.safetensors */
    int n_dequantised;          /* q8_0, q5_0 or q4_0 tensors written as f32 */
    int n_widened;              /* f16 tensors written as f32 (exactly) */
    bool dropped_mlm;           /* the file's MLM head was left out */
    bool dropped_classifier;    /* the file's classifier and labels were left out */
} sl_export_report;

/* Exports `size` bytes of GGUF (`name` in errors) into the folder `dir`, created if missing (its parent
   must exist). A folder that is not empty is refused unless opt->force. opt and report may be NULL.
   Errors name the file and the key or tensor. */
sl_status sl_export_hf(const uint8_t *gguf, size_t size, const char *name, const char *dir,
                       const sl_export_options *opt, sl_export_report *report, sl_error *err);

#endif
