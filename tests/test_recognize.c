/* End to end on the tiny fixture model: entity spans are exact byte offsets into the original text (with
   accents in NFC and NFD, emoji, NBSP, tabs, runs of spaces), long texts are windowed, results do not depend
   on the thread count, one model serves two threads with a context each. The tiny model's weights are
   random, so this checks the plumbing and the offsets, not the labels (the labels' semantics are
   tests/test_ner.c's job). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "tiny_model.h"

static int is_space_at(const char *s, size_t i) {
    unsigned char c = (unsigned char)s[i];
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           (c == 0xC2 && (unsigned char)s[i + 1] == 0xA0) ||                                  /* NBSP */
           (c == 0xE2 && (unsigned char)s[i + 1] == 0x80 && (unsigned char)s[i + 2] == 0xAF); /* NNBSP */
}

static int is_continuation(const char *s, size_t i) {
    return ((unsigned char)s[i] & 0xC0) == 0x80;
}

static void check_spans(const char *what, const char *text, size_t len, const sl_entities *e, size_t from) {
    size_t prev_end = 0;
    for (size_t i = from; i < e->n; i++) {
        const sl_entity *x = &e->items[i];
        CHECK(x->start < x->end && x->end <= len, "%s: entity %zu span [%zu, %zu) out of [0, %zu]", what, i,
              x->start, x->end, len);
        if (!(x->start < x->end && x->end <= len)) return;
        CHECK(x->start >= prev_end, "%s: entity %zu starts at %zu before the previous end %zu", what, i,
              x->start, prev_end);
        CHECK(!is_continuation(text, x->start) && (x->end == len || !is_continuation(text, x->end)),
              "%s: entity %zu [%zu, %zu) cuts a UTF-8 character", what, i, x->start, x->end);
        CHECK(!is_space_at(text, x->start), "%s: entity %zu starts with white space", what, i);
        CHECK(x->score >= 0 && x->score <= 1, "%s: entity %zu score %g", what, i, x->score);
        prev_end = x->end;
    }
}

static int same_entities(const sl_entities *a, const sl_entities *b) {
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++) /* scores to the last bits of OpenBLAS's sums by thread count */
        if (a->items[i].start != b->items[i].start || a->items[i].end != b->items[i].end ||
            strcmp(a->items[i].label, b->items[i].label) ||
            fabsf(a->items[i].score - b->items[i].score) > 1e-5f)
            return 0;
    return 1;
}

/* One model shared by threads: each recognises with a context of its own, texts of different lengths in
   turn (so the contexts grow their buffers while the other runs), and must find what one thread alone
   found. Before contexts, sl_recognize wrote its activations inside the model. */
enum { SHARED_TEXTS = 3, SHARED_ROUNDS = 6 };
typedef struct {
    const sl_model *model;
    const char *texts[SHARED_TEXTS];
    const sl_entities *want; /* SHARED_TEXTS entries */
    int n_threads, first;    /* its pool's size; the text it starts with */
    int mismatches;
    sl_status status;
    sl_error err;
} shared_worker;

static void *shared_run(void *arg) {
    shared_worker *w = arg;
    sl_context *ctx = NULL;
    if ((w->status = sl_context_create(w->model, &ctx, &w->err)) != SL_OK) return NULL;
    sl_options o = sl_default_options();
    o.aggregation = SL_AGG_NONE;
    o.max_tokens = 64; /* several windows for the long text */
    o.n_threads = w->n_threads;
    for (int r = 0; r < SHARED_ROUNDS && w->status == SL_OK; r++) {
        const int t = (w->first + r) % SHARED_TEXTS;
        sl_entities e = {0};
        w->status = sl_context_recognize(ctx, w->texts[t], strlen(w->texts[t]), &o, &e, &w->err);
        w->mismatches += w->status == SL_OK && !same_entities(&e, &w->want[t]);
        sl_entities_free(&e);
    }
    sl_context_free(ctx);
    return NULL;
}

