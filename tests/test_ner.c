/* engine/ner.c against the Hugging Face pipeline's post-processing, re-implemented in Python by
   tools/reference/ner_reference.py, which wrote tests/fixtures/ner_cases.txt (format in its docstring);
   then label-set parsing, hand-made decoding cases and the windows of long texts. */
#include "ner.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const sl_decoder ARGMAX = {SL_DECODE_ARGMAX, NULL, 0}, VITERBI = {SL_DECODE_VITERBI, NULL, 0};

#define CASES_PATH "tests/fixtures/ner_cases.txt"
#define MAX_LABELS 64
#define MAX_TOKENS 512

static const char *agg_names[] = {"none", "simple", "first", "average", "max"};

static int parse_aggregation(const char *s) {
    for (int a = 0; a < 5; a++)
        if (strcmp(s, agg_names[a]) == 0) return a;
    return -1;
}

static int next_line(FILE *f, char *line, int size, int *line_no) {
    while (fgets(line, size, f)) {
        (*line_no)++;
        if (line[0] != '#') return 1;
    }
    return 0;
}

/* One fixture case: the labels and token scores, then runs (aggregation, threshold, expected entities),
   each decoded and compared. Returns 0 when the file does not parse. */
static int check_case(FILE *f, const char *header, int *line_no, int *n_runs_done, int *n_entities_done) {
    static char line[8192];
    static char label_store[MAX_LABELS][64];
    static const char *labels[MAX_LABELS];
    static float scores[MAX_TOKENS * MAX_LABELS];
    static int32_t start[MAX_TOKENS], end[MAX_TOKENS];
    static uint8_t word_start[MAX_TOKENS];
    int id, n_labels, n_tokens, n_runs, used;
    char scheme[32];
    if (sscanf(header, "case %d %31s %d %d %d", &id, scheme, &n_labels, &n_tokens, &n_runs) != 5 ||
        n_labels < 1 || n_labels > MAX_LABELS || n_tokens < 0 || n_tokens > MAX_TOKENS)
        return 0;

    if (!next_line(f, line, sizeof line, line_no) || strncmp(line, "labels", 6) != 0) return 0;
    const char *p = line + 6;
    for (int j = 0; j < n_labels; j++) {
        if (sscanf(p, "%63s%n", label_store[j], &used) != 1) return 0;
        labels[j] = label_store[j];
        p += used;
    }
    for (int t = 0; t < n_tokens; t++) {
        int ws;
        if (!next_line(f, line, sizeof line, line_no) ||
            sscanf(line, "token %d %d %d%n", &start[t], &end[t], &ws, &used) != 3)
            return 0;
        word_start[t] = (uint8_t)ws;
        p = line + used;
        for (int j = 0; j < n_labels; j++) {
            double x; /* strtod then a cast to float, as the reference does */
            if (sscanf(p, "%lf%n", &x, &used) != 1) return 0;
            scores[t * n_labels + j] = (float)x;
            p += used;
        }
    }

    sl_labelset ls;
    sl_error err;
    if (sl_labelset_init(&ls, labels, n_labels, &err) != SL_OK) {
        CHECK(0, "case %d: labelset: %s", id, err.message);
        return 0;
    }
    sl_token_scores ts = {
        .n_tokens = n_tokens, .scores = scores, .start = start, .end = end, .word_start = word_start};
    int ok = 1;
    for (int r = 0; r < n_runs && ok; r++) {
        char agg_name[16];
        double threshold;
        int n_expected;
        if (!next_line(f, line, sizeof line, line_no) ||
            sscanf(line, "run %15s %lf %d", agg_name, &threshold, &n_expected) != 3 ||
            parse_aggregation(agg_name) < 0) {
            ok = 0;
            break;
        }
        sl_aggregation agg = (sl_aggregation)parse_aggregation(agg_name);
        sl_entities got = {0};
        sl_status st = sl_ner_decode(&ls, &ts, agg, &ARGMAX, (float)threshold, NULL, &got, &err);
        CHECK(st == SL_OK, "case %d (%s) %s: %s", id, scheme, agg_name, err.message);
        CHECK(got.n == (size_t)n_expected, "case %d (%s) %s threshold %g: %zu entities, expected %d", id,
              scheme, agg_name, threshold, got.n, n_expected);
        for (int k = 0; k < n_expected; k++) {
            char label[64];
            double score;
            long s, e;
            if (!next_line(f, line, sizeof line, line_no) ||
                sscanf(line, "entity %63s %lf %ld %ld", label, &score, &s, &e) != 4) {
                ok = 0;
                break;
            }
            if ((size_t)k >= got.n) continue;
            const sl_entity *g = &got.items[k];
            CHECK(
                strcmp(g->label, label) == 0 && g->start == (size_t)s && g->end == (size_t)e &&
                    fabs(g->score - score) <= 1e-6,
                "case %d (%s) %s threshold %g, entity %d: got %s %.9g [%zu,%zu), expected %s %.9g [%ld,%ld)",
                id, scheme, agg_name, threshold, k, g->label, g->score, g->start, g->end, label, score, s, e);
            (*n_entities_done)++;
        }
        sl_entities_free(&got);
        (*n_runs_done)++;
    }
    sl_labelset_free(&ls);
    return ok;
}

