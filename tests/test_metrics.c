/* engine/metrics.c against seqeval's default mode, re-implemented in Python by
   tools/reference/seqeval_reference.py, which wrote tests/fixtures/seqeval_cases.txt (format in its
   docstring); then seqeval's documented examples, the printed table, the JSON object and bad arguments. */
#include "metrics.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CASES_PATH "tests/fixtures/seqeval_cases.txt"
#define MAX_LABELS 32
#define MAX_WORDS 4096
#define TOLERANCE 1e-6

static int near(double a, double b) {
    return fabs(a - b) <= TOLERANCE;
}

/* Label ids of the space-separated tags after the first word of line; -1 on an unknown tag. */
static int parse_tags(char *line, const sl_labelset *ls, int *ids, int max) {
    int n = 0;
    char *save = NULL;
    strtok_r(line, " \n", &save);
    for (char *tok = strtok_r(NULL, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        int id = -1;
        for (int i = 0; i < ls->n_labels; i++)
            if (strcmp(ls->labels[i], tok) == 0) id = i;
        if (id < 0 || n == max) return -1;
        ids[n++] = id;
    }
    return n;
}

static int type_named(const sl_labelset *ls, const char *name) {
    for (int t = 0; t < ls->n_types; t++)
        if (strcmp(ls->types[t], name) == 0) return t;
    return -1;
}

static void check_fixture(void) {
    FILE *f = fopen(CASES_PATH, "r");
    CHECK(f != NULL, "cannot open %s (run from the repository root)", CASES_PATH);
    if (!f) return;
    static char line[1 << 16], gold_line[1 << 16];
    static int gold[MAX_WORDS], pred[MAX_WORDS];
    int n_cases = 0, n_types_checked = 0, line_no = 0, case_id = -1, n_sentences = 0;
    sl_labelset ls = {0};
    sl_metrics m = {0};
    int reported[MAX_LABELS], n_reported = 0, n_type_lines = 0;
    sl_error err;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '#') continue;
        if (sscanf(line, "case %d %d", &case_id, &n_sentences) == 2) {
            n_type_lines = 0;
        } else if (strncmp(line, "labels ", 7) == 0) {
            char *names[MAX_LABELS], *save = NULL;
            int n = 0;
            for (char *tok = strtok_r(line + 7, " \n", &save); tok && n < MAX_LABELS;
                 tok = strtok_r(NULL, " \n", &save))
                names[n++] = tok;
            sl_labelset_free(&ls);
            sl_metrics_free(&m);
            CHECK(sl_labelset_init(&ls, (const char *const *)names, n, &err) == SL_OK, "case %d: %s", case_id,
                  err.message);
            CHECK(sl_metrics_init(&m, &ls, &err) == SL_OK, "case %d: %s", case_id, err.message);
        } else if (strncmp(line, "gold", 4) == 0) {
            memcpy(gold_line, line, sizeof line);
        } else if (strncmp(line, "pred", 4) == 0) {
            int ng = parse_tags(gold_line, &ls, gold, MAX_WORDS), np = parse_tags(line, &ls, pred, MAX_WORDS);
            CHECK(ng >= 0 && ng == np, "%s:%d: bad sentence (%d gold, %d predicted tags)", CASES_PATH,
                  line_no, ng, np);
            if (ng >= 0 && ng == np)
                CHECK(sl_metrics_add(&m, gold, pred, ng, &err) == SL_OK, "case %d: %s", case_id, err.message);
        } else if (strncmp(line, "type ", 5) == 0) {
            char name[64];
            double p, r, f1;
            long support, predicted, correct;
            if (sscanf(line, "type %63s %lf %lf %lf %ld %ld %ld", name, &p, &r, &f1, &support, &predicted,
                       &correct) != 7) {
                CHECK(0, "%s:%d: bad type line", CASES_PATH, line_no);
                continue;
            }
            int t = type_named(&ls, name);
            CHECK(t >= 0, "case %d: type %s not in the label set", case_id, name);
            if (t < 0) continue;
            sl_scores s = sl_metrics_scores(&m, t);
            CHECK(near(s.precision, p) && near(s.recall, r) && near(s.f1, f1) && s.support == support &&
                      s.predicted == predicted && s.correct == correct,
                  "case %d type %s: C p=%.9g r=%.9g f1=%.9g support=%ld pred=%ld correct=%ld, seqeval %.9g "
                  "%.9g "
                  "%.9g %ld %ld %ld",
                  case_id, name, s.precision, s.recall, s.f1, s.support, s.predicted, s.correct, p, r, f1,
                  support, predicted, correct);
            if (n_type_lines == 0) n_reported = sl_metrics_report_types(&m, reported);
            CHECK(n_type_lines < n_reported && reported[n_type_lines] == t,
                  "case %d: reported type %d is not %s (seqeval's sorted order)", case_id, n_type_lines,
                  name);
            n_type_lines++;
            n_types_checked++;
        } else if (strncmp(line, "avg ", 4) == 0) {
            char which[16];
            double p, r, f1;
            long support;
            if (sscanf(line, "avg %15s %lf %lf %lf %ld", which, &p, &r, &f1, &support) != 5) {
                CHECK(0, "%s:%d: bad avg line", CASES_PATH, line_no);
                continue;
            }
            int avg = strcmp(which, "micro") == 0   ? SL_METRICS_MICRO
                      : strcmp(which, "macro") == 0 ? SL_METRICS_MACRO
                                                    : SL_METRICS_WEIGHTED;
            sl_scores s = sl_metrics_scores(&m, avg);
            CHECK(near(s.precision, p) && near(s.recall, r) && near(s.f1, f1) && s.support == support,
                  "case %d %s avg: C %.9g %.9g %.9g %ld, seqeval %.9g %.9g %.9g %ld", case_id, which,
                  s.precision, s.recall, s.f1, s.support, p, r, f1, support);
        } else if (strncmp(line, "end", 3) == 0) {
            n_reported = sl_metrics_report_types(&m, reported);
            CHECK(n_reported == n_type_lines, "case %d: %d reported types, seqeval reports %d", case_id,
                  n_reported, n_type_lines);
            CHECK(m.n_sentences == n_sentences, "case %d: %ld sentences added, %d in the case", case_id,
                  m.n_sentences, n_sentences);
            n_cases++;
        }
    }
    fclose(f);
    sl_metrics_free(&m);
    sl_labelset_free(&ls);
    CHECK(n_cases >= 100, "only %d cases in %s", n_cases, CASES_PATH);
    printf("seqeval fixture: %d cases, %d per-type rows\n", n_cases, n_types_checked);
}

