/* engine/conll.c: every French data set in SL_SHARED_DATA loads with the counts its PROVENANCE.md states;
   IOB1 and BIOES become IOB2; a model's label set encodes the data in its scheme; each kind of bad input
   is an error naming file:line; and no prefix of a valid file crashes the reader. */
#include "conll.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert.h"
#include "fileio.h"

#ifndef SL_SHARED_DATA
#define SL_SHARED_DATA "../shared/data"
#endif

/* ---- the shared data sets ------------------------------------------------------------------- */

typedef struct {
    const char *type;
    long count;
} type_count;

typedef struct {
    const char *path; /* under SL_SHARED_DATA */
    int sentences, words;
    type_count entities[4];
} data_set;

/* From the PROVENANCE.md files. Europeana has no B-: its entities are maximal runs of one I-X type, which
   is what the IOB1 -> IOB2 reading makes of them. WikiNEuRal's 61 entities opening with I- count as
   entities, as there. */
/* clang-format off */
static const data_set data_sets[] = {
    {"wikiann-fr/train.conll",                   20000, 136788, {{"PER", 8965}, {"ORG", 7764}, {"LOC", 9718}}},
    {"wikiann-fr/dev.conll",                     10000,  68220, {{"PER", 4406}, {"ORG", 3910}, {"LOC", 4840}}},
    {"europeana-fr-icdar/train.txt",              7936, 163997, {{"PER", 3749}, {"ORG", 1096}, {"LOC", 3244}}},
    {"europeana-fr-icdar/dev.txt",                 992,  21837, {{"PER", 404}, {"ORG", 127}, {"LOC", 353}}},
    {"7-romans-fr/BelAmi.conll",                  3684, 138686, {{"PER", 1868}, {"LOC", 442}, {"ORG", 48}, {"MISC", 57}}},
    {"7-romans-fr/EugénieGrandet.conll",          1164,  80902, {{"PER", 1820}, {"LOC", 310}, {"ORG", 22}, {"MISC", 61}}},
    {"7-romans-fr/Germinal.conll",                3181, 220720, {{"PER", 3474}, {"LOC", 874}, {"ORG", 201}, {"MISC", 40}}},
    {"7-romans-fr/LeRougeEtLeNoir.conll",         3478, 216704, {{"PER", 5010}, {"LOC", 959}, {"ORG", 55}, {"MISC", 98}}},
    {"7-romans-fr/LesTroisMousquetaires.conll",   8588, 294572, {{"PER", 8994}, {"LOC", 1111}, {"ORG", 50}, {"MISC", 278}}},
    {"7-romans-fr/MadameBovary.conll",            2995, 149137, {{"PER", 2152}, {"LOC", 497}, {"ORG", 16}, {"MISC", 74}}},
    {"7-romans-fr/NotreDameDeParis.conll",        3695, 221290, {{"PER", 4083}, {"LOC", 1749}, {"ORG", 26}, {"MISC", 109}}},
    {"wikineural-fr/val.conllu",                 12600, 317324, {{"PER", 7349}, {"ORG", 2723}, {"LOC", 9594}, {"MISC", 2972}}},
};
/* clang-format on */

static int type_named(const sl_labelset *ls, const char *name) {
    for (int t = 0; t < ls->n_types; t++)
        if (strcmp(ls->types[t], name) == 0) return t;
    return -1;
}

/* The stored arrays agree with each other: sentences tile the words, tags are label ids, lines grow. */
static int consistent(const sl_conll *c) {
    if (c->sentence_start[0] != 0 || c->sentence_start[c->n_sentences] != c->n_words) return 0;
    for (int s = 0; s < c->n_sentences; s++)
        if (c->sentence_start[s + 1] <= c->sentence_start[s]) return 0;
    for (int w = 0; w < c->n_words; w++) {
        if (c->tags[w] < 0 || c->tags[w] >= c->labels.n_labels || !c->words[w]) return 0;
        if (w > 0 && c->lines[w] <= c->lines[w - 1]) return 0;
    }
    return 1;
}