static void test_shared_model(const sl_model *m, const char *long_text) {
    shared_worker w[2] = {
        {.model = m,
         .texts = {"Gérald Darmanin a rendu visite à Nicolas Sarkozy.", long_text, "Léa est née à Saint-Étienne."}}};
    sl_entities want[SHARED_TEXTS] = {{0}};
    sl_context *alone = NULL;
    sl_error err;
    CHECK(sl_context_create(NULL, &alone, &err) == SL_ERR_ARGUMENT && !alone, "context of no model");
    CHECK(sl_context_recognize(NULL, "Paris", 5, NULL, want, NULL) == SL_ERR_ARGUMENT,
          "recognize(NULL context)");
    if (sl_context_create(m, &alone, &err) != SL_OK) {
        CHECK(0, "context: %s", err.message);
        return;
    }
    sl_options o = sl_default_options();
    o.aggregation = SL_AGG_NONE;
    o.max_tokens = 64;
    for (int t = 0; t < SHARED_TEXTS; t++)
        CHECK(sl_context_recognize(alone, w[0].texts[t], strlen(w[0].texts[t]), &o, &want[t], &err) == SL_OK,
              "text %d alone: %s", t, err.message);
    sl_context_free(alone);
    w[1] = w[0];
    w[0].want = w[1].want = want;
    w[0].n_threads = 1, w[1].n_threads = 2; /* one context with a pool of its own */
    w[0].first = 0, w[1].first = 1;
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, shared_run, &w[i]) == 0, "thread %d", i);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].status == SL_OK, "thread %d: %s", i, w[i].err.message);
        CHECK(w[i].mismatches == 0, "thread %d: %d of %d results differ from one thread's", i,
              w[i].mismatches, SHARED_ROUNDS);
    }
    for (int t = 0; t < SHARED_TEXTS; t++) sl_entities_free(&want[t]);
}

/* The entity types of the model, then the rule recogniser's; entities as JSON (surligne.h). */
static void check_types_and_json(const sl_model *m) {
    const char *want[] = {"PER", "ORG", "LOC", "DATE", "TIME", "MONEY", "PERCENT"};
    CHECK(sl_model_n_types(m) == 7, "%d types", sl_model_n_types(m));
    for (int i = 0; i < 7; i++)
        CHECK(sl_model_type(m, i) && !strcmp(sl_model_type(m, i), want[i]), "type %d: %s", i,
              sl_model_type(m, i));
    CHECK(!sl_model_type(m, 7) && !sl_model_type(m, -1) && !sl_model_type(NULL, 0) &&
              sl_model_n_types(NULL) == 0,
          "types out of range");

    const char *text = "à \"Paris\"\t!";
    sl_entity e = {.label = "B-\"LOC\"\n", .score = 0.1f, .start = 3, .end = 10};
    snprintf(e.value, sizeof e.value, "x\\y");
    const char *json = "{\"label\":\"B-\\\"LOC\\\"\\n\",\"score\":0.100000001,\"text\":\"\\\"Paris\\\"\","
                       "\"start\":3,\"end\":10,\"value\":\"x\\\\y\"}";
    char buf[256];
    size_t n = sl_entity_json(&e, text, buf, sizeof buf);
    CHECK(n == strlen(json) && !strcmp(buf, json), "%zu: %s", n, buf);
    for (size_t cap = 0; cap <= n + 1; cap++) { /* cut anywhere: the same length, 0-terminated within cap */
        memset(buf, 'x', sizeof buf);
        CHECK(sl_entity_json(&e, text, cap ? buf : NULL, cap) == n, "cap %zu", cap);
        if (cap)
            CHECK(strlen(buf) == (cap <= n ? cap - 1 : n) && !strncmp(buf, json, strlen(buf)), "cap %zu",
                  cap);
    }
    e.value[0] = 0;
    sl_entity_json(&e, NULL, buf, sizeof buf);
    CHECK(!strcmp(buf, "{\"label\":\"B-\\\"LOC\\\"\\n\",\"score\":0.100000001,\"start\":3,\"end\":10}"), "%s",
          buf);
    CHECK(sl_entity_json(NULL, text, buf, sizeof buf) == 0 && buf[0] == 0, "NULL entity");
}

