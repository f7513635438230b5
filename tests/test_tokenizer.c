/* The SentencePiece tokenizer against SentencePiece itself (tests/fixtures/tokenizer_sample.tsv, written by
   tools/reference/tokenizer_fixtures.py), plus span properties, invalid UTF-8, and malformed model files:
   every cut of the first KBs of the real model, a sample of later cuts, corrupted charsmaps, files that
   are not SentencePiece models, and small hand-built models (unsupported types, user-defined pieces). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fileio.h"
#include "tokenizer.h"

#define MODEL_PATH SL_SHARED_DATA "/camembert-base-tokenizer/sentencepiece.bpe.model"
#define FIXTURE SL_SOURCE_DIR "/tests/fixtures/tokenizer_sample.tsv"

/* ---- helpers ------------------------------------------------------------------------------------------- */

/* Undoes the fixture's escapes in place (\\ \t \n \r \0); returns the length. */
static size_t unescape(char *s) {
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '\\' || !s[i + 1]) {
            s[j++] = s[i];
            continue;
        }
        char c = s[++i];
        s[j++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '0' ? '\0' : c;
    }
    return j;
}

/* Parses "a b c" (ints) or "a:b c:d" (pairs) into out; returns the count, -1 if more than max. */
static int parse_ints(const char *s, int32_t *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        if (n >= max) return -1;
        out[n++] = (int32_t)v;
        s = end;
        while (*s == ' ' || *s == ':') s++;
    }
    return n;
}

static const char *piece_of(const sl_tokenizer *t, int32_t id) {
    return sl_tokenizer_piece(t, id, NULL);
}

/* ---- the real model ------------------------------------------------------------------------------------ */

static void test_vocab(const sl_vocab *v, const sl_tokenizer *t) {
    CHECK(v->n_tokens == 32005, "n_tokens %d", v->n_tokens);
    CHECK(v->unk_id == 3 && v->bos_id == 5 && v->eos_id == 6 && v->pad_id == 1 && v->mask_id == 32004,
          "ids unk %d bos %d eos %d pad %d mask %d", v->unk_id, v->bos_id, v->eos_id, v->pad_id, v->mask_id);
    CHECK(v->add_dummy_prefix && v->remove_extra_whitespaces && v->escape_whitespaces, "normaliser flags");
    CHECK(v->charsmap_len == 237539, "charsmap %zu bytes", v->charsmap_len);
    const char *want[] = {"<s>NOTUSED",
                          "<pad>",
                          "</s>NOTUSED",
                          "<unk>",
                          "<unk>",
                          "<s>",
                          "</s>",
                          ",",
                          "\xe2\x96\x81"
                          "de"};
    for (int i = 0; i < 9; i++)
        CHECK(!strcmp(piece_of(t, i), want[i]), "piece %d is '%s', want '%s'", i, piece_of(t, i), want[i]);
    CHECK(!strcmp(piece_of(t, 32004), "<mask>"), "piece 32004 '%s'", piece_of(t, 32004));
    CHECK(!strcmp(piece_of(t, 32003), "\xe2\x96\x81"
                                      "Administratif"),
          "piece 32003 '%s'", piece_of(t, 32003));
    CHECK(v->types[3] == SL_TOK_UNKNOWN && v->types[5] == SL_TOK_CONTROL && v->types[7] == SL_TOK_NORMAL &&
              v->types[32004] == SL_TOK_CONTROL,
          "types");
    CHECK(sl_tokenizer_piece(t, 32005, NULL) == NULL && sl_tokenizer_piece(t, -1, NULL) == NULL,
          "out of range");
    CHECK(sl_tokenizer_n_tokens(t) == 32005, "n_tokens");
}

