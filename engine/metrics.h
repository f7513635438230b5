/* Entity-level precision, recall and F1, as seqeval computes them in its default mode
   (seqeval.metrics f1_score / classification_report with mode=None, the conlleval-compatible one).

   Example:

       sl_metrics m;
       if (sl_metrics_init(&m, &labels, &err) != SL_OK) return err.status;
       for (int s = 0; s < n_sentences; s++)                       // gold and predicted label ids
           if (sl_metrics_add(&m, gold + start[s], pred + start[s], start[s + 1] - start[s], &err))
               break;
       sl_scores micro = sl_metrics_scores(&m, SL_METRICS_MICRO);  // micro.f1
       sl_metrics_print(&m, 4, stdout);                            // classification_report's table
       sl_metrics_free(&m);

   Entities (seqeval's "chunks") are extracted from tag sequences by seqeval's get_entities rules, which
   accept any sequence, valid or not:
     - a chunk ends before the current word when the previous tag was E or S; or it was B or I and the
       current one is B, S or O; or the previous tag was not O and the type changes;
     - a chunk starts at the current word when its tag is B or S; or it is I or E after O, E or S; or it is
       not O and the type changes. So an I-X after O or after another type starts an entity, and a type
       change inside an entity splits it.
   Each sentence is a separate sequence (seqeval joins sentences with an O between them: the same).
   A gold and a predicted entity match when type, first and last word are all equal.
   Per type: precision = correct / predicted, recall = correct / gold, f1 = 2pr / (p + r), each 0 when
   its denominator is 0; support = gold entities. Micro: the same over the sums of all types. Macro and
   weighted (by support) are means over the reported types: those with a gold or a predicted entity,
   sorted by name (byte order, which is code-point order), exactly seqeval's target names.

   Labels are read through an sl_labelset (ner.h): its tag_of gives the tag letter (L- and U- are taken as
   E- and S-, a bare type as I-, where seqeval would only warn) and its type_of the type.

   Adding a sentence does not allocate: chunks of gold and prediction are matched in one pass as they end. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdio.h>
#include "error.h"
#include "ner.h"

/* One entity of a tag sequence: words [start, end] (inclusive, as seqeval), type index in the label set. */
typedef struct {
    int type, start, end;
} sl_chunk;

/* Extracts the chunks of tags[0..n_words) (label ids in ls) into out (room for n_words; may be NULL to only
   count them), in order. Returns the number of chunks, or -1 when a tag is not a label id of ls. */
int sl_get_chunks(const int *tags, int n_words, const sl_labelset *ls, sl_chunk *out);

typedef struct {
    double precision, recall, f1;
    long support;   /* gold entities */
    long predicted; /* predicted entities */
    long correct;   /* predicted entities equal to a gold one */
} sl_scores;

typedef struct {
    const sl_labelset *labels; /* not owned; must outlive the accumulator */
    int n_types;
    long *correct, *predicted, *gold; /* (n_types) counts */
    long n_sentences, n_words;
} sl_metrics;

sl_status sl_metrics_init(sl_metrics *m, const sl_labelset *ls, sl_error *err);
void sl_metrics_free(sl_metrics *m);
void sl_metrics_reset(sl_metrics *m); /* zero the counts, keep the label set */

/* Adds one sentence: gold and predicted label ids (n_words each). SL_ERR_ARGUMENT, and nothing counted,
   when an id is not a label of the set. */
sl_status sl_metrics_add(sl_metrics *m, const int *gold, const int *pred, int n_words, sl_error *err);

enum { SL_METRICS_MICRO = -1, SL_METRICS_MACRO = -2, SL_METRICS_WEIGHTED = -3 };

/* Scores of one type (index in the label set's types) or of an average (SL_METRICS_*). Averages carry the
   summed counts. With no reported type, macro and weighted are 0 (seqeval: nan and 0). */
sl_scores sl_metrics_scores(const sl_metrics *m, int type);

/* The reported types (a gold or a predicted entity) sorted by name, into types (room for m->n_types).
   Returns their number. */
int sl_metrics_report_types(const sl_metrics *m, int *types);

/* The table of seqeval's classification_report: one row per reported type, then micro, macro and weighted
   averages; `digits` decimals (seqeval's default is 2). */
void sl_metrics_print(const sl_metrics *m, int digits, FILE *f);

/* {"precision": p, "recall": r, "f1": f, "support": n,
    "per_type": {"PER": {"precision": p, "recall": r, "f1": f, "support": n}, ...}}
   (micro averages, then the reported types). Writes at most size bytes including a terminating 0, like
   snprintf, and returns the length of the whole object, so a call with size 0 measures it. */
size_t sl_metrics_json(const sl_metrics *m, char *buf, size_t size);

#endif
