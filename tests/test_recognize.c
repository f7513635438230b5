/* End to end on the tiny fixture model: entity spans are exact byte offsets into the original text (with
   accents in NFC and NFD, emoji, NBSP, tabs, runs of spaces), long texts are windowed, results do not depend
   on the thread count. The tiny model's weights are random, so this checks the plumbing and the offsets,
   not the labels (the labels' semantics are tests/test_ner.c's job). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "convert.h"
#include "model.h"

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

int main(void) {
    sl_error err;
    uint8_t *gguf;
    size_t size;
    sl_model *m;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &gguf, &size, &err) != SL_OK ||
        sl_model_load_memory(gguf, size, "tiny", &m, &err) != SL_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return 1;
    }
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
    free(big);
    sl_model_free(m);
    free(gguf);
    return check_report("test_recognize");
}