int main(void) {
    sl_error err;
    tiny_model tiny;
    if (!tiny_model_load(&tiny, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return 1;
    }
    sl_model *m = tiny.model;
    check_types_and_json(m);
    const char *texts[] = {
        "Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.",
        "Ge\xCC\x81rald Darmanin (NFD) a\tvu   Emmanuel\xC2\xA0Macron \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 à "
        "Paris\xE2\x80\xAF!",
        "  \t Léa 😀😀 est née à Saint-Étienne, « chez » l’oncle ﬁnancier de Ｌｙｏｎ.\n\nFin ",
        "",
        "   ",
    };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        for (int agg = SL_AGG_NONE; agg <= SL_AGG_MAX; agg++) {
            sl_options o = sl_default_options();
            o.aggregation = (sl_aggregation)agg;
            sl_entities e = {0};
            sl_status s = sl_recognize(m, texts[t], strlen(texts[t]), &o, &e, &err);
            char what[64];
            snprintf(what, sizeof what, "text %zu aggregation %d", t, agg);
            CHECK(s == SL_OK, "%s: %s", what, err.message);
            check_spans(what, texts[t], strlen(texts[t]), &e, 0);
            /* punctuation is trimmed from the edges by default */
            for (size_t i = 0; i < e.n; i++) {
                char first = texts[t][e.items[i].start], last = texts[t][e.items[i].end - 1];
                CHECK(!strchr(",.;:!?()", first) && !strchr(",.;:!?()", last), "%s: entity %zu [%zu, %zu) has "
                      "punctuation at an edge", what, i, e.items[i].start, e.items[i].end);
            }
            /* a word-level aggregation never splits a word made of letters */
            if (agg >= SL_AGG_FIRST)
                for (size_t i = 0; i < e.n; i++) {
                    unsigned char before =
                        e.items[i].start ? (unsigned char)texts[t][e.items[i].start - 1] : ' ';
                    unsigned char first = (unsigned char)texts[t][e.items[i].start] | 0x20;
                    CHECK(!(before >= 'a' && before <= 'z' && first >= 'a' && first <= 'z'),
                          "%s: entity %zu starts inside a word", what, i);
                }
            sl_entities_free(&e);
        }
    }

    /* a long text: several windows; entities reach the end; 1 and 2 threads agree exactly */
    const char *sentence = "Le président Emmanuel Macron a reçu à l'Élysée la chancelière Angela Merkel. ";
    size_t sl = strlen(sentence), reps = 120, len = sl * reps;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < reps; i++) memcpy(big + i * sl, sentence, sl);
    big[len] = 0;
    sl_entities e1 = {0}, e2 = {0}, e3 = {0};
    sl_options o = sl_default_options();
    o.aggregation = SL_AGG_NONE;
    CHECK(sl_recognize(m, big, len, &o, &e1, &err) == SL_OK, "long text: %s", err.message);
    o.n_threads = 2;
    CHECK(sl_recognize(m, big, len, &o, &e2, &err) == SL_OK, "long text, 2 threads: %s", err.message);
    check_spans("long text", big, len, &e1, 0);
    CHECK(e1.n == e2.n, "1 thread: %zu entities, 2 threads: %zu", e1.n, e2.n);
    /* the same entities; scores may differ in the last bits (OpenBLAS blocks sums by thread count) */
    int same = e1.n == e2.n;
    for (size_t i = 0; same && i < e1.n; i++)
        same = e1.items[i].start == e2.items[i].start && e1.items[i].end == e2.items[i].end &&
               fabsf(e1.items[i].score - e2.items[i].score) <= 1e-5f && !strcmp(e1.items[i].label, e2.items[i].label);
    CHECK(same, "1 and 2 threads give different entities");
    CHECK(e1.n > 0 && e1.items[e1.n - 1].start > len - sl,
          "no entity in the last sentence of a long text (%zu)", e1.n);
    /* small windows with overlap: the same spans as token boundaries, and still in order */
    o.max_tokens = 24;
    o.stride = 6;
    CHECK(sl_recognize(m, big, len, &o, &e3, &err) == SL_OK, "small windows: %s", err.message);
    check_spans("small windows", big, len, &e3, 0);
    /* every entity of aggregation none is a token: its span is one of the tokens' spans */
    sl_tokens tk = {0};
    CHECK(sl_tokenize(sl_model_tokenizer(m), big, len, &tk, &err) == SL_OK, "tokenize: %s", err.message);
    size_t j = 0, matched = 0;
    for (size_t i = 0; i < e3.n; i++) {
        while (j < (size_t)tk.n && (size_t)tk.start[j] < e3.items[i].start) j++;
        matched += j < (size_t)tk.n && (size_t)tk.start[j] == e3.items[i].start &&
                   (size_t)tk.end[j] == e3.items[i].end;
    }
    CHECK(matched == e3.n, "%zu of %zu token entities match a token span", matched, e3.n);
    sl_tokens_free(&tk);
    sl_entities_free(&e1);
    sl_entities_free(&e2);
    sl_entities_free(&e3);
    big[sl * 12] = 0; /* 12 sentences: 2-3 windows of 64 tokens */
    test_shared_model(m, big);
    free(big);
    tiny_model_free(&tiny);
    return check_report("test_recognize");
}