/* Span invariants, and text[start:end] == the piece for plain ASCII tokens. Returns the failures. */
static int check_spans(const sl_tokenizer *t, const char *text, size_t len, const sl_tokens *tk) {
    int bad = 0;
    for (int i = 0; i < tk->n; i++) {
        int32_t s = tk->start[i], e = tk->end[i];
        bad += s < 0 || s > e || (size_t)e > len;
        if (i) bad += s < tk->start[i - 1] || e < tk->end[i - 1];
        bool plain = s < e;
        for (int32_t k = s; k < e && plain; k++) plain = text[k] > 0x20 && text[k] < 0x7f;
        if (plain && tk->ids[i] != 3) {
            size_t n;
            const char *p = sl_tokenizer_piece(t, tk->ids[i], &n);
            if (n >= 3 && !memcmp(p, "\xe2\x96\x81", 3)) p += 3, n -= 3;
            bad += n != (size_t)(e - s) || memcmp(p, text + s, n);
        }
    }
    if (tk->n) bad += tk->word_start[0] != 1;
    return bad;
}

static void test_fixture(const sl_tokenizer *t) {
    uint8_t *data;
    size_t size;
    sl_error err;
    if (sl_read_file(FIXTURE, &data, &size, &err)) {
        CHECK(0, "%s", err.message);
        return;
    }
    enum { MAX_IDS = 8192 };
    static int32_t ids[MAX_IDS], spans[2 * MAX_IDS];
    sl_tokens tk = {0};
    int rows = 0, bad_ids = 0, bad_spans = 0, bad_props = 0;
    size_t bytes = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2) {
            CHECK(0, "fixture row %d has no 3 columns", rows + 1);
            continue;
        }
        *tab1 = *tab2 = 0;
        size_t len = unescape(line);
        int n_ids = parse_ints(tab1 + 1, ids, MAX_IDS), n_spans = parse_ints(tab2 + 1, spans, 2 * MAX_IDS);
        rows++;
        bytes += len;
        sl_status s = sl_tokenize(t, line, len, &tk, &err);
        CHECK(s == SL_OK, "row %d: %s", rows, err.message);
        if (s) continue;
        bool ok_ids = n_ids == tk.n, ok_spans = n_spans == 2 * tk.n;
        for (int i = 0; ok_ids && i < tk.n; i++) ok_ids = tk.ids[i] == ids[i];
        for (int i = 0; ok_spans && i < tk.n; i++)
            ok_spans = tk.start[i] == spans[2 * i] && tk.end[i] == spans[2 * i + 1];
        if ((!ok_ids || !ok_spans) && bad_ids + bad_spans < 5) {
            fprintf(stderr, "row %d '%.*s': got", rows, (int)(len > 80 ? 80 : len), line);
            for (int i = 0; i < tk.n; i++) fprintf(stderr, " %d[%d:%d]", tk.ids[i], tk.start[i], tk.end[i]);
            fprintf(stderr, "\n");
        }
        bad_ids += !ok_ids;
        bad_spans += !ok_spans;
        bad_props += check_spans(t, line, len, &tk) != 0;
    }
    CHECK(rows >= 2000, "only %d fixture rows", rows);
    CHECK(bad_ids == 0, "%d of %d rows have other ids than SentencePiece", bad_ids, rows);
    CHECK(bad_spans == 0, "%d of %d rows have other spans than SentencePiece", bad_spans, rows);
    CHECK(bad_props == 0, "%d of %d rows break a span invariant", bad_props, rows);
    printf("fixture: %d rows, %zu bytes, %d id / %d span mismatches\n", rows, bytes, bad_ids, bad_spans);
    sl_tokens_free(&tk);
    free(data);
}