static void test_reference_cases(void) {
    FILE *f = fopen(CASES_PATH, "r");
    CHECK(f != NULL, "cannot open %s (run from the repository root)", CASES_PATH);
    if (!f) return;
    char line[256];
    int line_no = 0, n_cases = 0, n_runs = 0, n_entities = 0;
    while (next_line(f, line, sizeof line, &line_no)) {
        int ok = check_case(f, line, &line_no, &n_runs, &n_entities);
        CHECK(ok, "%s:%d: cannot parse the case", CASES_PATH, line_no);
        if (!ok) break;
        n_cases++;
    }
    fclose(f);
    CHECK(n_cases >= 200, "only %d cases in %s", n_cases, CASES_PATH);
    printf("reference: %d cases, %d runs, %d entities compared\n", n_cases, n_runs, n_entities);
}

/* ---- label sets ----------------------------------------------------------------------------- */

static void test_labelset(void) {
    sl_labelset ls;
    sl_error err;
    const char *bilou[] = {"O", "B-PER", "I-PER", "L-PER", "U-PER", "S_LOC", "E_LOC", "MISC", "I-MISC"};
    CHECK(sl_labelset_init(&ls, bilou, 9, &err) == SL_OK, "%s", err.message);
    CHECK(ls.n_labels == 9 && ls.n_types == 3, "%d labels, %d types", ls.n_labels, ls.n_types);
    CHECK(ls.n_types == 3 && strcmp(ls.types[0], "PER") == 0 && strcmp(ls.types[1], "LOC") == 0 &&
              strcmp(ls.types[2], "MISC") == 0,
          "types in order of first appearance");
    CHECK(memcmp(ls.tag_of, "OBIESSEII", 9) == 0, "tags %.9s", ls.tag_of);
    int types[] = {-1, 0, 0, 0, 0, 1, 1, 2, 2};
    for (int i = 0; i < 9; i++) CHECK(ls.type_of[i] == types[i], "label %d type %d", i, ls.type_of[i]);
    CHECK(strcmp(ls.labels[3], "L-PER") == 0 && ls.labels[3] != bilou[3], "labels are copies");
    sl_labelset_free(&ls);
    sl_labelset_free(&ls); /* freeing twice is harmless: free zeroes */

    CHECK(sl_labelset_init(&ls, bilou, 0, &err) == SL_ERR_FORMAT, "empty label list accepted");
    CHECK(strstr(err.message, "empty label list") != NULL, "message: %s", err.message);
    CHECK(sl_labelset_init(&ls, NULL, 3, &err) == SL_ERR_FORMAT, "NULL label list accepted");

    const char *empty_type[] = {"O", "B-PER", "B-", "I-PER"};
    CHECK(sl_labelset_init(&ls, empty_type, 4, &err) == SL_ERR_FORMAT, "\"B-\" accepted");
    CHECK(strstr(err.message, "label 2") != NULL && strstr(err.message, "\"B-\"") != NULL, "message: %s",
          err.message);
    CHECK(ls.labels == NULL && ls.n_labels == 0, "failed init leaves an empty label set");
    sl_labelset_free(&ls);

    const char *empty_label[] = {"O", ""};
    CHECK(sl_labelset_init(&ls, empty_label, 2, &err) == SL_ERR_FORMAT && strstr(err.message, "label 1"),
          "empty label: %s", err.message);
    const char *null_label[] = {"O", "B-PER", NULL};
    CHECK(sl_labelset_init(&ls, null_label, 3, &err) == SL_ERR_FORMAT && strstr(err.message, "label 2"),
          "NULL label: %s", err.message);
    const char *o_type[] = {"O", "B-O"};
    CHECK(sl_labelset_init(&ls, o_type, 2, &err) == SL_ERR_FORMAT && strstr(err.message, "label 1"),
          "\"B-O\": %s", err.message);
    /* "I" or "BX" are bare types, not prefixes */
    const char *bare[] = {"O", "I", "BX"};
    CHECK(sl_labelset_init(&ls, bare, 3, &err) == SL_OK && ls.n_types == 2 && ls.tag_of[1] == 'I' &&
              ls.tag_of[2] == 'I' && strcmp(ls.types[1], "BX") == 0,
          "bare labels");
    sl_labelset_free(&ls);
}

