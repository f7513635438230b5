/* Token scores -> entity spans, as the Hugging Face token-classification pipeline does it
   (transformers/pipelines/token_classification.py: aggregate, aggregate_word, group_entities), and the
   windows that cover a text longer than the model.

   The pipeline in three steps:
     1. none/simple: each token takes the argmax of its scores. first/average/max: tokens are first merged
        into words (a word-start token and the sub-word tokens after it) and each word takes one label:
        first = argmax of its first token; max = argmax of the token whose best score is highest;
        average = argmax of the mean score vector.
     2. none stops here: every token not labelled O is an entity named by its full label ("B-PER").
     3. Otherwise consecutive items (tokens or words) are grouped: an item joins the current group when it
        has the group's type and a continuing tag; the group's score is the mean of its items' scores and
        its span runs from the first item's start to the last item's end. Groups of type O are dropped.

   HF's get_tag knows only B- and I-; a label without those prefixes counts as I-<label>. That is exactly
   IOB1 (bare "PER" or I-PER, B- only to split two adjacent same-type entities) and IOB2. We extend the
   joining rule to BIOES/BILOU so those label sets group correctly too: S- (U-) begins and ends an entity
   on its own, E- (L-) continues a same-type entity and ends it, so nothing joins after S or E. For IOB
   label sets this rule is HF's rule unchanged.

   Scores are accumulated in double, in item order, and rounded to float once per entity: HF computes in
   float32, so its scores agree with ours to about 1e-7. The threshold (not part of HF) drops entities
   whose final float score is below it. Nothing here allocates except the growth of the output list. */
#include "ner.h"

#include <utf8proc.h>

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- output list ---------------------------------------------------------------------------- */

size_t sl_entity_json(const sl_entity *e, const char *text, char *buf, size_t cap) {
    if (cap > 0) buf[0] = 0;
    if (!e) return 0;
    size_t n = 0;
/* the rest of buf from n on, as snprintf and sl_json_quote take it (NULL, 0 once it is full) */
#define REST (n < cap ? buf + n : NULL), (n < cap ? cap - n : 0)
    n += (size_t)snprintf(REST, "{\"label\":");
    n += sl_json_quote(e->label, strlen(e->label), REST);
    n += (size_t)snprintf(REST, ",\"score\":%.9g", (double)e->score);
    if (text) {
        n += (size_t)snprintf(REST, ",\"text\":");
        n += sl_json_quote(text + e->start, e->end - e->start, REST);
    }
    n += (size_t)snprintf(REST, ",\"start\":%zu,\"end\":%zu", e->start, e->end);
    if (e->value[0]) {
        n += (size_t)snprintf(REST, ",\"value\":");
        n += sl_json_quote(e->value, strnlen(e->value, sizeof e->value), REST);
    }
    n += (size_t)snprintf(REST, "}");
#undef REST
    return n;
}

sl_status sl_entities_push(sl_entities *out, const sl_entity *e, sl_error *err) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 16;
        if (cap > SIZE_MAX / sizeof *out->items) return sl_fail(err, SL_ERR_MEMORY, "entity list too long");
        sl_entity *items = realloc(out->items, cap * sizeof *items);
        if (!items) return sl_fail(err, SL_ERR_MEMORY, "cannot grow the entity list to %zu entities", cap);
        out->items = items;
        out->cap = cap;
    }
    out->items[out->n++] = *e;
    return SL_OK;
}

void sl_entities_free(sl_entities *e) {
    if (!e) return;
    free(e->items);
    e->items = NULL;
    e->n = e->cap = 0;
}

/* ---- label set ------------------------------------------------------------------------------ */