static void test_known(const sl_tokenizer *t) {
    sl_tokens tk = {0};
    sl_error err;
    const char *text = "Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.";
    const int32_t ids[] = {24444, 5913, 824, 236, 7, 938, 8, 13, 1746, 7, 33, 1736, 1052, 15, 2289, 5868, 9};
    const char *words[] = {"Gérald", "Dar", "man",   "in",     ",", "ministre", "de",      "la", "justice",
                           ",",      "a",   "rendu", "visite", "à", "Nicolas",  "Sarkozy", "."};
    const uint8_t ws[] = {1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(sl_tokenize(t, text, strlen(text), &tk, &err) == SL_OK, "%s", err.message);
    CHECK(tk.n == 17, "%d tokens", tk.n);
    for (int i = 0; i < tk.n && i < 17; i++) {
        CHECK(tk.ids[i] == ids[i], "token %d id %d, want %d", i, tk.ids[i], ids[i]);
        int n = tk.end[i] - tk.start[i];
        CHECK(n == (int)strlen(words[i]) && !memcmp(text + tk.start[i], words[i], (size_t)n),
              "token %d spans '%.*s', want '%s'", i, n, text + tk.start[i], words[i]);
        CHECK(tk.word_start[i] == ws[i], "token %d word_start %d", i, tk.word_start[i]);
    }

    /* Leading whitespace is outside the span; a lone U+2581 token has an empty span before what follows. */
    const char *cjk = "  \xe4\xbd\xa0\xe5\xa5\xbd  a \xe4\xbd\xa0"; /* "  你好  a 你" */
    CHECK(sl_tokenize(t, cjk, strlen(cjk), &tk, &err) == SL_OK, "%s", err.message);
    const int32_t want[][3] = {{21, 2, 2}, {3, 2, 8}, {33, 10, 11}, {21, 12, 12}, {3, 12, 15}};
    const uint8_t want_ws[] = {1, 0, 1, 1, 0};
    CHECK(tk.n == 5, "%d tokens", tk.n);
    for (int i = 0; i < tk.n && i < 5; i++)
        CHECK(tk.ids[i] == want[i][0] && tk.start[i] == want[i][1] && tk.end[i] == want[i][2] &&
                  tk.word_start[i] == want_ws[i],
              "token %d: %d [%d:%d] ws %d", i, tk.ids[i], tk.start[i], tk.end[i], tk.word_start[i]);

    /* Punctuation splits words: "l'homme" is l | ' | homme. */
    CHECK(sl_tokenize(t, "l'homme", 7, &tk, &err) == SL_OK && tk.n == 3 && tk.word_start[1] == 1 &&
              tk.word_start[2] == 1,
          "l'homme: %d tokens", tk.n);

    /* Empty and blank texts have no token; buffers are reused, n always reset. */
    CHECK(sl_tokenize(t, "", 0, &tk, &err) == SL_OK && tk.n == 0, "empty text: %d tokens", tk.n);
    CHECK(sl_tokenize(t, " \t\xc2\xa0 ", 5, &tk, &err) == SL_OK && tk.n == 0, "blank text: %d tokens", tk.n);
    CHECK(sl_tokenize(t, NULL, 0, &tk, &err) == SL_OK && tk.n == 0, "NULL empty text");
    sl_tokens_free(&tk);
    CHECK(tk.n == 0 && tk.ids == NULL && tk.scratch == NULL, "sl_tokens_free resets");
    sl_tokens_free(&tk);
}

static void test_utf8(const sl_tokenizer *t) {
    static const struct {
        const char *text;
        size_t len, at;
    } cases[] = {
        {"abc\xff"
         "def",
         7, 3},                        /* not a lead byte */
        {"caf\xc3", 4, 3},             /* truncated at the end */
        {"ab\xc3(", 4, 2},             /* bad continuation */
        {"\xc0\xaf", 2, 0},            /* overlong "/" */
        {"x\xe0\x80\xaf", 4, 1},       /* overlong 3-byte */
        {"\xed\xa0\x80", 3, 0},        /* UTF-16 surrogate */
        {"ok \xf4\x90\x80\x80", 7, 3}, /* above U+10FFFF */
        {"\x80", 1, 0},                /* stray continuation byte */
        {"é\xf8", 3, 2},               /* 5-byte lead */
    };
    sl_tokens tk = {0};
    sl_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err.message[0] = 0;
        sl_status s = sl_tokenize(t, cases[i].text, cases[i].len, &tk, &err);
        char want[32];
        snprintf(want, sizeof want, "byte %zu", cases[i].at);
        CHECK(s == SL_ERR_UTF8 && strstr(err.message, want) && tk.n == 0,
              "case %zu: status %d, '%s', want '%s'", i, s, err.message, want);
    }
    sl_tokens_free(&tk);
}

