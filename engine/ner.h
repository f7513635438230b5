/* From token scores to entity spans, with the semantics of the Hugging Face token-classification pipeline
   (aggregation none/simple/first/average/max), for IOB1, IOB2 and BIOES label sets, and the windowing of
   texts longer than the model's window. */
#ifndef SL_NER_H
#define SL_NER_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Label set parsed from id2label. Each label is "O", or a prefix B-/I-/E-/S-/L-/U- (also B_, I_...) and a
   type, or a bare type (treated as I-type, as IOB1 does). */
typedef struct {
    int n_labels;
    char **labels;      /* id2label copies */
    int *type_of;       /* label id -> entity type index, -1 for O */
    char *tag_of;       /* label id -> 'B','I','E','S' or 'O' (L->E, U->S, bare->I) */
    int n_types;
    char **types;       /* entity type names ("PER"), in order of first appearance */
} sl_labelset;

sl_status sl_labelset_init(sl_labelset *ls, const char *const *id2label, int n, sl_error *err);
void sl_labelset_free(sl_labelset *ls);

/* One text's tokens (specials excluded) with their softmax scores. */
typedef struct {
    int n_tokens;
    const float *scores;        /* (n_tokens, n_labels) probabilities */
    const int32_t *start, *end; /* byte spans in the text */
    const uint8_t *word_start;  /* 1 where a token begins a word; others are sub-words (HF is_subword) */
} sl_token_scores;

/* Appends entities to out. With SL_AGG_NONE, label = the token's label name; otherwise the type name.
   Entities below threshold are dropped; entities labelled O are never returned. Label strings point
   into ls. `text` is used only to skip whitespace at span edges. */
sl_status sl_ner_decode(const sl_labelset *ls, const sl_token_scores *ts, sl_aggregation agg, float threshold,
                        const char *text, sl_entities *out, sl_error *err);

/* Windows over n_tokens tokens for a model taking `window` tokens (specials excluded) with `stride` tokens
   shared between consecutive windows. Writes up to max_windows window starts; returns the number needed.
   Each window covers [starts[k], min(starts[k] + window, n_tokens)). */
int sl_ner_windows(int n_tokens, int window, int stride, int *starts, int max_windows);
/* For token i, the window whose centre it is closest to (its scores are taken from that window). */
int sl_ner_window_for_token(int i, int n_tokens, int window, const int *starts, int n_windows);

/* Appends one entity (grows out); returns SL_ERR_MEMORY on failure. */
sl_status sl_entities_push(sl_entities *out, const sl_entity *e, sl_error *err);

#endif