static char *copy_string(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

/* 'B','I','E','S' for a tag letter followed by '-' or '_' (L and U are BILOU's names for E and S), else 0. */
static char tag_prefix(const char *label) {
    if (label[0] == 0 || (label[1] != '-' && label[1] != '_')) return 0;
    switch (label[0]) {
    case 'B':
        return 'B';
    case 'I':
        return 'I';
    case 'E':
    case 'L':
        return 'E';
    case 'S':
    case 'U':
        return 'S';
    }
    return 0;
}

sl_status sl_labelset_init(sl_labelset *ls, const char *const *id2label, int n, sl_error *err) {
    memset(ls, 0, sizeof *ls);
    if (n <= 0 || !id2label) return sl_fail(err, SL_ERR_FORMAT, "empty label list (%d labels)", n);
    ls->labels = calloc((size_t)n, sizeof *ls->labels);
    ls->type_of = calloc((size_t)n, sizeof *ls->type_of);
    ls->tag_of = calloc((size_t)n, 1);
    ls->types = calloc((size_t)n, sizeof *ls->types); /* at most one type per label */
    if (!ls->labels || !ls->type_of || !ls->tag_of || !ls->types) goto out_of_memory;
    ls->n_labels = n;
    for (int i = 0; i < n; i++) {
        const char *label = id2label[i];
        if (!label || !label[0]) {
            sl_labelset_free(ls);
            return sl_fail(err, SL_ERR_FORMAT, "label %d is empty", i);
        }
        if (!(ls->labels[i] = copy_string(label, strlen(label)))) goto out_of_memory;
        if (strcmp(label, "O") == 0) {
            ls->tag_of[i] = 'O';
            ls->type_of[i] = -1;
            continue;
        }
        char tag = tag_prefix(label);
        const char *type = tag ? label + 2 : label; /* a bare type is I-type, as HF's get_tag and IOB1 say */
        ls->tag_of[i] = tag ? tag : 'I';
        if (!type[0]) {
            sl_labelset_free(ls);
            return sl_fail(err, SL_ERR_FORMAT, "label %d (\"%s\") has an empty entity type", i, label);
        }
        if (strcmp(type, "O") == 0) { /* "B-O": an entity HF would drop as O once grouped, yet keep alone */
            sl_labelset_free(ls);
            return sl_fail(err, SL_ERR_FORMAT,
                           "label %d (\"%s\"): O is the outside label, not an entity type", i, label);
        }
        int t = 0;
        while (t < ls->n_types && strcmp(ls->types[t], type) != 0) t++;
        if (t == ls->n_types) {
            if (!(ls->types[t] = copy_string(type, strlen(type)))) goto out_of_memory;
            ls->n_types++;
        }
        ls->type_of[i] = t;
    }
    return SL_OK;

out_of_memory:
    sl_labelset_free(ls);
    return sl_fail(err, SL_ERR_MEMORY, "cannot allocate a label set of %d labels", n);
}

void sl_labelset_free(sl_labelset *ls) {
    if (!ls) return;
    if (ls->labels)
        for (int i = 0; i < ls->n_labels; i++) free(ls->labels[i]);
    if (ls->types)
        for (int t = 0; t < ls->n_types; t++) free(ls->types[t]);
    free(ls->labels);
    free(ls->type_of);
    free(ls->tag_of);
    free(ls->types);
    memset(ls, 0, sizeof *ls);
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* First index of the largest score, as numpy's argmax. */
static int argmax(const float *row, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* ---- constrained decoding ------------------------------------------------------------------ */

/* Whether label `cur` may follow label `prev` (-1: the sequence's start) in the label set's scheme. */
static int transition_allowed(const sl_labelset *ls, int bioes, const unsigned char *type_has_b, int prev,
                              int cur) {
    const char pt = prev < 0 ? 'O' : ls->tag_of[prev], ct = ls->tag_of[cur];
    const int continues = prev >= 0 && (pt == 'B' || pt == 'I') && ls->type_of[prev] == ls->type_of[cur];
    if (ct == 'I' || ct == 'E') return continues || (ct == 'I' && !type_has_b[ls->type_of[cur]]);
    return !(bioes && prev >= 0 && (pt == 'B' || pt == 'I'));
}

void sl_ner_count_transitions(const int *tags, int n_words, int n_labels, double *counts) {
    for (int i = 0; i < n_words; i++) {
        const int prev = i ? tags[i - 1] : -1, cur = tags[i];
        if (cur >= 0 && cur < n_labels && prev < n_labels) counts[(size_t)(1 + prev) * n_labels + cur] += 1;
    }
}

void sl_ner_transitions_from_counts(const double *counts, int n_labels, float *transitions) {
    for (int p = 0; p <= n_labels; p++) {
        double total = 0;
        for (int c = 0; c < n_labels; c++) total += counts[(size_t)p * n_labels + c] + 1;
        for (int c = 0; c < n_labels; c++)
            transitions[(size_t)p * n_labels + c] =
                (float)log((counts[(size_t)p * n_labels + c] + 1) / total);
    }
}

sl_status sl_ner_viterbi(const sl_labelset *ls, const float *logp, int n, const sl_decoder *dec, int *path,
                         sl_error *err) {
    const int L = ls->n_labels;
    if (n <= 0) return SL_OK;
    int bioes = 0;
    unsigned char *type_has_b = calloc((size_t)ls->n_types + 1, 1);
    unsigned char *allowed = malloc((size_t)(L + 1) * L);
    int *back = malloc((size_t)n * L * sizeof *back);
    double *best = malloc((size_t)2 * L * sizeof *best);
    if (!type_has_b || !allowed || !back || !best) {
        free(type_has_b), free(allowed), free(back), free(best);
        return sl_fail(err, SL_ERR_MEMORY, "no memory to decode %d words of %d labels", n, L);
    }
    for (int j = 0; j < L; j++) {
        if (ls->tag_of[j] == 'E' || ls->tag_of[j] == 'S') bioes = 1;
        if (ls->tag_of[j] == 'B') type_has_b[ls->type_of[j]] = 1;
    }
    /* allowed[(prev + 1) * L + cur], the row of prev = -1 for the start */
    for (int p = -1; p < L; p++)
        for (int c = 0; c < L; c++)
            allowed[(size_t)(p + 1) * L + c] = (unsigned char)transition_allowed(ls, bioes, type_has_b, p, c);
    /* the transitions' scores, weighted (0 without a table) */
    const float *tr = dec && dec->transitions && dec->weight != 0 ? dec->transitions : NULL;
    const double wt = tr ? dec->weight : 0;
#define TRANSITION(p, c) (tr ? wt * tr[(size_t)((p) + 1) * L + (c)] : 0.0)
    double *cur = best, *next = best + L;
    for (int c = 0; c < L; c++) cur[c] = allowed[c] ? (double)logp[c] + TRANSITION(-1, c) : -INFINITY;
    for (int i = 1; i < n; i++) {
        const float *row = logp + (size_t)i * L;
        for (int c = 0; c < L; c++) {
            double top = -INFINITY;
            int arg = -1;
            for (int p = 0; p < L; p++) {
                const double v = cur[p] + TRANSITION(p, c);
                if (allowed[(size_t)(p + 1) * L + c] && v > top) top = v, arg = p;
            }
            back[(size_t)i * L + c] = arg;
            next[c] = arg < 0 ? -INFINITY : top + row[c];
        }
        double *t = cur;
        cur = next, next = t;
    }
#undef TRANSITION
    /* the end: in BIOES an entity must be closed */
    int last = -1;
    for (int c = 0; c < L; c++) {
        if (bioes && (ls->tag_of[c] == 'B' || ls->tag_of[c] == 'I')) continue;
        if (last < 0 || cur[c] > cur[last]) last = c;
    }
    /* every path may have been ruled out (scores of -INFINITY where no valid reading remains): fall back to
       the best end whatever the scheme, then to label 0 */
    if (last < 0 || cur[last] == -INFINITY) {
        last = 0;
        for (int c = 1; c < L; c++)
            if (cur[c] > cur[last]) last = c;
    }
    path[n - 1] = last;
    for (int i = n - 1; i > 0; i--) {
        const int p = back[(size_t)i * L + path[i]];
        path[i - 1] = p < 0 ? 0 : p;
    }
    free(type_has_b), free(allowed), free(back), free(best);
    return SL_OK;
}

/* Byte length of the whitespace character starting at s[i] (0 if none). Besides ASCII space, French
   typography puts no-break spaces (U+00A0, U+202F) and thin spaces (U+2009) before ; : ! ? and inside
   quotes; a tokenizer's offsets may include them at a token's edge, a highlight should not. */
static size_t space_after(const unsigned char *s, size_t i, size_t end) {
    if (i >= end) return 0;
    if (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) return 1;
    if (s[i] == 0xC2 && i + 1 < end && s[i + 1] == 0xA0) return 2;
    if (s[i] == 0xE2 && i + 2 < end && s[i + 1] == 0x80 && (s[i + 2] == 0x89 || s[i + 2] == 0xAF)) return 3;
    return 0;
}

/* Byte length of the whitespace character ending just before s[i] (0 if none). */
static size_t space_before(const unsigned char *s, size_t begin, size_t i) {
    if (i <= begin) return 0;
    if (s[i - 1] == ' ' || (s[i - 1] >= '\t' && s[i - 1] <= '\r')) return 1;
    if (i - begin >= 2 && s[i - 2] == 0xC2 && s[i - 1] == 0xA0) return 2;
    if (i - begin >= 3 && s[i - 3] == 0xE2 && s[i - 2] == 0x80 && (s[i - 1] == 0x89 || s[i - 1] == 0xAF))
        return 3;
    return 0;
}

/* Appends one entity, trimming whitespace at its edges (never down to nothing). An entity that covers no
   byte of the text is not one: it comes from tokens such as a lone U+2581 whose span is empty. */
static sl_status emit(const char *text, const char *label, float score, size_t start, size_t end,
                      sl_entities *out, sl_error *err) {
    if (start >= end) return SL_OK;
    if (text) {
        const unsigned char *s = (const unsigned char *)text;
        size_t a = start, b = end, k;
        while ((k = space_after(s, a, b)) > 0) a += k;
        while ((k = space_before(s, a, b)) > 0) b -= k;
        if (a < b) start = a, end = b;
    }
    sl_entity e = {.label = label, .score = score, .start = start, .end = end};
    return sl_entities_push(out, &e, err);
}

/* The group being built by group_entities: consecutive items of one entity type. */
typedef struct {
    int type;      /* entity type index, -1 when no group is open */
    char last_tag; /* tag of the last item: nothing joins after E or S */
    double sum;    /* sum of the items' scores */
    int count;
    size_t start, end;
} entity_group;

typedef struct {
    const sl_labelset *ls;
    const char *text;
    float threshold;
    sl_entities *out;
    sl_error *err;
    entity_group group;
} grouper;

static sl_status group_close(grouper *g) {
    entity_group *e = &g->group;
    if (e->type < 0) return SL_OK;
    int type = e->type;
    e->type = -1;
    float score = (float)(e->sum / e->count);
    if (score < g->threshold) return SL_OK;
    return emit(g->text, g->ls->types[type], score, e->start, e->end, g->out, g->err);
}

/* Adds one item (a token or a word) labelled `label`: it joins the open group if it has the group's type
   and its tag continues an entity (HF: same tag and not B; our extension: not after E or S either). */
static sl_status group_add(grouper *g, int label, double score, size_t start, size_t end) {
    entity_group *e = &g->group;
    int type = g->ls->type_of[label];
    char tag = g->ls->tag_of[label];
    int joins = e->type >= 0 && type == e->type && (tag == 'I' || tag == 'E') && e->last_tag != 'E' &&
                e->last_tag != 'S';
    if (joins) {
        e->sum += score;
        e->count++;
        e->end = end;
        e->last_tag = tag;
        return SL_OK;
    }
    sl_status st = group_close(g);
    if (st != SL_OK) return st;
    if (type >= 0) /* O items form no entity; they only end the open group */
        *e = (entity_group){
            .type = type, .last_tag = tag, .sum = score, .count = 1, .start = start, .end = end};
    return SL_OK;
}

/* The scores of the word made of tokens [w0, w1), as HF's aggregate_word reads them: first = its first
   token's row; max = the row of the first token holding the word's highest score (Python's max keeps the
   first of equals); average = the mean row, written to buf. Its argmax is the word's label. */
static const float *word_row(const sl_token_scores *ts, int n_labels, sl_aggregation agg, int w0, int w1,
                             float *buf) {
    const float *rows = ts->scores;
    if (agg == SL_AGG_FIRST) return rows + (size_t)w0 * n_labels;
    if (agg == SL_AGG_MAX) {
        int best_t = w0;
        float best = rows[(size_t)w0 * n_labels + argmax(rows + (size_t)w0 * n_labels, n_labels)];
        for (int t = w0 + 1; t < w1; t++) {
            const float *row = rows + (size_t)t * n_labels;
            float m = row[argmax(row, n_labels)];
            if (m > best) best = m, best_t = t;
        }
        return rows + (size_t)best_t * n_labels;
    }
    for (int j = 0; j < n_labels; j++) {
        double sum = 0;
        for (int t = w0; t < w1; t++) sum += rows[(size_t)t * n_labels + j];
        buf[j] = (float)(sum / (w1 - w0));
    }
    return buf;
}

static sl_status decode(const sl_labelset *ls, const sl_token_scores *ts, sl_aggregation agg,
                        const sl_decoder *dec, float threshold, const char *text, sl_entities *out,
                        sl_error *err) {
    const int L = ls->n_labels;
    if (agg == SL_AGG_NONE) {
        for (int t = 0; t < ts->n_tokens; t++) {
            const float *row = ts->scores + (size_t)t * L;
            int label = argmax(row, L);
            if (ls->tag_of[label] == 'O' || row[label] < threshold) continue;
            sl_status st =
                emit(text, ls->labels[label], row[label], (size_t)ts->start[t], (size_t)ts->end[t], out, err);
            if (st != SL_OK) return st;
        }
        return SL_OK;
    }
    grouper g = {
        .ls = ls, .text = text, .threshold = threshold, .out = out, .err = err, .group = {.type = -1}};
    sl_status st = SL_OK;
    if (agg == SL_AGG_SIMPLE) {
        for (int t = 0; t < ts->n_tokens && st == SL_OK; t++) {
            const float *row = ts->scores + (size_t)t * L;
            int label = argmax(row, L);
            st = group_add(&g, label, row[label], (size_t)ts->start[t], (size_t)ts->end[t]);
        }
    } else {
        /* a word is a token and the sub-word tokens after it; the first token always opens a word, as in
           HF's aggregate_words, whatever its flag says. Each word's scores (n_words rows) are gathered first:
           Viterbi decoding reads them all before choosing a label. */
        int n_words = 0;
        for (int t = 0; t < ts->n_tokens; t++) n_words += t == 0 || !ts->word_start || ts->word_start[t];
        int *first = malloc(((size_t)n_words + 1) * sizeof *first),
            *label = malloc(((size_t)n_words + 1) * sizeof *label);
        float *rows = malloc(((size_t)n_words + 1) * L * sizeof *rows);
        if (!first || !label || !rows)
            st = sl_fail(err, SL_ERR_MEMORY, "no memory to decode %d words", n_words);
        for (int w = 0, t = 0; st == SL_OK && w < n_words; w++) {
            first[w] = t;
            for (t++; t < ts->n_tokens && ts->word_start && !ts->word_start[t]; t++) {
            }
            float *row = rows + (size_t)w * L;
            const float *got = word_row(ts, L, agg, first[w], t, row);
            if (got != row) memcpy(row, got, (size_t)L * sizeof *row);
        }
        if (st == SL_OK) first[n_words] = ts->n_tokens;
        if (st == SL_OK && dec->mode == SL_DECODE_VITERBI) {
            /* Viterbi reads log-probabilities; the scores stay in rows for the entities' scores */
            float *logp = malloc(((size_t)n_words + 1) * L * sizeof *logp);
            if (!logp) st = sl_fail(err, SL_ERR_MEMORY, "no memory to decode %d words", n_words);
            for (size_t i = 0; st == SL_OK && i < (size_t)n_words * L; i++)
                logp[i] = rows[i] > 0 ? logf(rows[i]) : -INFINITY;
            if (st == SL_OK) st = sl_ner_viterbi(ls, logp, n_words, dec, label, err);
            free(logp);
        } else if (st == SL_OK) {
            for (int w = 0; w < n_words; w++) label[w] = argmax(rows + (size_t)w * L, L);
        }
        for (int w = 0; st == SL_OK && w < n_words; w++)
            st = group_add(&g, label[w], rows[(size_t)w * L + label[w]], (size_t)ts->start[first[w]],
                           (size_t)ts->end[first[w + 1] - 1]);
        free(first), free(label), free(rows);
    }
    if (st == SL_OK) st = group_close(&g);
    return st;
}

sl_status sl_ner_decode(const sl_labelset *ls, const sl_token_scores *ts, sl_aggregation agg,
                        const sl_decoder *dec, float threshold, const char *text, sl_entities *out,
                        sl_error *err) {
    if (!ls || !ts || !out || ls->n_labels <= 0)
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: missing label set, scores or output");
    if (agg < SL_AGG_NONE || agg > SL_AGG_MAX)
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: unknown aggregation strategy %d", (int)agg);
    const sl_decoder argmax_decoder = {SL_DECODE_ARGMAX, NULL, 0};
    if (!dec) dec = &argmax_decoder;
    if (dec->mode != SL_DECODE_VITERBI && dec->mode != SL_DECODE_ARGMAX)
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: unknown decoding %d", (int)dec->mode);
    if (ts->n_tokens < 0) return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: %d tokens", ts->n_tokens);
    if (ts->n_tokens > 0 && (!ts->scores || !ts->start || !ts->end))
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: missing scores or offsets for %d tokens",
                       ts->n_tokens);
    for (int t = 0; t < ts->n_tokens; t++)
        if (ts->start[t] < 0 || ts->end[t] < ts->start[t])
            return sl_fail(err, SL_ERR_ARGUMENT, "sl_ner_decode: token %d has the byte span [%d, %d)", t,
                           (int)ts->start[t], (int)ts->end[t]);
    size_t n0 = out->n;
    sl_status st = decode(ls, ts, agg, dec, threshold, text, out, err);
    if (st != SL_OK) out->n = n0; /* all of this text's entities or none */
    return st;
}

/* ---- punctuation at the edges ---------------------------------------------------------------- */

static int is_edge_char(const char *text, size_t at, size_t end, size_t *len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + at, (utf8proc_ssize_t)(end - at), &cp);
    if (n <= 0) return 0;
    *len = (size_t)n;
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO) || c == UTF8PROC_CATEGORY_ZS ||
           cp == '\t' || cp == '\n' || cp == '\r';
}