/* ---- malformed model files ----------------------------------------------------------------------------- */

static int parse_status(const uint8_t *data, size_t size, sl_error *err) {
    sl_spm_vocab *v = NULL;
    sl_status s = sl_spm_parse(data, size, "cut.model", &v, err);
    CHECK((s == SL_OK) == (v != NULL), "output set on failure");
    sl_spm_vocab_free(v);
    return s;
}

static void test_truncated(const uint8_t *model, size_t size) {
    sl_error err;
    int bad = 0;
    /* Every cut of the first 4 KB (the first ~400 pieces), then a cut every ~7 KB, then the last bytes. */
    for (size_t cut = 0; cut < size; cut += cut < 4096 ? 1 : cut < size - 64 ? 7001 : 1) {
        uint8_t *copy = malloc(cut ? cut : 1); /* an exact-size copy so ASan sees any overread */
        memcpy(copy, model, cut);
        sl_status s = parse_status(copy, cut, &err);
        if (s != SL_ERR_FORMAT || !strstr(err.message, "cut.model")) {
            if (bad++ < 5) fprintf(stderr, "cut at %zu: status %d: %s\n", cut, s, err.message);
        }
        free(copy);
    }
    CHECK(bad == 0, "%d truncated files did not fail with SL_ERR_FORMAT", bad);
    parse_status(model, 300, &err);
    CHECK(strstr(err.message, "byte"), "message names a byte offset: %s", err.message);
}

static void test_corrupt_charsmap(const uint8_t *model, size_t size) {
    /* The charsmap is the last field: normalizer_spec at 573355, its blob a few bytes later. Corrupt one
       trie unit at a time; parsing either fails with SL_ERR_FORMAT or yields a tokenizer that works. */
    const size_t trie_at = 573355 + 20;
    uint8_t *copy = malloc(size);
    sl_error err;
    sl_tokens tk = {0};
    int ok = 0, failed = 0, other = 0;
    const char *text = "Ça coûte 12\xc2\xa0€ — ﬁn d’été, Œdipe ｐａｒｉｓ.";
    for (int i = 0; i < 48; i++) {
        memcpy(copy, model, size);
        size_t at = trie_at + (size_t)i * 1201;
        copy[at] ^= (uint8_t)(0x5a + i);
        copy[at + 1] ^= 0xff;
        sl_spm_vocab *v = NULL;
        sl_status s = sl_spm_parse(copy, size, "corrupt.model", &v, &err);
        if (s == SL_OK) {
            sl_tokenizer *t = NULL;
            if (sl_tokenizer_create(sl_spm_vocab_get(v), &t, &err) == SL_OK &&
                sl_tokenize(t, text, strlen(text), &tk, &err) == SL_OK)
                ok++;
            else
                other++;
            sl_tokenizer_free(t);
        } else {
            failed += s == SL_ERR_FORMAT;
            other += s != SL_ERR_FORMAT;
        }
        sl_spm_vocab_free(v);
    }
    CHECK(other == 0, "%d corrupt charsmaps gave another outcome (ok %d, format errors %d)", other, ok,
          failed);
    /* A trie size larger than the blob. */
    memcpy(copy, model, size);
    size_t blob = 0;
    for (size_t i = 573355; i + 4 < size && !blob; i++)
        if (copy[i] == 0x12 && i > 573355 + 2) blob = i; /* field 2, wire type 2: the charsmap */
    CHECK(blob > 0, "charsmap field not found");
    if (blob) {
        size_t p = blob + 1;
        while (copy[p] & 0x80) p++; /* skip its length varint */
        p++;
        copy[p + 3] = 0x7f; /* the trie's byte size, little endian: now ~2 GB */
        CHECK(parse_status(copy, size, &err) == SL_ERR_FORMAT && strstr(err.message, "charsmap"), "%s",
              err.message);
    }
    sl_tokens_free(&tk);
    free(copy);
}

