/* From token scores to entity spans, with the semantics of the Hugging Face token-classification pipeline
   (aggregation none/simple/first/average/max), for IOB1, IOB2 and BIOES label sets, and the windowing of
   texts longer than the model's window. */
#ifndef SL_NER_H
#define SL_NER_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Label set parsed from id2label. Each label is "O", or a prefix B-/I-/E-/S-/L-/U- (also B_, I_...) and a
   type, or a bare type (treated as I-type, as IOB1 and HF's get_tag do). IOB1, IOB2 and BIOES/BILOU sets all
   decode: S- (U-) is an entity on its own, E- (L-) continues one and closes it. */
typedef struct {
    int n_labels;
    char **labels;      /* id2label copies */
    int *type_of;       /* label id -> entity type index, -1 for O */
    char *tag_of;       /* label id -> 'B','I','E','S' or 'O' (L->E, U->S, bare->I) */
    int n_types;
    char **types;       /* entity type names ("PER"), in order of first appearance */
} sl_labelset;

/* SL_ERR_FORMAT naming the label index for an empty list, an empty or NULL label, an empty type ("B-") or
   the type "O" ("B-O"); on failure ls is left empty. */
sl_status sl_labelset_init(sl_labelset *ls, const char *const *id2label, int n, sl_error *err);
void sl_labelset_free(sl_labelset *ls);

/* One text's tokens (specials excluded) with their softmax scores. */
typedef struct {
    int n_tokens;
    const float *scores;        /* (n_tokens, n_labels) probabilities */
    const int32_t *start, *end; /* byte spans in the text */
    const uint8_t *word_start;  /* 1 where a token begins a word; others are sub-words (HF is_subword);
                                   NULL: every token is a word. The first token always begins one. */
} sl_token_scores;

/* How words' labels are read from their scores. mode SL_DECODE_ARGMAX: each word its best label.
   SL_DECODE_VITERBI: the best sequence the scheme allows; with `transitions` ((n_labels + 1) x n_labels
   log-probabilities of the training data's labels: row 0 for a sentence's first word, row 1 + p for a word
   after label p; NULL: none), each word's label also scores weight x log P(label | previous label), a
   label-bigram prior over the classifier's per-word scores (the model scores words independently). */
typedef struct {
    sl_decoding mode;
    const float *transitions;
    float weight;
} sl_decoder;

/* Appends entities to out. With SL_AGG_NONE, label = the token's label name; otherwise the type name.
   Entities below threshold are dropped; entities labelled O are never returned. Label strings point
   into ls. `text` (may be NULL) is used only to skip whitespace (ASCII, U+00A0, U+2009, U+202F) at span
   edges, never down to an empty span. With first/average/max, `dec` reads the words' labels from their
   scores: SL_DECODE_ARGMAX each word's best (the pipeline's way), SL_DECODE_VITERBI the best sequence the
   scheme allows (sl_ner_viterbi over the log scores, with dec's transitions; dec NULL: argmax); an entity's
   score is then the mean score of the labels chosen. On error out keeps only what it held before the call. */
sl_status sl_ner_decode(const sl_labelset *ls, const sl_token_scores *ts, sl_aggregation agg,
                        const sl_decoder *dec, float threshold, const char *text, sl_entities *out,
                        sl_error *err);

/* The most probable label sequence of n items (words) given their scores, among the sequences the label
   set's scheme allows: an I- (or E-) label only continues a B- or I- label of its type (IOB2, BIOES; where a
   type has no B- label, as in IOB1 or bare labels, its I- may also begin an entity), and in BIOES a B- or I-
   label is followed by I- or E- of its type, and not last. A sequence scores the sum of its items' logp
   (n x n_labels log-probabilities, finite or -INFINITY) plus, with dec->transitions, dec->weight times its
   label transitions' log-probabilities. Ties keep the lower label id. Greedy argmax would give "B-PER I-ORG"
   or "O I-LOC", which no annotation has; this gives the best valid reading. Writes path[0..n); SL_ERR_MEMORY
   if its n x n_labels back-pointers cannot be allocated. */
sl_status sl_ner_viterbi(const sl_labelset *ls, const float *logp, int n, const sl_decoder *dec, int *path,
                         sl_error *err);

/* Label transitions of sentences of label ids (IOB2 as read): counts[(1 + prev) * n_labels + cur] += 1 for
   each word (prev -1 for a sentence's first), to be summed over files, then sl_ner_transitions_from_counts:
   log-probabilities with add-one smoothing, rows as sl_decoder.transitions. */
void sl_ner_count_transitions(const int *tags, int n_words, int n_labels, double *counts);
void sl_ner_transitions_from_counts(const double *counts, int n_labels, float *transitions);

/* Trims punctuation (Unicode P*) and white space from both edges of the entities out->items[from..]:
   "Sarkozy." -> "Sarkozy", "Darmanin," -> "Darmanin". The Hugging Face pipeline keeps them (its words
   glue punctuation to the name before it; labels trained on CoNLL often carry a comma inside a span such as
   "Saint-Louis , Missouri"), but a reader highlighting names wants the name. Entities left empty are
   removed. */
void sl_entities_trim_punctuation(sl_entities *out, size_t from, const char *text);

/* Windows over n_tokens tokens for a model taking `window` tokens (specials excluded) with `stride` tokens
   shared between consecutive windows. Writes up to max_windows window starts; returns the number needed
   (0 for no tokens), or -1 for invalid arguments (window < 1, stride < 0 or >= window, n_tokens < 0,
   starts NULL with max_windows > 0).
   Each window covers [starts[k], min(starts[k] + window, n_tokens)); the last ends at n_tokens and is shifted
   back to be full when n_tokens >= window, so it may share more than `stride` tokens with the one before. */
int sl_ner_windows(int n_tokens, int window, int stride, int *starts, int max_windows);
/* For token i, the window whose centre it is closest to (its scores are taken from that window); the
   earlier of two equally central windows. -1 when no window holds i. */
int sl_ner_window_for_token(int i, int n_tokens, int window, const int *starts, int n_windows);

/* Appends one entity (grows out); returns SL_ERR_MEMORY on failure. */
sl_status sl_entities_push(sl_entities *out, const sl_entity *e, sl_error *err);

#endif