/* A hand-made label set and tag sequences written as label names. */
static const char *iob2[] = {"O", "B-PER", "I-PER", "B-MISC", "I-MISC", "B-LOC", "I-LOC"};

static int ids_of(const sl_labelset *ls, const char *tags, int *ids) {
    char copy[512];
    snprintf(copy, sizeof copy, "x %s", tags);
    return parse_tags(copy, ls, ids, 64);
}

static void check_chunks(void) {
    sl_labelset ls;
    sl_error err;
    CHECK(sl_labelset_init(&ls, iob2, 7, &err) == SL_OK, "%s", err.message);
    int tags[64];
    sl_chunk c[64];
    /* seqeval's docstring example */
    int n = ids_of(&ls, "B-PER I-PER O B-LOC", tags);
    CHECK(sl_get_chunks(tags, n, &ls, c) == 2, "two chunks");
    CHECK(c[0].type == 0 && c[0].start == 0 && c[0].end == 1 && c[1].type == 2 && c[1].start == 3 &&
              c[1].end == 3,
          "PER 0-1, LOC 3-3: got %d %d-%d, %d %d-%d", c[0].type, c[0].start, c[0].end, c[1].type, c[1].start,
          c[1].end);
    /* I after O starts; a type change inside splits; B after I starts again */
    n = ids_of(&ls, "I-PER I-PER O I-LOC I-PER B-PER I-PER", tags);
    CHECK(sl_get_chunks(tags, n, &ls, c) == 4, "four chunks");
    CHECK(c[0].start == 0 && c[0].end == 1 && c[1].start == 3 && c[1].end == 3 && c[2].start == 4 &&
              c[2].end == 4 && c[3].start == 5 && c[3].end == 6,
          "boundaries");
    CHECK(sl_get_chunks(tags, 0, &ls, c) == 0, "no words");
    CHECK(sl_get_chunks(tags, n, &ls, NULL) == 4, "count only");
    tags[2] = 7;
    CHECK(sl_get_chunks(tags, n, &ls, c) == -1, "an id out of range");
    sl_labelset_free(&ls);
}