static void check_counts(const sl_conll *c, const data_set *d) {
    CHECK(c->n_sentences == d->sentences, "%s: %d sentences, PROVENANCE says %d", d->path, c->n_sentences,
          d->sentences);
    CHECK(c->n_words == d->words, "%s: %d words, PROVENANCE says %d", d->path, c->n_words, d->words);
    long per_type[16] = {0};
    CHECK(c->labels.n_types <= 16, "%s: %d types", d->path, c->labels.n_types);
    if (c->labels.n_types > 16) return;
    long total = sl_conll_count_entities(c, per_type), expected_total = 0;
    int n_expected = 0;
    for (int k = 0; k < 4 && d->entities[k].type; k++, n_expected++) {
        int t = type_named(&c->labels, d->entities[k].type);
        CHECK(t >= 0, "%s: no type %s", d->path, d->entities[k].type);
        if (t >= 0)
            CHECK(per_type[t] == d->entities[k].count, "%s: %ld %s entities, PROVENANCE says %ld", d->path,
                  per_type[t], d->entities[k].type, d->entities[k].count);
        expected_total += d->entities[k].count;
    }
    CHECK(c->labels.n_types == n_expected, "%s: %d types, expected %d", d->path, c->labels.n_types,
          n_expected);
    CHECK(total == expected_total, "%s: %ld entities, expected %ld", d->path, total, expected_total);
}