void sl_entities_trim_punctuation(sl_entities *out, size_t from, const char *text) {
    size_t kept = from;
    for (size_t i = from; i < out->n; i++) {
        sl_entity e = out->items[i];
        size_t len;
        while (e.start < e.end && is_edge_char(text, e.start, e.end, &len)) e.start += len;
        while (e.start < e.end) {
            size_t k = e.end - 1; /* the start of the last character */
            while (k > e.start && ((unsigned char)text[k] & 0xC0) == 0x80) k--;
            if (!is_edge_char(text, k, e.end, &len)) break;
            e.end = k;
        }
        if (e.start < e.end) out->items[kept++] = e;
    }
    out->n = kept;
}

/* ---- windows -------------------------------------------------------------------------------- */

int sl_ner_windows(int n_tokens, int window, int stride, int *starts, int max_windows) {
    if (n_tokens < 0 || window <= 0 || stride < 0 || stride >= window || max_windows < 0) return -1;
    if (max_windows > 0 && !starts) return -1;
    if (n_tokens == 0) return 0;
    int step = window - stride, n = 0, s = 0;
    for (;;) {
        if (s + window > n_tokens) s = n_tokens > window ? n_tokens - window : 0; /* last one full */
        if (n < max_windows) starts[n] = s;
        n++;
        if (s + window >= n_tokens) return n;
        s += step;
    }
}

int sl_ner_window_for_token(int i, int n_tokens, int window, const int *starts, int n_windows) {
    if (i < 0 || i >= n_tokens || window <= 0 || !starts) return -1;
    /* Most central = farthest from both edges of the window: a token near an edge lacks context on one
       side. Of two equally central windows the earlier one wins, so ownership flips once, mid-overlap. */
    /* Starts never decrease (sl_ner_windows), so the windows holding i are the few just before the first that
       starts past i, found by bisection: a scan of all windows for every token is quadratic in the text
       (a 10 MB text in windows of 16 tokens: 350,000 windows). Walked back, ties go to the earlier (>=). */
    int lo = 0, hi = n_windows;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (starts[mid] <= i) lo = mid + 1;
        else hi = mid;
    }
    int best = -1, best_margin = -1;
    for (int k = lo - 1; k >= 0 && i < starts[k] + window; k--) {
        int a = starts[k], b = starts[k] + window < n_tokens ? starts[k] + window : n_tokens;
        int margin = i - a < b - 1 - i ? i - a : b - 1 - i;
        if (margin >= best_margin) best_margin = margin, best = k;
    }
    return best;
}
