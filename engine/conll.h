/* CoNLL reader: annotated sentences for training and evaluation.

   Example:

       sl_conll data;
       sl_error err;
       if (sl_conll_read("../shared/data/wikiann-fr/train.conll", NULL, &data, &err) != SL_OK) {
           fprintf(stderr, "%s\n", err.message); // "train.conll:1234: tag 'B-' has an empty entity type"
           return 1;
       }
       for (int s = 0; s < data.n_sentences; s++) {
           int first = data.sentence_start[s], n = data.sentence_start[s + 1] - first;
           // words data.words[first .. first+n), label ids data.tags[first .. first+n) in data.labels
       }
       sl_conll_print_counts(&data, stdout);
       sl_conll_free(&data);

   Why this shape:
   - Everything lives in a handful of arrays (struct of arrays), sized once from the file's line count: no
     allocation per word or per sentence. A sentence is a range of word indices, so its tags are already
     the contiguous `const int *` that a training batch and sl_metrics_add (metrics.h) take.
   - Tags are label ids into `labels`, an sl_labelset (ner.h), the same structure a model's id2label
     becomes, so data and model speak one language. Either the data makes the label set (O first, then
     B-X, I-X for each type in order of first appearance), or a model's label set is given and the data
     is encoded in it: an entity type the model does not know is an error naming the line and the tag, or,
     with `unknown_to_o`, becomes O (for training on a data set whose types differ), counted in n_mapped.
   - Tags are normalised on reading: IOB1 (an I-X that does not continue an X entity starts one, as in
     Europeana's I-only files) and BIOES (S-X, E-X) become IOB2. With a given label set the IOB2 entities
     are then written in that set's scheme: BIOES when it has S- and E- labels for the type, I-only when it
     has no B- label for the type (IOB1 models such as camembert-ner), else IOB2.
   - Every problem is an sl_error naming file:line (and the byte for invalid UTF-8); the reader never trusts
     its input, and a truncated or damaged file is an error, never a crash.

   Format: one word per line, fields separated by spaces or tabs, the tag last; a blank line ends a
   sentence; lines whose first field is -DOCSTART- are skipped (and end a sentence); CRLF line ends and a
   UTF-8 byte-order mark are accepted. The number of fields is fixed by the file's first word line: with 2
   the token is the first field; with 3 or more it is the second when the first is a number (CoNLL-U-like
   `index token tag`, as WikiNEuRal), else the first (CoNLL-2003 `token POS chunk tag`). A line with
   another number of fields is an error; so is a line with one field (no tag). */
#ifndef SL_CONLL_H
#define SL_CONLL_H

#include <stdio.h>
#include "error.h"
#include "ner.h"

typedef struct {
    /* NULL: the data makes the label set. Otherwise the tags are encoded in this set (which is copied). */
    const sl_labelset *labels;
    /* With `labels`: a tag whose entity type is not in the set becomes O (counted in n_mapped) instead of
       being an error. */
    int unknown_to_o;
} sl_conll_options;

typedef struct {
    int n_sentences, n_words;
    int *sentence_start; /* (n_sentences + 1) sentence s is words [sentence_start[s], sentence_start[s+1]) */
    const char **words;  /* (n_words) NUL-terminated UTF-8, pointing into `text` */
    int *tags;           /* (n_words) label ids in `labels` */
    int *lines;          /* (n_words) 1-based line of the word in the source */
    char *text;          /* the word texts, each followed by a 0 byte */
    sl_labelset labels;
    int n_columns;    /* fields per word line */
    int token_column; /* 0-based field holding the word */
    int n_mapped;     /* tags of unknown types written as O (unknown_to_o) */
    char *name;       /* the path or name given, for messages */
} sl_conll;

/* Reads a CoNLL file. opt may be NULL (label set from the data). On failure out is left empty (zeroed). */
sl_status sl_conll_read(const char *path, const sl_conll_options *opt, sl_conll *out, sl_error *err);

/* The same from `size` bytes in memory (need not end with 0; copied, so data may be freed after).
   `name` (NULL: "<memory>") is used in messages and kept in out->name. */
sl_status sl_conll_parse(const char *data, size_t size, const char *name, const sl_conll_options *opt,
                         sl_conll *out, sl_error *err);

void sl_conll_free(sl_conll *c);

/* Adds the label transitions of every sentence to counts ((labels + 1) x labels, sl_ner_count_transitions).
 */
void sl_conll_count_transitions(const sl_conll *c, double *counts);

/* Entities per type, extracted from the stored tags with seqeval's rules (metrics.h), as an evaluation
   would count gold entities. per_type (may be NULL) has c->labels.n_types entries, in the order of
   c->labels.types. Returns the total. */
long sl_conll_count_entities(const sl_conll *c, long *per_type);

/* One line: "<name>: 20000 sentences, 136788 words, 26447 entities (PER 8965, ORG 7764, LOC 9718)". */
void sl_conll_print_counts(const sl_conll *c, FILE *f);

#endif