static void check_table(void) {
    sl_labelset ls;
    sl_error err;
    CHECK(sl_labelset_init(&ls, iob2, 7, &err) == SL_OK, "%s", err.message);
    sl_metrics m;
    CHECK(sl_metrics_init(&m, &ls, &err) == SL_OK, "%s", err.message);
    int gold[64], pred[64];
    /* seqeval's classification_report docstring: MISC 0, PER 1, every average 0.5 */
    int n = ids_of(&ls, "O O O B-MISC I-MISC I-MISC O", gold);
    ids_of(&ls, "O O B-MISC I-MISC I-MISC I-MISC O", pred);
    CHECK(sl_metrics_add(&m, gold, pred, n, &err) == SL_OK, "%s", err.message);
    n = ids_of(&ls, "B-PER I-PER O", gold);
    ids_of(&ls, "B-PER I-PER O", pred);
    CHECK(sl_metrics_add(&m, gold, pred, n, &err) == SL_OK, "%s", err.message);
    sl_scores micro = sl_metrics_scores(&m, SL_METRICS_MICRO);
    CHECK(micro.precision == 0.5 && micro.recall == 0.5 && micro.f1 == 0.5 && micro.support == 2,
          "micro 0.5");
    CHECK(sl_metrics_scores(&m, 1).f1 == 0 && sl_metrics_scores(&m, 0).f1 == 1, "MISC 0, PER 1");

    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    sl_metrics_print(&m, 2, mem);
    fclose(mem);
    const char *expected = "              precision    recall  f1-score   support\n"
                           "\n"
                           "        MISC       0.00      0.00      0.00         1\n"
                           "         PER       1.00      1.00      1.00         1\n"
                           "\n"
                           "   micro avg       0.50      0.50      0.50         2\n"
                           "   macro avg       0.50      0.50      0.50         2\n"
                           "weighted avg       0.50      0.50      0.50         2\n"
                           "\n";
    CHECK(strcmp(text, expected) == 0, "table:\n%s\nexpected:\n%s", text, expected);
    free(text);

    size_t len = sl_metrics_json(&m, NULL, 0);
    char *json = malloc(len + 1);
    CHECK(sl_metrics_json(&m, json, len + 1) == len && strlen(json) == len, "json length %zu", len);
    const char *expected_json =
        "{\"precision\": 0.5, \"recall\": 0.5, \"f1\": 0.5, \"support\": 2, \"per_type\": {"
        "\"MISC\": {\"precision\": 0, \"recall\": 0, \"f1\": 0, \"support\": 1}, "
        "\"PER\": {\"precision\": 1, \"recall\": 1, \"f1\": 1, \"support\": 1}}}";
    CHECK(strcmp(json, expected_json) == 0, "json %s", json);
    char small[16];
    CHECK(sl_metrics_json(&m, small, sizeof small) == len && strlen(small) == sizeof small - 1, "cut json");
    free(json);

    /* a bad id counts nothing and names the word */
    gold[1] = 99;
    CHECK(sl_metrics_add(&m, gold, pred, n, &err) == SL_ERR_ARGUMENT && strstr(err.message, "word 1"), "%s",
          err.message);
    CHECK(sl_metrics_add(&m, gold, pred, -1, &err) == SL_ERR_ARGUMENT, "negative length");
    CHECK(m.n_sentences == 2 && sl_metrics_scores(&m, SL_METRICS_MICRO).support == 2, "nothing counted");

    /* no entities at all: every score 0, the table still prints */
    sl_metrics_reset(&m);
    n = ids_of(&ls, "O O", gold);
    CHECK(sl_metrics_add(&m, gold, gold, n, &err) == SL_OK, "%s", err.message);
    sl_scores s = sl_metrics_scores(&m, SL_METRICS_MACRO);
    CHECK(s.f1 == 0 && s.support == 0, "empty macro");
    CHECK(sl_metrics_json(&m, NULL, 0) > 0, "empty json");
    sl_metrics_free(&m);
    sl_labelset_free(&ls);
}

/* Type names from data files go into JSON: quotes, backslashes and control bytes are escaped. */
static void check_json_escape(void) {
    const char *labels[] = {"O", "B-a\"b\\c\x01"};
    sl_labelset ls;
    sl_error err;
    CHECK(sl_labelset_init(&ls, labels, 2, &err) == SL_OK, "%s", err.message);
    sl_metrics m;
    CHECK(sl_metrics_init(&m, &ls, &err) == SL_OK, "%s", err.message);
    int g[1] = {1};
    CHECK(sl_metrics_add(&m, g, g, 1, &err) == SL_OK, "%s", err.message);
    char json[512];
    sl_metrics_json(&m, json, sizeof json);
    CHECK(strstr(json, "\"a\\\"b\\\\c\\u0001\": {") != NULL, "escaped: %s", json);
    sl_metrics_free(&m);
    sl_labelset_free(&ls);
}

int main(void) {
    check_fixture();
    check_chunks();
    check_table();
    check_json_escape();
    return check_report("test_metrics");
}
