/* Entity-level scores with seqeval's default-mode rules; the rules are stated in metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- chunks --------------------------------------------------------------------------------- */

/* The state of seqeval's get_entities between two words. Types: -1 for O; the sentence starts with the
   tag O and a type no tag has (-2), so the first non-O tag always starts a chunk. */
typedef struct {
    char tag;
    int type, begin;
} chunker;

static void chunker_start(chunker *c) {
    c->tag = 'O';
    c->type = -2;
    c->begin = 0;
}

static int chunk_ends(char prev_tag, int prev_type, char tag, int type) {
    if (prev_tag == 'E' || prev_tag == 'S') return 1;
    if ((prev_tag == 'B' || prev_tag == 'I') && (tag == 'B' || tag == 'S' || tag == 'O')) return 1;
    return prev_tag != 'O' && prev_type != type;
}

static int chunk_starts(char prev_tag, int prev_type, char tag, int type) {
    if (tag == 'B' || tag == 'S') return 1;
    if ((tag == 'I' || tag == 'E') && (prev_tag == 'O' || prev_tag == 'E' || prev_tag == 'S')) return 1;
    return tag != 'O' && prev_type != type;
}

/* Feeds word i with (tag, type); i == n_words with ('O', -1) closes the sentence. Returns 1 and fills
 *ended when a chunk ended at word i - 1. */
static int chunker_step(chunker *c, int i, char tag, int type, sl_chunk *ended) {
    int end = chunk_ends(c->tag, c->type, tag, type);
    if (end) *ended = (sl_chunk){c->type, c->begin, i - 1};
    if (chunk_starts(c->tag, c->type, tag, type)) c->begin = i;
    c->tag = tag;
    c->type = type;
    return end;
}

static int tags_valid(const int *tags, int n, const sl_labelset *ls) {
    for (int i = 0; i < n; i++)
        if (tags[i] < 0 || tags[i] >= ls->n_labels) return 0;
    return 1;
}

int sl_get_chunks(const int *tags, int n_words, const sl_labelset *ls, sl_chunk *out) {
    if (n_words < 0 || (n_words > 0 && !tags) || !tags_valid(tags, n_words, ls)) return -1;
    chunker c;
    chunker_start(&c);
    int n = 0;
    sl_chunk ended;
    for (int i = 0; i <= n_words; i++) {
        char tag = i < n_words ? ls->tag_of[tags[i]] : 'O';
        int type = i < n_words ? ls->type_of[tags[i]] : -1;
        if (chunker_step(&c, i, tag, type, &ended)) {
            if (out) out[n] = ended;
            n++;
        }
    }
    return n;
}

/* ---- accumulator ---------------------------------------------------------------------------- */

sl_status sl_metrics_init(sl_metrics *m, const sl_labelset *ls, sl_error *err) {
    memset(m, 0, sizeof *m);
    if (!ls || ls->n_labels <= 0) return sl_fail(err, SL_ERR_ARGUMENT, "metrics: empty label set");
    m->labels = ls;
    m->n_types = ls->n_types;
    size_t n = ls->n_types > 0 ? (size_t)ls->n_types : 1;
    m->correct = calloc(n, sizeof *m->correct);
    m->predicted = calloc(n, sizeof *m->predicted);
    m->gold = calloc(n, sizeof *m->gold);
    if (!m->correct || !m->predicted || !m->gold) {
        sl_metrics_free(m);
        return sl_fail(err, SL_ERR_MEMORY, "metrics: cannot allocate counts for %d types", ls->n_types);
    }
    return SL_OK;
}

void sl_metrics_free(sl_metrics *m) {
    if (!m) return;
    free(m->correct);
    free(m->predicted);
    free(m->gold);
    memset(m, 0, sizeof *m);
}

void sl_metrics_reset(sl_metrics *m) {
    for (int t = 0; t < m->n_types; t++) m->correct[t] = m->predicted[t] = m->gold[t] = 0;
    m->n_sentences = m->n_words = 0;
}