static void test_not_a_model(void) {
    sl_error err;
    uint8_t *data;
    size_t size;
    const char *files[] = {SL_SHARED_DATA "/camembert-base-tokenizer/PROVENANCE.md",
                           SL_SHARED_DATA "/camembert-base-tokenizer/tokenizer_config.json", FIXTURE};
    for (int i = 0; i < 3; i++) {
        if (sl_read_file(files[i], &data, &size, &err)) {
            CHECK(0, "%s", err.message);
            continue;
        }
        CHECK(parse_status(data, size, &err) == SL_ERR_FORMAT, "%s: %s", files[i], err.message);
        free(data);
    }
    const uint8_t gguf[] = "GGUF\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    CHECK(parse_status(gguf, sizeof gguf - 1, &err) == SL_ERR_FORMAT, "GGUF bytes: %s", err.message);
    CHECK(parse_status(NULL, 0, &err) == SL_ERR_FORMAT, "empty file: %s", err.message);
    uint8_t noise[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof noise; i++)
            noise[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
        CHECK(parse_status(noise, sizeof noise, &err) == SL_ERR_FORMAT, "noise %d: %s", round, err.message);
    }
}

/* ---- hand-built models --------------------------------------------------------------------------------- */

typedef struct {
    uint8_t b[1024];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v) {
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}
static void pb_bytes(pb *p, int field, const void *data, size_t n) {
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}
static void pb_piece(pb *p, const char *piece, float score, int type) {
    pb m = {.n = 0};
    pb_bytes(&m, 1, piece, strlen(piece));
    m.b[m.n++] = 2 << 3 | 5;
    memcpy(m.b + m.n, &score, 4);
    m.n += 4;
    if (type != SL_TOK_NORMAL) {
        pb_varint(&m, 3 << 3);
        pb_varint(&m, (uint64_t)type);
    }
    pb_bytes(p, 1, m.b, m.n);
}

/* pieces <unk> <s> </s> ▁a a <ent> ▁ b, a trainer_spec with model_type, an identity normaliser. */
static pb small_model(int model_type, int ent_type, bool duplicate) {
    pb p = {.n = 0}, t = {.n = 0}, nz = {.n = 0};
    pb_piece(&p, "<unk>", 0, SL_TOK_UNKNOWN);
    pb_piece(&p, "<s>", 0, SL_TOK_CONTROL);
    pb_piece(&p, "</s>", 0, SL_TOK_CONTROL);
    pb_piece(&p,
             "\xe2\x96\x81"
             "a",
             -1, SL_TOK_NORMAL);
    pb_piece(&p,
             duplicate ? "\xe2\x96\x81"
                         "a"
                       : "a",
             -2, SL_TOK_NORMAL);
    pb_piece(&p, "<ent>", 0, ent_type);
    pb_piece(&p, "\xe2\x96\x81", -3, SL_TOK_NORMAL);
    pb_piece(&p, "b", -2, SL_TOK_NORMAL);
    pb_varint(&t, 3 << 3);
    pb_varint(&t, (uint64_t)model_type);
    pb_bytes(&nz, 1, "identity", 8);
    pb_bytes(&p, 2, t.b, t.n);
    pb_bytes(&p, 3, nz.b, nz.n);
    return p;
}