static void check_data_sets(void) {
    const char *model_labels[] = {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"};
    sl_labelset model;
    sl_error err;
    CHECK(sl_labelset_init(&model, model_labels, 7, &err) == SL_OK, "%s", err.message);
    for (size_t k = 0; k < sizeof data_sets / sizeof data_sets[0]; k++) {
        const data_set *d = &data_sets[k];
        char path[512];
        snprintf(path, sizeof path, "%s/%s", SL_SHARED_DATA, d->path);
        sl_conll c;
        sl_status st = sl_conll_read(path, NULL, &c, &err);
        CHECK(st == SL_OK, "%s", err.message);
        if (st != SL_OK) continue;
        printf("  ");
        sl_conll_print_counts(&c, stdout);
        CHECK(consistent(&c), "%s: inconsistent arrays", d->path);
        CHECK(strcmp(c.labels.labels[0], "O") == 0, "%s: O first", d->path);
        for (int t = 0; t < c.labels.n_types; t++) /* O, then B-X, I-X per type */
            CHECK(c.labels.tag_of[1 + 2 * t] == 'B' && c.labels.tag_of[2 + 2 * t] == 'I' &&
                      c.labels.type_of[1 + 2 * t] == t && c.labels.type_of[2 + 2 * t] == t,
                  "%s: label order", d->path);
        /* IOB2 after reading: every I- continues an entity of its type */
        int iob2 = 1;
        for (int s = 0; s < c.n_sentences; s++)
            for (int w = c.sentence_start[s]; w < c.sentence_start[s + 1]; w++) {
                int id = c.tags[w];
                if (c.labels.tag_of[id] == 'I' &&
                    (w == c.sentence_start[s] || c.labels.type_of[c.tags[w - 1]] != c.labels.type_of[id]))
                    iob2 = 0;
            }
        CHECK(iob2, "%s: not IOB2 after reading", d->path);
        check_counts(&c, d);
        long misc_tags = 0; /* B-MISC and I-MISC words, which a model without MISC reads as O */
        int misc = type_named(&c.labels, "MISC");
        for (int w = 0; w < c.n_words; w++) misc_tags += misc >= 0 && c.labels.type_of[c.tags[w]] == misc;
        sl_conll_free(&c);

        /* The same through a model's label set without MISC: MISC becomes O when asked, and is an error
           naming its first line otherwise. */
        sl_conll_options opt = {&model, 1};
        st = sl_conll_read(path, &opt, &c, &err);
        CHECK(st == SL_OK, "%s", err.message);
        if (st != SL_OK) continue;
        CHECK(c.labels.n_labels == 7 && strcmp(c.labels.labels[3], "B-ORG") == 0, "%s: the model's labels",
              d->path);
        data_set without_misc = {d->path, d->sentences, d->words, {{0}}};
        for (int k2 = 0, n = 0; k2 < 4 && d->entities[k2].type; k2++)
            if (strcmp(d->entities[k2].type, "MISC") != 0) without_misc.entities[n++] = d->entities[k2];
        check_counts(&c, &without_misc);
        CHECK(c.n_mapped == misc_tags, "%s: %d tags mapped to O, %ld MISC tags", d->path, c.n_mapped,
              misc_tags);
        sl_conll_free(&c);
        if (strstr(d->path, "7-romans") || strstr(d->path, "wikineural")) {
            opt.unknown_to_o = 0;
            st = sl_conll_read(path, &opt, &c, &err);
            CHECK(st == SL_ERR_FORMAT && strstr(err.message, "-MISC' is not among the model's labels (O, "
                                                             "B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC)"),
                  "%s: %s", d->path, err.message);
        }
    }
    sl_labelset_free(&model);
}

/* ---- hand-made inputs ----------------------------------------------------------------------- */

static sl_status parse(const char *text, const sl_conll_options *opt, sl_conll *c, sl_error *err) {
    return sl_conll_parse(text, strlen(text), "x.conll", opt, c, err);
}

/* The tags of all words as label names, space-separated. */
static const char *tag_string(const sl_conll *c) {
    static char buf[1024];
    size_t len = 0;
    buf[0] = 0;
    for (int w = 0; w < c->n_words && len < sizeof buf - 64; w++)
        len +=
            (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", w ? " " : "", c->labels.labels[c->tags[w]]);
    return buf;
}

static void check_conversion(void) {
    sl_conll c;
    sl_error err;
    /* IOB1 (Europeana): I-X after O or another type begins an entity; B-X splits two of the same type */
    CHECK(parse("a I-PER\nb I-PER\nc I-LOC\nd O\ne I-LOC\nf B-LOC\ng I-LOC\n", NULL, &c, &err) == SL_OK, "%s",
          err.message);
    CHECK(strcmp(tag_string(&c), "B-PER I-PER B-LOC O B-LOC B-LOC I-LOC") == 0, "IOB1: %s", tag_string(&c));
    CHECK(c.labels.n_labels == 5 && strcmp(c.labels.labels[1], "B-PER") == 0 &&
              strcmp(c.labels.labels[4], "I-LOC") == 0,
          "labels in order of first appearance");
    sl_conll_free(&c);
    /* BIOES: S -> B, E -> I; an I or E after S or E begins a new entity */
    CHECK(parse("a S-PER\nb B-LOC\nc I-LOC\nd E-LOC\ne I-LOC\nf E-PER\ng O\nh E-PER\ni S-PER\nj I-PER\n",
                NULL, &c, &err) == SL_OK,
          "%s", err.message);
    CHECK(strcmp(tag_string(&c), "B-PER B-LOC I-LOC I-LOC B-LOC B-PER O B-PER B-PER B-PER") == 0, "BIOES: %s",
          tag_string(&c));
    CHECK(sl_conll_count_entities(&c, NULL) == 7, "BIOES entities");
    sl_conll_free(&c);
    /* a sentence ends an entity: I-X first in a sentence begins one */
    CHECK(parse("a I-PER\n\nb I-PER\n", NULL, &c, &err) == SL_OK, "%s", err.message);
    CHECK(c.n_sentences == 2 && strcmp(tag_string(&c), "B-PER B-PER") == 0, "across sentences: %s",
          tag_string(&c));
    sl_conll_free(&c);
}

static void check_layout(void) {
    sl_conll c;
    sl_error err;
    /* BOM, CRLF, -DOCSTART-, runs of blank lines, spaces and tabs, no final newline */
    const char *text =
        "\xEF\xBB\xBF-DOCSTART- O\r\n\r\nLe O\r\nPrésident\t\tO\r\n  Macron   B-PER \r\n\r\n\r\n"
        "-DOCSTART- O\nà O\nParis B-LOC";
    CHECK(parse(text, NULL, &c, &err) == SL_OK, "%s", err.message);
    CHECK(c.n_sentences == 2 && c.n_words == 5, "%d sentences, %d words", c.n_sentences, c.n_words);
    if (c.n_words == 5) {
        CHECK(strcmp(c.words[1], "Président") == 0 && strcmp(c.words[2], "Macron") == 0 &&
                  strcmp(c.words[4], "Paris") == 0,
              "words '%s' '%s' '%s'", c.words[1], c.words[2], c.words[4]);
        CHECK(c.lines[0] == 3 && c.lines[2] == 5 && c.lines[3] == 9 && c.lines[4] == 10, "lines %d %d %d %d",
              c.lines[0], c.lines[2], c.lines[3], c.lines[4]);
        CHECK(strcmp(tag_string(&c), "O O B-PER O B-LOC") == 0, "tags %s", tag_string(&c));
        CHECK(c.sentence_start[1] == 3, "second sentence at word %d", c.sentence_start[1]);
    }
    CHECK(c.n_columns == 2 && c.token_column == 0, "columns");
    CHECK(strcmp(c.name, "x.conll") == 0, "name");
    sl_conll_free(&c);
    /* CoNLL-U-like index token tag (WikiNEuRal) */
    CHECK(parse("0\tLe\tO\n1\tPrésident\tO\n2\tMacron\tB-PER\n\n0\tParis\tB-LOC\n", NULL, &c, &err) == SL_OK,
          "%s", err.message);
    CHECK(c.n_columns == 3 && c.token_column == 1 && c.n_words == 4 && strcmp(c.words[2], "Macron") == 0 &&
              strcmp(tag_string(&c), "O O B-PER B-LOC") == 0,
          "CoNLL-U-like: %s", tag_string(&c));
    sl_conll_free(&c);
    /* CoNLL-2003: token POS chunk tag */
    CHECK(parse("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", NULL, &c, &err) == SL_OK, "%s", err.message);
    CHECK(c.token_column == 0 && strcmp(c.words[0], "EU") == 0 && strcmp(tag_string(&c), "B-ORG O") == 0,
          "CoNLL-2003");
    sl_conll_free(&c);
}

static void check_given_labels(void) {
    sl_error err;
    sl_conll c;
    /* ids are the model's, whatever the data's order of appearance */
    const char *iob2[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
    sl_labelset ls;
    CHECK(sl_labelset_init(&ls, iob2, 5, &err) == SL_OK, "%s", err.message);
    sl_conll_options opt = {&ls, 0};
    CHECK(parse("a I-LOC\nb O\nc B-PER\nd I-PER\n", &opt, &c, &err) == SL_OK, "%s", err.message);
    CHECK(c.n_words == 4 && c.tags[0] == 3 && c.tags[1] == 0 && c.tags[2] == 1 && c.tags[3] == 2,
          "model ids");
    sl_conll_free(&c);
    /* an unknown type: the line and the tag, and the model's labels */
    CHECK(parse("a B-PER\n\nb O\nc B-MISC\nd I-MISC\n", &opt, &c, &err) == SL_ERR_FORMAT, "unknown type");
    CHECK(strcmp(err.message,
                 "x.conll:4: tag 'B-MISC' is not among the model's labels (O, B-PER, I-PER, B-LOC, "
                 "I-LOC)") == 0,
          "%s", err.message);
    CHECK(c.n_words == 0 && c.tags == NULL, "empty after an error");
    opt.unknown_to_o = 1;
    CHECK(parse("a B-PER\n\nb O\nc B-MISC\nd I-MISC\ne B-LOC\n", &opt, &c, &err) == SL_OK, "%s", err.message);
    CHECK(c.n_mapped == 2 && strcmp(tag_string(&c), "B-PER O O O B-LOC") == 0, "mapped: %d, %s", c.n_mapped,
          tag_string(&c));
    sl_conll_free(&c);
    sl_labelset_free(&ls);

    /* a BIOES model: entities written as S, or B I.. E */
    const char *bioes[] = {"O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"};
    CHECK(sl_labelset_init(&ls, bioes, 9, &err) == SL_OK, "%s", err.message);
    opt = (sl_conll_options){&ls, 0};
    CHECK(parse("a B-PER\nb I-PER\nc I-PER\nd O\ne B-LOC\nf B-LOC\ng I-LOC\n\nh I-PER\n", &opt, &c, &err) ==
              SL_OK,
          "%s", err.message);
    CHECK(strcmp(tag_string(&c), "B-PER I-PER E-PER O S-LOC B-LOC E-LOC S-PER") == 0, "BIOES model: %s",
          tag_string(&c));
    sl_conll_free(&c);
    sl_labelset_free(&ls);

    /* an I-only model (camembert-ner's labels, O last): a beginning is written I- */
    const char *ionly[] = {"I-LOC", "I-MISC", "I-ORG", "I-PER", "O"};
    CHECK(sl_labelset_init(&ls, ionly, 5, &err) == SL_OK, "%s", err.message);
    opt = (sl_conll_options){&ls, 0};
    CHECK(parse("a B-PER\nb I-PER\nc O\nd B-ORG\n", &opt, &c, &err) == SL_OK, "%s", err.message);
    CHECK(strcmp(tag_string(&c), "I-PER I-PER O I-ORG") == 0, "I-only model: %s", tag_string(&c));
    sl_conll_free(&c);
    sl_labelset_free(&ls);

    /* a model without O */
    const char *no_o[] = {"B-PER", "I-PER"};
    CHECK(sl_labelset_init(&ls, no_o, 2, &err) == SL_OK, "%s", err.message);
    opt = (sl_conll_options){&ls, 0};
    CHECK(parse("a B-PER\n", &opt, &c, &err) == SL_ERR_FORMAT && strstr(err.message, "no O"), "%s",
          err.message);
    sl_labelset_free(&ls);
}

static void check_errors(void) {
    sl_error err;
    sl_conll c;
    struct {
        const char *text;
        sl_status status;
        const char *message; /* a part of the message */
    } cases[] = {
        {"a O\nb O\nc\nd O\n", SL_ERR_FORMAT, "x.conll:3: missing tag"},
        {"a O\n\nb\xC3(\tO\n", SL_ERR_UTF8, "x.conll:3:2: invalid UTF-8 (byte 0xC3)"},
        {"a O\nb O\xE9\n", SL_ERR_UTF8, "x.conll:2:4: invalid UTF-8"},
        {"a O\n\xED\xA0\x80 O\n", SL_ERR_UTF8, "x.conll:2:1:"},  /* a surrogate */
        {"a O\n\xC0\xAF O\n", SL_ERR_UTF8, "x.conll:2:1:"},      /* an overlong '/' */
        {"a O\nb\xF0\x9F\x98 O\n", SL_ERR_UTF8, "x.conll:2:2:"}, /* a cut sequence */
        {"a O\nb\0c O\n", SL_ERR_UTF8, "x.conll:2:2:"},          /* a NUL byte */
        {"0\ta\tO\n1\tb\tO\n\nc O\n", SL_ERR_FORMAT, "x.conll:4: 2 fields, but the file's word lines have 3"},
        {"a O\nb x O\n", SL_ERR_FORMAT, "x.conll:2: 3 fields"},
        {"", SL_ERR_FORMAT, "x.conll: no sentences (empty file)"},
        {"\n\n  \n-DOCSTART- O\n\n", SL_ERR_FORMAT, "x.conll: no sentences"},
        {"a O\nb B-\n", SL_ERR_FORMAT, "x.conll:2: tag 'B-'"},
        {"a O\nb X-PER\n", SL_ERR_FORMAT, "x.conll:2: tag 'X-PER'"},
        {"a B-O\n", SL_ERR_FORMAT, "x.conll:1: tag 'B-O'"},
        {"a PER\n", SL_ERR_FORMAT, "x.conll:1: tag 'PER'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len = k == 6 ? 10 : strlen(cases[k].text); /* the NUL case has a 0 inside */
        memset(&err, 0, sizeof err);
        sl_status st = sl_conll_parse(cases[k].text, len, "x.conll", NULL, &c, &err);
        CHECK(st == cases[k].status && strstr(err.message, cases[k].message),
              "case %zu: status %s, message '%s', expected '%s'", k, sl_status_name(st), err.message,
              cases[k].message);
        CHECK(c.words == NULL && c.n_sentences == 0, "case %zu: out left empty", k);
    }
    CHECK(sl_conll_read("tests/fixtures/no-such-file.conll", NULL, &c, &err) == SL_ERR_IO &&
              strstr(err.message, "no-such-file.conll"),
          "%s", err.message);
    CHECK(sl_conll_parse(NULL, 0, NULL, NULL, &c, &err) == SL_ERR_FORMAT && strstr(err.message, "<memory>"),
          "%s", err.message);
    CHECK(sl_conll_parse(NULL, 5, "x", NULL, &c, &err) == SL_ERR_ARGUMENT, "NULL data");
}

/* Every prefix of a valid file reads or fails cleanly (run under ASan/UBSan to mean anything). Each prefix
   is copied to its own exact-size buffer so that a read past its end is caught. */
static void check_prefixes(const char *data, size_t size, const char *what) {
    int ok = 0, failed = 0;
    for (size_t n = 0; n <= size; n++) {
        char *copy = malloc(n ? n : 1);
        if (!copy) return;
        memcpy(copy, data, n);
        sl_conll c;
        sl_error err;
        sl_status st = sl_conll_parse(copy, n, what, NULL, &c, &err);
        if (st == SL_OK) {
            ok++;
            if (!consistent(&c)) CHECK(0, "%s: prefix of %zu bytes: inconsistent arrays", what, n);
        } else {
            failed++;
            if (!strstr(err.message, what))
                CHECK(0, "%s: prefix of %zu bytes: message '%s'", what, n, err.message);
        }
        sl_conll_free(&c);
        free(copy);
    }
    CHECK(ok > 0 && failed > 0, "%s: %d prefixes read, %d failed", what, ok, failed);
}

static void check_truncation(void) {
    const char *hand =
        "\xEF\xBB\xBF-DOCSTART- O\r\n\r\nÉmile B-PER\r\nZola I-PER\r\nà O\r\nMédan I-LOC\r\n\r\n"
        "« O\nJ' O\naccuse S-MISC\n» O\n";
    check_prefixes(hand, strlen(hand), "hand.conll");
    const char *files[] = {"wikineural-fr/val.conllu", "7-romans-fr/EugénieGrandet.conll",
                           "europeana-fr-icdar/dev.txt"};
    for (int k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", SL_SHARED_DATA, files[k]);
        uint8_t *data;
        size_t size;
        sl_error err;
        if (sl_read_file(path, &data, &size, &err) != SL_OK) {
            CHECK(0, "%s", err.message);
            continue;
        }
        check_prefixes((const char *)data, size < 1500 ? size : 1500, files[k]);
        free(data);
    }
}

/* sl_labels_from_conll (convert.h) reads the file with this reader: the labels are the data's label set,
   and a bad file is the reader's error naming the line. */
static void check_label_file(void) {
    char path[] = "/tmp/sl_conll_labels_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    const char *text = "-DOCSTART- O\n\nLe O\nchat S-ANIM\nde O\nParis B-LOC\n\nX I-PER\nY E-PER\nZ B-LOC\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    close(fd);
    sl_error err;
    char **labels = NULL;
    int n = 0;
    CHECK(sl_labels_from_conll(path, &labels, &n, &err) == SL_OK, "%s", err.message);
    const char *want[] = {"O", "B-ANIM", "I-ANIM", "B-LOC", "I-LOC", "B-PER", "I-PER"};
    CHECK(n == 7, "%d labels", n);
    for (int i = 0; i < n && i < 7; i++) CHECK(!strcmp(labels[i], want[i]), "label %d '%s'", i, labels[i]);
    sl_labels_free(labels, n);
    FILE *f = fopen(path, "w");
    fputs("a O\nb O\n", f);
    fclose(f);
    CHECK(sl_labels_from_conll(path, &labels, &n, &err) == SL_ERR_FORMAT &&
              strstr(err.message, "no entity tags"),
          "%s", err.message);
    f = fopen(path, "w");
    fputs("a O\nb\n", f);
    fclose(f);
    CHECK(sl_labels_from_conll(path, &labels, &n, &err) == SL_ERR_FORMAT &&
              strstr(err.message, ":2: missing tag"),
          "%s", err.message);
    unlink(path);
}

int main(void) {
    check_conversion();
    check_layout();
    check_given_labels();
    check_errors();
    check_label_file();
    check_truncation();
    check_data_sets();
    return check_report("test_conll");
}