sl_status sl_metrics_add(sl_metrics *m, const int *gold, const int *pred, int n_words, sl_error *err) {
    if (!m->labels) return sl_fail(err, SL_ERR_ARGUMENT, "metrics: not initialised");
    if (n_words < 0 || (n_words > 0 && (!gold || !pred)))
        return sl_fail(err, SL_ERR_ARGUMENT, "metrics: invalid sentence (%d words)", n_words);
    const sl_labelset *ls = m->labels;
    for (int i = 0; i < n_words; i++)
        if (gold[i] < 0 || gold[i] >= ls->n_labels || pred[i] < 0 || pred[i] >= ls->n_labels)
            return sl_fail(err, SL_ERR_ARGUMENT, "metrics: word %d has %s label id %d, not in [0, %d)", i,
                           gold[i] < 0 || gold[i] >= ls->n_labels ? "gold" : "predicted",
                           gold[i] < 0 || gold[i] >= ls->n_labels ? gold[i] : pred[i], ls->n_labels);
    /* Chunks never overlap and end in order, so a gold and a predicted chunk are equal exactly when both
       end at the same word with the same start and type: one pass, no list of chunks. */
    chunker g, p;
    chunker_start(&g);
    chunker_start(&p);
    for (int i = 0; i <= n_words; i++) {
        sl_chunk ge, pe;
        int g_end = i < n_words ? chunker_step(&g, i, ls->tag_of[gold[i]], ls->type_of[gold[i]], &ge)
                                : chunker_step(&g, i, 'O', -1, &ge);
        int p_end = i < n_words ? chunker_step(&p, i, ls->tag_of[pred[i]], ls->type_of[pred[i]], &pe)
                                : chunker_step(&p, i, 'O', -1, &pe);
        if (g_end) m->gold[ge.type]++;
        if (p_end) m->predicted[pe.type]++;
        if (g_end && p_end && ge.start == pe.start && ge.type == pe.type) m->correct[ge.type]++;
    }
    m->n_sentences++;
    m->n_words += n_words;
    return SL_OK;
}

/* ---- scores --------------------------------------------------------------------------------- */

static double ratio(long a, long b) {
    return b > 0 ? (double)a / (double)b : 0.0;
}