static void test_small_models(void) {
    sl_error err;
    sl_spm_vocab *v = NULL;
    pb bpe = small_model(2, SL_TOK_USER_DEFINED, false);
    CHECK(sl_spm_parse(bpe.b, bpe.n, "bpe.model", &v, &err) == SL_ERR_UNSUPPORTED &&
              strstr(err.message, "BPE"),
          "%s", err.message);
    pb dup = small_model(1, SL_TOK_USER_DEFINED, true);
    CHECK(sl_spm_parse(dup.b, dup.n, "dup.model", &v, &err) == SL_ERR_FORMAT, "duplicate piece: %s",
          err.message);

    /* User-defined "<ent>" is one token; as a control piece it is never produced: its characters are
       unknown. Ids are SentencePiece's (checked with python3-sentencepiece) + 4. */
    struct {
        int type;
        const char *text;
        int n;
        int32_t ids[8], spans[16];
    } cases[] = {
        {SL_TOK_USER_DEFINED, "a<ent>b  a", 4, {7, 9, 11, 7}, {0, 1, 1, 6, 6, 7, 9, 10}},
        {SL_TOK_CONTROL, "a<ent>b", 3, {7, 3, 11}, {0, 1, 1, 6, 6, 7}},
    };
    sl_tokens tk = {0};
    for (int c = 0; c < 2; c++) {
        pb m = small_model(1, cases[c].type, false);
        sl_tokenizer *t = NULL;
        sl_status s = sl_spm_parse(m.b, m.n, "small.model", &v, &err);
        CHECK(s == SL_OK, "small model %d: %s", c, err.message);
        if (s) continue;
        CHECK(sl_spm_vocab_get(v)->n_tokens == 13 && sl_spm_vocab_get(v)->charsmap_len == 0, "small vocab");
        CHECK(sl_tokenizer_create(sl_spm_vocab_get(v), &t, &err) == SL_OK, "%s", err.message);
        CHECK(sl_tokenize(t, cases[c].text, strlen(cases[c].text), &tk, &err) == SL_OK, "%s", err.message);
        bool same = tk.n == cases[c].n;
        for (int i = 0; same && i < tk.n; i++)
            same = tk.ids[i] == cases[c].ids[i] && tk.start[i] == cases[c].spans[2 * i] &&
                   tk.end[i] == cases[c].spans[2 * i + 1];
        CHECK(same, "small model %d: %d tokens, first %d [%d:%d]", c, tk.n, tk.n ? tk.ids[0] : -1,
              tk.n ? tk.start[0] : -1, tk.n ? tk.end[0] : -1);
        sl_tokenizer_free(t);
        sl_spm_vocab_free(v);
    }
    sl_tokens_free(&tk);
}

/* ---- speed --------------------------------------------------------------------------------------------- */

static void bench(const sl_tokenizer *t) {
    const char *text = "Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy. « Il est "
                       "arrivé à l’Élysée vers 9\xc2\xa0h », selon l’AFP. ";
    size_t len = strlen(text);
    sl_tokens tk = {0};
    sl_error err;
    long tokens = 0;
    clock_t c0 = clock();
    int reps = 20000;
    for (int i = 0; i < reps; i++) {
        sl_tokenize(t, text, len, &tk, &err);
        tokens += tk.n;
    }
    double dt = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("speed: %.1f MB/s, %.2f M tokens/s (one thread, %d x %zu bytes)\n", (double)reps * len / dt / 1e6,
           tokens / dt / 1e6, reps, len);
    sl_tokens_free(&tk);
}

int main(void) {
    uint8_t *model;
    size_t size;
    sl_error err;
    if (sl_read_file(MODEL_PATH, &model, &size, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sl_spm_vocab *vocab = NULL;
    sl_tokenizer *t = NULL;
    CHECK(sl_spm_parse(model, size, "sentencepiece.bpe.model", &vocab, &err) == SL_OK, "%s", err.message);
    CHECK(vocab && sl_tokenizer_create(sl_spm_vocab_get(vocab), &t, &err) == SL_OK, "%s", err.message);
    if (!t) return check_report("test_tokenizer");
    test_vocab(sl_spm_vocab_get(vocab), t);
    test_fixture(t);
    test_known(t);
    test_utf8(t);
    test_truncated(model, size);
    test_corrupt_charsmap(model, size);
    test_not_a_model();
    test_small_models();
    bench(t);
    sl_tokenizer_free(t);
    sl_spm_vocab_free(vocab);
    free(model);
    return check_report("test_tokenizer");
}