/* ---- hand-made decoding cases --------------------------------------------------------------- */

/* Scores that put all the mass on one label a token: p(label)=score, the rest shared. */
static void one_hot(float *scores, int n_labels, const int *label, const float *p, int n_tokens) {
    for (int t = 0; t < n_tokens; t++)
        for (int j = 0; j < n_labels; j++)
            scores[t * n_labels + j] = j == label[t] ? p[t] : (1 - p[t]) / (n_labels - 1);
}

static int entity_is(const sl_entities *e, size_t k, const char *label, size_t start, size_t end) {
    return k < e->n && strcmp(e->items[k].label, label) == 0 && e->items[k].start == start &&
           e->items[k].end == end;
}

static void test_decode(void) {
    sl_error err;
    sl_labelset ls;
    /* The pipeline's docstring: (A, B-TAG), (B, I-TAG), (C, I-TAG), (D, B-TAG2), (E, B-TAG2) gives
       ABC/TAG, D/TAG2, E/TAG2 with "simple". */
    const char *tags[] = {"O", "B-TAG", "I-TAG", "B-TAG2", "I-TAG2"};
    CHECK(sl_labelset_init(&ls, tags, 5, &err) == SL_OK, "%s", err.message);
    {
        int label[] = {1, 2, 2, 3, 3};
        float p[] = {0.9f, 0.8f, 0.7f, 0.6f, 0.95f}, scores[5 * 5];
        int32_t start[] = {0, 2, 4, 6, 8}, end[] = {1, 3, 5, 7, 9};
        one_hot(scores, 5, label, p, 5);
        sl_token_scores ts = {.n_tokens = 5, .scores = scores, .start = start, .end = end};
        sl_entities e = {0};
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_SIMPLE, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
        CHECK(e.n == 3 && entity_is(&e, 0, "TAG", 0, 5) && entity_is(&e, 1, "TAG2", 6, 7) &&
                  entity_is(&e, 2, "TAG2", 8, 9),
              "docstring example: %zu entities", e.n);
        CHECK(e.n == 3 && fabsf(e.items[0].score - 0.8f) < 1e-6f, "mean score %g",
              e.n ? e.items[0].score : 0);
        /* appending keeps what was there; the threshold drops the 0.6 entity */
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_SIMPLE, &ARGMAX, 0.7f, NULL, &e, &err) == SL_OK, "%s",
              err.message);
        CHECK(e.n == 5 && entity_is(&e, 3, "TAG", 0, 5) && entity_is(&e, 4, "TAG2", 8, 9), "%zu entities",
              e.n);
        /* none: one entity per token, full label names pointing into the label set */
        e.n = 0;
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_NONE, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
        CHECK(e.n == 5 && entity_is(&e, 1, "I-TAG", 2, 3) && e.items[1].label == ls.labels[2], "none");
        /* a score equal to the threshold is kept (HF has no threshold; ours drops scores below it) */
        e.n = 0;
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_NONE, &ARGMAX, 0.95f, NULL, &e, &err) == SL_OK, "%s",
              err.message);
        CHECK(e.n == 1 && entity_is(&e, 0, "B-TAG2", 8, 9) && e.items[0].score == 0.95f, "threshold 0.95");
        /* word aggregation without word_start flags: every token is a word */
        e.n = 0;
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_FIRST, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
        CHECK(e.n == 3 && entity_is(&e, 0, "TAG", 0, 5) && e.items[0].label == ls.types[0], "first");
        sl_entities_free(&e);
    }
    {
        /* Whitespace at the edges of token spans (SentencePiece offsets may include the space before a
           word, French text has no-break spaces) is trimmed; an all-space span is left as it is. */
        const char *text = " Paris\xC2\xA0: \xE2\x80\xAFLyon ";
        /*                  0     6      8 9          13   17 */
        int label[] = {1, 0, 3, 0};
        float p[] = {0.9f, 0.9f, 0.9f, 0.9f}, scores[4 * 5];
        int32_t start[] = {0, 6, 9, 17}, end[] = {6, 9, 17, 18};
        one_hot(scores, 5, label, p, 4);
        sl_token_scores ts = {.n_tokens = 4, .scores = scores, .start = start, .end = end};
        sl_entities e = {0};
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_AVERAGE, &ARGMAX, 0, text, &e, &err) == SL_OK, "%s",
              err.message);
        CHECK(e.n == 2 && entity_is(&e, 0, "TAG", 1, 6) && entity_is(&e, 1, "TAG2", 13, 17),
              "trimmed spans: %zu entities, [%zu,%zu) [%zu,%zu)", e.n, e.n > 0 ? e.items[0].start : 0,
              e.n > 0 ? e.items[0].end : 0, e.n > 1 ? e.items[1].start : 0, e.n > 1 ? e.items[1].end : 0);
        label[3] = 1; /* the final " " alone */
        one_hot(scores, 5, label, p, 4);
        e.n = 0;
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_NONE, &ARGMAX, 0, text, &e, &err) == SL_OK, "%s", err.message);
        CHECK(e.n == 3 && entity_is(&e, 2, "B-TAG", 17, 18), "all-space span kept");
        sl_entities_free(&e);
    }
    {
        /* invalid arguments */
        float scores[5] = {1, 0, 0, 0, 0};
        int32_t start[] = {3}, end[] = {2};
        sl_token_scores ts = {.n_tokens = 1, .scores = scores, .start = start, .end = end};
        sl_entities e = {0};
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_NONE, &ARGMAX, 0, NULL, &e, &err) == SL_ERR_ARGUMENT &&
                  strstr(err.message, "token 0"),
              "reversed span: %s", err.message);
        end[0] = 4;
        CHECK(sl_ner_decode(&ls, &ts, (sl_aggregation)7, &ARGMAX, 0, NULL, &e, &err) == SL_ERR_ARGUMENT,
              "aggregation 7");
        ts.n_tokens = -1;
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_NONE, &ARGMAX, 0, NULL, &e, &err) == SL_ERR_ARGUMENT,
              "-1 tokens");
        ts = (sl_token_scores){0};
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_MAX, &ARGMAX, 0, NULL, &e, &err) == SL_OK && e.n == 0,
              "no tokens");
        sl_entities_free(&e);
    }
    sl_labelset_free(&ls);

    /* BIOES: S- stands alone, E- closes; I- after E- opens a new entity. */
    const char *bioes[] = {"O", "B-PER", "I-PER", "E-PER", "S-PER"};
    CHECK(sl_labelset_init(&ls, bioes, 5, &err) == SL_OK, "%s", err.message);
    {
        /* S S B I E I E S */
        int label[] = {4, 4, 1, 2, 3, 2, 3, 4};
        float p[] = {0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f}, scores[8 * 5];
        int32_t start[8], end[8];
        for (int t = 0; t < 8; t++) start[t] = 2 * t, end[t] = 2 * t + 1;
        one_hot(scores, 5, label, p, 8);
        sl_token_scores ts = {.n_tokens = 8, .scores = scores, .start = start, .end = end};
        sl_entities e = {0};
        CHECK(sl_ner_decode(&ls, &ts, SL_AGG_SIMPLE, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
        CHECK(e.n == 5 && entity_is(&e, 0, "PER", 0, 1) && entity_is(&e, 1, "PER", 2, 3) &&
                  entity_is(&e, 2, "PER", 4, 9) && entity_is(&e, 3, "PER", 10, 13) &&
                  entity_is(&e, 4, "PER", 14, 15),
              "BIOES: %zu entities", e.n);
        sl_entities_free(&e);
    }
    sl_labelset_free(&ls);
}

/* ---- windows -------------------------------------------------------------------------------- */

static void test_windows(void) {
    int starts[256];
    for (int window = 1; window <= 12; window++)
        for (int stride = 0; stride < window; stride++)
            for (int n = 0; n <= 60; n++) {
                int nw = sl_ner_windows(n, window, stride, starts, 256);
                int ok = nw >= 0 && nw <= 256 && sl_ner_windows(n, window, stride, NULL, 0) == nw;
                CHECK(ok, "n %d window %d stride %d: %d windows", n, window, stride, nw);
                if (!ok) continue;
                if (n == 0) {
                    CHECK(nw == 0, "no tokens, %d windows", nw);
                    continue;
                }
                CHECK(nw >= 1 && starts[0] == 0, "n %d window %d stride %d: first window at %d", n, window,
                      stride, starts[0]);
                int last_end = starts[nw - 1] + window < n ? starts[nw - 1] + window : n;
                CHECK(last_end == n, "n %d window %d stride %d: last window ends at %d", n, window, stride,
                      last_end);
                for (int k = 0; k < nw; k++) {
                    CHECK(starts[k] >= 0 && (n < window ? starts[k] == 0 : starts[k] + window <= n),
                          "n %d window %d stride %d: window %d at %d not full", n, window, stride, k,
                          starts[k]);
                    if (k > 0)
                        CHECK(starts[k] > starts[k - 1] && starts[k] <= starts[k - 1] + window - stride,
                              "n %d window %d stride %d: windows %d,%d at %d,%d overlap by less than the "
                              "stride",
                              n, window, stride, k - 1, k, starts[k - 1], starts[k]);
                }
                if (n <= window) CHECK(nw == 1, "n %d window %d: %d windows", n, window, nw);
                /* at most one window more than the stride strictly needs */
                int step = window - stride;
                CHECK(n <= window || nw == 1 + (n - window + step - 1) / step, "n %d window %d stride %d: %d",
                      n, window, stride, nw);
                for (int i = 0; i < n; i++) {
                    int k = sl_ner_window_for_token(i, n, window, starts, nw);
                    int inside = k >= 0 && k < nw && starts[k] <= i && i < starts[k] + window;
                    CHECK(inside, "n %d window %d stride %d: token %d given window %d", n, window, stride, i,
                          k);
                    if (!inside) continue;
                    /* no window holds it more centrally */
                    int kb = starts[k] + window < n ? starts[k] + window : n;
                    double dist = fabs(i + 0.5 - (starts[k] + kb) / 2.0);
                    for (int q = 0; q < nw; q++) {
                        int a = starts[q], b = a + window < n ? a + window : n;
                        if (i < a || i >= b) continue;
                        CHECK(fabs(i + 0.5 - (a + b) / 2.0) >= dist - 1e-9,
                              "n %d window %d stride %d: token %d more central in window %d than %d", n,
                              window, stride, i, q, k);
                    }
                }
            }
    /* truncated output: the count needed, and only max_windows written */
    starts[2] = -7;
    CHECK(sl_ner_windows(100, 10, 2, starts, 2) == 13 && starts[0] == 0 && starts[1] == 8 && starts[2] == -7,
          "truncated windows");
    CHECK(sl_ner_windows(23, 10, 5, starts, 256) == 4 && starts[2] == 10 && starts[3] == 13,
          "last window shifted back to 13");
    /* invalid arguments */
    CHECK(sl_ner_windows(10, 4, 4, starts, 256) == -1, "stride == window accepted");
    CHECK(sl_ner_windows(10, 4, 5, starts, 256) == -1, "stride > window accepted");
    CHECK(sl_ner_windows(10, 0, 0, starts, 256) == -1, "window 0 accepted");
    CHECK(sl_ner_windows(10, 4, -1, starts, 256) == -1, "negative stride accepted");
    CHECK(sl_ner_windows(-1, 4, 1, starts, 256) == -1, "negative token count accepted");
    CHECK(sl_ner_windows(10, 4, 1, NULL, 3) == -1, "NULL starts with room accepted");
    CHECK(sl_ner_window_for_token(10, 10, 4, starts, 3) == -1, "token past the end");
    CHECK(sl_ner_window_for_token(-1, 10, 4, starts, 3) == -1, "negative token");
}

/* Whether a whole label sequence is one an annotation could have (the reference for sl_ner_viterbi, written
   from the schemes' definitions, label by label): in IOB2 an I- continues a B- or I- of its type; in IOB1
   (a type without B-) an I- may also begin; in BIOES, B- and I- are followed by I- or E- of their type
   and an E- or I- follows B- or I- of its type. */
static int sequence_valid(const sl_labelset *ls, const int *y, int n) {
    int bioes = 0;
    for (int j = 0; j < ls->n_labels; j++) bioes |= ls->tag_of[j] == 'E' || ls->tag_of[j] == 'S';
    for (int i = 0; i < n; i++) {
        const char tag = ls->tag_of[y[i]], prev = i ? ls->tag_of[y[i - 1]] : 'O';
        const int same = i && ls->type_of[y[i - 1]] == ls->type_of[y[i]];
        int has_b = 0;
        for (int j = 0; j < ls->n_labels; j++)
            has_b |= ls->tag_of[j] == 'B' && ls->type_of[j] == ls->type_of[y[i]];
        const int open = (prev == 'B' || prev == 'I') && same;
        if (tag == 'E' && !open) return 0;
        if (tag == 'I' && !open && has_b) return 0;
        if (bioes && (prev == 'B' || prev == 'I') && !((tag == 'I' || tag == 'E') && same)) return 0;
    }
    if (bioes && n && (ls->tag_of[y[n - 1]] == 'B' || ls->tag_of[y[n - 1]] == 'I')) return 0;
    return 1;
}

/* sl_ner_viterbi against every label sequence, on random log-probabilities, for IOB2, IOB1 and BIOES sets,
   without and with random label transitions (weight 0.7): its path is valid and scores as high as the best
   valid sequence (ties: none, the scores being random floats). */
static void test_viterbi(void) {
    const char *iob2[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
    const char *iob1[] = {"O", "I-PER", "I-LOC", "B-LOC"};
    const char *bioes[] = {"O", "B-PER", "I-PER", "E-PER", "S-PER", "B-ORG", "E-ORG", "S-ORG"};
    const struct {
        const char *const *labels;
        int n;
    } sets[] = {{iob2, 5}, {iob1, 4}, {bioes, 8}};
    uint32_t rng = 12345;
    for (int si = 0; si < 3; si++) {
        sl_error err;
        sl_labelset ls;
        CHECK(sl_labelset_init(&ls, sets[si].labels, sets[si].n, &err) == SL_OK, "%s", err.message);
        const int L = ls.n_labels;
        for (int trial = 0; trial < 80; trial++) {
            const int n = 1 + trial % 5;
            float logp[5 * 8], trans[9 * 8];
            for (int i = 0; i < n * L; i++) {
                rng = rng * 1664525u + 1013904223u;
                logp[i] = -8.0f * (float)(rng >> 8) / (float)(1u << 24);
            }
            for (int i = 0; i < (L + 1) * L; i++) {
                rng = rng * 1664525u + 1013904223u;
                trans[i] = -5.0f * (float)(rng >> 8) / (float)(1u << 24);
            }
            const sl_decoder with = {SL_DECODE_VITERBI, trans, 0.7f};
            const sl_decoder *dec = trial % 2 ? &with : NULL;
            int path[5], y[5] = {0};
            CHECK(sl_ner_viterbi(&ls, logp, n, dec, path, &err) == SL_OK, "%s", err.message);
            double best = -INFINITY, got = 0;
            int total = 1;
            for (int i = 0; i < n; i++) total *= L;
            for (int k = -1; k < total; k++) { /* k = -1: Viterbi's path */
                for (int i = 0, r = k; i < n; i++, r /= L) y[n - 1 - i] = k < 0 ? path[n - 1 - i] : r % L;
                if (!sequence_valid(&ls, y, n)) continue;
                double sc = 0;
                for (int i = 0; i < n; i++)
                    sc += logp[i * L + y[i]] + (dec ? 0.7 * trans[(i ? 1 + y[i - 1] : 0) * L + y[i]] : 0);
                if (k < 0)
                    got = sc;
                else if (sc > best)
                    best = sc;
            }
            CHECK(sequence_valid(&ls, path, n), "set %d trial %d: the path is not a valid sequence", si,
                  trial);
            CHECK(fabs(got - best) < 1e-4, "set %d trial %d: path scores %g, the best valid sequence %g", si,
                  trial, got, best);
        }
        sl_labelset_free(&ls);
    }
    /* Decoding words: argmax reads "Le Havre" as "O I-LOC" (an entity "Havre"); Viterbi finds the valid
       reading "B-LOC I-LOC" (log 0.45 + log 0.90 beats O with a valid second word: at best log 0.50 +
       log 0.08). */
    sl_error err;
    sl_labelset ls;
    CHECK(sl_labelset_init(&ls, iob2, 5, &err) == SL_OK, "%s", err.message);
    /*                      O      B-PER  I-PER  B-LOC  I-LOC */
    const float scores[] = {0.50f, 0.00f, 0.00f, 0.45f, 0.05f,  /* Le */
                            0.02f, 0.00f, 0.00f, 0.08f, 0.90f}; /* Havre */
    const int32_t start[] = {0, 3}, end[] = {2, 8};
    sl_token_scores ts = {.n_tokens = 2, .scores = scores, .start = start, .end = end};
    sl_entities e = {0};
    CHECK(sl_ner_decode(&ls, &ts, SL_AGG_FIRST, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
    CHECK(e.n == 1 && entity_is(&e, 0, "LOC", 3, 8), "argmax: 'Havre' alone (%zu entities)", e.n);
    e.n = 0;
    CHECK(sl_ner_decode(&ls, &ts, SL_AGG_FIRST, &VITERBI, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
    CHECK(e.n == 1 && entity_is(&e, 0, "LOC", 0, 8), "viterbi: 'Le Havre' (%zu entities)", e.n);
    CHECK(e.n == 1 && fabsf(e.items[0].score - (0.45f + 0.90f) / 2) < 1e-6f, "viterbi score %g",
          e.n ? e.items[0].score : 0);
    /* "B-PER I-LOC" (Jean, then a sure-ish I-LOC): argmax gives two entities, Viterbi one of either type */
    const float scores2[] = {0.00f, 0.60f, 0.00f, 0.40f, 0.00f,  /* B-PER 0.6 or B-LOC 0.4 */
                             0.10f, 0.00f, 0.20f, 0.00f, 0.70f}; /* I-LOC 0.7, I-PER 0.2 */
    ts.scores = scores2;
    e.n = 0;
    CHECK(sl_ner_decode(&ls, &ts, SL_AGG_FIRST, &ARGMAX, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
    CHECK(e.n == 2, "argmax: PER then LOC (%zu entities)", e.n);
    e.n = 0;
    CHECK(sl_ner_decode(&ls, &ts, SL_AGG_FIRST, &VITERBI, 0, NULL, &e, &err) == SL_OK, "%s", err.message);
    /* B-LOC I-LOC: log 0.4 + log 0.7 = -1.27 beats B-PER I-PER: log 0.6 + log 0.2 = -2.12, and O I-... is
     * invalid */
    CHECK(e.n == 1 && entity_is(&e, 0, "LOC", 0, 8), "viterbi: one LOC (%zu entities)", e.n);
    sl_entities_free(&e);
    sl_labelset_free(&ls);
}

int main(void) {
    test_labelset();
    test_decode();
    test_windows();
    test_viterbi();
    test_reference_cases();
    return check_report("test_ner");
}