static sl_scores scores_of(long correct, long predicted, long gold) {
    sl_scores s = {0};
    s.correct = correct;
    s.predicted = predicted;
    s.support = gold;
    s.precision = ratio(correct, predicted);
    s.recall = ratio(correct, gold);
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

/* The reported type (a gold or a predicted entity) whose name comes next after `prev`'s (-1: the first),
   or -1. Names in a label set are distinct, so this walks them in sorted order without a buffer; a few
   dozen types at most, so the quadratic walk costs nothing. */
static int next_reported_type(const sl_metrics *m, int prev) {
    const char *after = prev >= 0 ? m->labels->types[prev] : NULL;
    int best = -1;
    for (int t = 0; t < m->n_types; t++) {
        if (m->gold[t] == 0 && m->predicted[t] == 0) continue;
        const char *name = m->labels->types[t];
        if (after && strcmp(name, after) <= 0) continue;
        if (best < 0 || strcmp(name, m->labels->types[best]) < 0) best = t;
    }
    return best;
}

int sl_metrics_report_types(const sl_metrics *m, int *types) {
    int n = 0;
    for (int t = next_reported_type(m, -1); t >= 0; t = next_reported_type(m, t)) types[n++] = t;
    return n;
}

sl_scores sl_metrics_scores(const sl_metrics *m, int type) {
    if (type >= 0) {
        if (type >= m->n_types) return (sl_scores){0};
        return scores_of(m->correct[type], m->predicted[type], m->gold[type]);
    }
    long correct = 0, predicted = 0, gold = 0;
    for (int t = 0; t < m->n_types; t++) {
        correct += m->correct[t];
        predicted += m->predicted[t];
        gold += m->gold[t];
    }
    sl_scores s = scores_of(correct, predicted, gold);
    if (type == SL_METRICS_MICRO) return s;
    /* macro / weighted: means of the per-type scores over the reported types */
    double p = 0, r = 0, f = 0, w = 0;
    int n = 0;
    for (int t = 0; t < m->n_types; t++) {
        if (m->gold[t] == 0 && m->predicted[t] == 0) continue;
        sl_scores st = scores_of(m->correct[t], m->predicted[t], m->gold[t]);
        double weight = type == SL_METRICS_WEIGHTED ? (double)m->gold[t] : 1.0;
        p += weight * st.precision;
        r += weight * st.recall;
        f += weight * st.f1;
        w += weight;
        n++;
    }
    if (n == 0 || w == 0) {
        s.precision = s.recall = s.f1 = 0;
    } else {
        s.precision = p / w;
        s.recall = r / w;
        s.f1 = f / w;
    }
    return s;
}

/* ---- output --------------------------------------------------------------------------------- */

void sl_metrics_print(const sl_metrics *m, int digits, FILE *f) {
    if (digits < 0) digits = 0;
    if (digits > 9) digits = 9;
    /* seqeval's StringReporter: names right-aligned to the widest of the names, "weighted avg" and
       `digits`; numbers in columns of 9 */
    int width = (int)strlen("weighted avg");
    for (int t = next_reported_type(m, -1); t >= 0; t = next_reported_type(m, t)) {
        int len = (int)strlen(m->labels->types[t]);
        if (len > width) width = len;
    }
    if (digits > width) width = digits;
    fprintf(f, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
    for (int t = next_reported_type(m, -1); t >= 0; t = next_reported_type(m, t)) {
        sl_scores s = sl_metrics_scores(m, t);
        fprintf(f, "%*s  %9.*f %9.*f %9.*f %9ld\n", width, m->labels->types[t], digits, s.precision, digits,
                s.recall, digits, s.f1, s.support);
    }
    fputc('\n', f);
    static const struct {
        const char *name;
        int which;
    } averages[] = {{"micro avg", SL_METRICS_MICRO},
                    {"macro avg", SL_METRICS_MACRO},
                    {"weighted avg", SL_METRICS_WEIGHTED}};
    for (int k = 0; k < 3; k++) {
        sl_scores s = sl_metrics_scores(m, averages[k].which);
        fprintf(f, "%*s  %9.*f %9.*f %9.*f %9ld\n", width, averages[k].name, digits, s.precision, digits,
                s.recall, digits, s.f1, s.support);
    }
    fputc('\n', f);
}

/* snprintf into buf at *len, counting what would be written past the end */
typedef struct {
    char *buf;
    size_t size, len;
} text_out;

static void out_printf(text_out *o, const char *fmt, ...) SL_PRINTF(2, 3);
static void out_printf(text_out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *at = o->len < o->size ? o->buf + o->len : NULL;
    int n = vsnprintf(at, at ? o->size - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

/* A JSON string: type names come from data files and may hold quotes, backslashes or control bytes. */
static void out_json_string(text_out *o, const char *s) {
    char *at = o->len < o->size ? o->buf + o->len : NULL;
    o->len += sl_json_quote(s, strlen(s), at, at ? o->size - o->len : 0);
}

static void out_scores(text_out *o, sl_scores s) {
    out_printf(o, "\"precision\": %.9g, \"recall\": %.9g, \"f1\": %.9g, \"support\": %ld", s.precision,
               s.recall, s.f1, s.support);
}

size_t sl_metrics_json(const sl_metrics *m, char *buf, size_t size) {
    text_out o = {buf, buf ? size : 0, 0};
    if (o.size > 0) buf[0] = 0;
    out_printf(&o, "{");
    out_scores(&o, sl_metrics_scores(m, SL_METRICS_MICRO));
    out_printf(&o, ", \"per_type\": {");
    for (int t = next_reported_type(m, -1), first = 1; t >= 0; t = next_reported_type(m, t), first = 0) {
        if (!first) out_printf(&o, ", ");
        out_json_string(&o, m->labels->types[t]);
        out_printf(&o, ": {");
        out_scores(&o, sl_metrics_scores(m, t));
        out_printf(&o, "}");
    }
    out_printf(&o, "}}");
    return o.len;
}
