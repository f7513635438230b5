/* The rule recogniser of dates, times, amounts and percentages (engine/dates.c):
   - every sentence of tests/dates/fr-dates.tsv gives exactly its expected entities (label, span, value), and
     the figures over the set (precision, recall, value accuracy) are printed;
   - merging with a model's entities: a model entity that holds a rule entity whole and more wins ("Mai 68"),
     any other
     overlap goes to the rule entity, the rest interleave in text order; sl_recognize merges them when
     opt.dates is set and not otherwise;
   - bad input never crashes: random bytes, invalid UTF-8, words of the tables glued at random, each in a
     buffer of its exact size (the sanitizer build catches a read past it); spans stay in bounds and in order.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "dates.h"
#include "fileio.h"
#include "model.h"
#include "tiny_model.h"

#define MAX_EXPECTED 8

typedef struct {
    const char *label;
    size_t start, end;
    const char *value;
} expected;

/* Splits a line of the test set at tabs (in place); returns the number of fields. */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    return n;
}

static int same_entity(const sl_entity *e, const expected *x) {
    return !strcmp(e->label, x->label) && e->start == x->start && e->end == x->end;
}

static void check_test_set(void) {
    size_t size;
    char *data;
    sl_error err;
    if (sl_read_file("tests/dates/fr-dates.tsv", (uint8_t **)&data, &size, &err) != SL_OK) {
        CHECK(0, "test set: %s", err.message);
        return;
    }
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = 0;
    int sentences = 0, negatives = 0, line_no = 0;
    size_t n_expected = 0, n_found = 0, n_correct = 0, n_valued = 0, n_value_ok = 0;
    for (char *line = copy, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        if (line[0] == '#' || line[0] == 0) continue;
        char *f[1 + 3 * MAX_EXPECTED];
        int nf = split_tabs(line, f, 1 + 3 * MAX_EXPECTED);
        CHECK((nf - 1) % 3 == 0, "line %d: %d fields after the sentence, not triples", line_no, nf - 1);
        const char *text = f[0];
        const size_t len = strlen(text);
        expected want[MAX_EXPECTED];
        int n_want = 0;
        size_t from = 0;
        for (int k = 1; k + 2 < nf && n_want < MAX_EXPECTED; k += 3) {
            const char *at = strstr(text + from, f[k + 1]);
            CHECK(at != NULL, "line %d: '%s' is not in the sentence", line_no, f[k + 1]);
            if (!at) break;
            want[n_want] = (expected){f[k], (size_t)(at - text), (size_t)(at - text) + strlen(f[k + 1]),
                                      strcmp(f[k + 2], "-") ? f[k + 2] : ""};
            from = want[n_want++].end;
        }
        sentences++;
        negatives += n_want == 0;
        /* the text in a buffer of its own size: no terminating zero to lean on */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, text, len);
        sl_entities got = {0};
        CHECK(sl_recognize_dates(exact, len, &got, &err) == SL_OK, "line %d: %s", line_no, err.message);
        int exact_match = got.n == (size_t)n_want;
        for (size_t i = 0; i < got.n; i++) {
            const sl_entity *e = &got.items[i];
            int hit = -1;
            for (int w = 0; w < n_want; w++)
                if (same_entity(e, &want[w])) hit = w;
            if (hit >= 0) {
                n_correct++;
                if (want[hit].value[0]) n_value_ok += !strcmp(e->value, want[hit].value);
                if (strcmp(e->value, want[hit].value)) exact_match = 0;
            } else {
                exact_match = 0;
            }
        }
        for (int w = 0; w < n_want; w++) n_valued += want[w].value[0] != 0;
        n_expected += (size_t)n_want;
        n_found += got.n;
        if (!exact_match) {
            CHECK(0, "line %d: %s", line_no, text);
            for (int w = 0; w < n_want; w++)
                fprintf(stderr, "    want %s '%.*s' %s\n", want[w].label, (int)(want[w].end - want[w].start),
                        text + want[w].start, want[w].value[0] ? want[w].value : "-");
            for (size_t i = 0; i < got.n; i++)
                fprintf(stderr, "    got  %s '%.*s' %s\n", got.items[i].label,
                        (int)(got.items[i].end - got.items[i].start), text + got.items[i].start,
                        got.items[i].value[0] ? got.items[i].value : "-");
        }
        sl_entities_free(&got);
        free(exact);
    }
    printf(
        "fr-dates.tsv: %d sentences (%d with nothing to find), %zu entities expected, %zu found, %zu right: "
        "precision %.3f, recall %.3f, value accuracy %.3f (%zu of %zu)\n",
        sentences, negatives, n_expected, n_found, n_correct, n_found ? (double)n_correct / n_found : 0,
        n_expected ? (double)n_correct / n_expected : 0, n_valued ? (double)n_value_ok / n_valued : 0,
        n_value_ok, n_valued);
    CHECK(sentences >= 150, "only %d sentences in the test set", sentences);
    CHECK(negatives >= 30, "only %d sentences with nothing to find", negatives);
    free(copy);
    free(data);
}

/* Writing the test set's TSV cannot hold well: decomposed accents, capitals, no-break spaces, line breaks. */
static void check_writing(void) {
    static const struct {
        const char *text, *label, *span, *value;
    } cases[] = {
        {"Le 3 fe\xCC\x81vrier 2021, rien.", "DATE", "Le 3 fe\xCC\x81vrier 2021", "2021-02-03"}, /* NFD */
        {"LE 14 JUILLET 1789 !", "DATE", "LE 14 JUILLET 1789", "1789-07-14"},
        {"Prix : 1\xC2\xA0"
         "250\xC2\xA0\xE2\x82\xAC.",
         "MONEY",
         "1\xC2\xA0"
         "250\xC2\xA0\xE2\x82\xAC",
         "1250 EUR"},
        {"Hausse de 7,1\xE2\x80\xAF%.", "PERCENT", "7,1\xE2\x80\xAF%", "7.1"}, /* narrow no-break space */
        {"Le 14\njuillet", "", "", ""},       /* a line break is no space inside a date */
        {"12 millions\nd'euros", "", "", ""}, /* nor inside an amount */
        {"\xF0\x9F\x98\x80 \xC3\xA0 14 h 30 \xF0\x9F\x98\x80", "TIME", "14 h 30", "14:30"},
        {"Fermé du 30 décembre au 2 janvier 2026.", "DATE", "30 décembre au 2 janvier 2026",
         "2025-12-30/2026-01-02"},
    };
    sl_error err;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        sl_entities e = {0};
        const char *text = cases[c].text;
        CHECK(sl_recognize_dates(text, strlen(text), &e, &err) == SL_OK, "case %zu: %s", c, err.message);
        if (!cases[c].label[0]) {
            CHECK(e.n == 0, "case %zu: %zu entities, want none", c, e.n);
        } else {
            const char *at = strstr(text, cases[c].span);
            int ok = e.n == 1 && at && !strcmp(e.items[0].label, cases[c].label) &&
                     e.items[0].start == (size_t)(at - text) &&
                     e.items[0].end == (size_t)(at - text) + strlen(cases[c].span) &&
                     !strcmp(e.items[0].value, cases[c].value);
            CHECK(ok, "case %zu: '%s': %zu entities, the first %s [%zu, %zu) %s", c, text, e.n,
                  e.n ? e.items[0].label : "-", e.n ? e.items[0].start : 0, e.n ? e.items[0].end : 0,
                  e.n ? e.items[0].value : "-");
        }
        sl_entities_free(&e);
    }
}

static sl_entity ent(const char *label, size_t start, size_t end) {
    sl_entity e = {.label = label, .score = 1, .start = start, .end = end};
    return e;
}

static void check_merge(void) {
    sl_error err;
    /* Model entities (after one of an earlier text, which stays untouched): MISC "Mai 68" [3, 9), LOC [20,
       26), LOC "1996" [46, 50), ORG [52, 56), ORG [58, 64), LOC [80, 85). Rule entities: DATE "Mai" [3, 6)
       inside the MISC: dropped (the event's name); TIME [25, 28) across the end of the LOC [20, 26): kept,
       the LOC dropped; DATE [30, 50) holding the LOC "1996" whole (a model calling a year a place): kept, the
       LOC dropped; DATE [52, 56) with the ORG's very span: kept, the ORG dropped (a span that is exactly a
       date is one); MONEY [57, 66) holding the ORG [58, 64): kept, the ORG dropped; PERCENT [86, 90) after
       all. */
    sl_entities out = {0}, rules = {0};
    const sl_entity model[] = {ent("PER", 0, 2),   ent("MISC", 3, 9),  ent("LOC", 20, 26), ent("LOC", 46, 50),
                               ent("ORG", 52, 56), ent("ORG", 58, 64), ent("LOC", 80, 85)};
    const sl_entity rule[] = {ent("DATE", 3, 6),   ent("TIME", 25, 28),  ent("DATE", 30, 50),
                              ent("DATE", 52, 56), ent("MONEY", 57, 66), ent("PERCENT", 86, 90)};
    for (size_t i = 0; i < sizeof model / sizeof *model; i++) sl_entities_push(&out, &model[i], &err);
    for (size_t i = 0; i < sizeof rule / sizeof *rule; i++) sl_entities_push(&rules, &rule[i], &err);
    strcpy(rules.items[2].value, "1996-02-29");
    CHECK(sl_dates_merge(&out, 1, &rules, NULL, &err) == SL_OK, "merge: %s", err.message);
    const char *want[] = {"PER", "MISC", "TIME", "DATE", "DATE", "MONEY", "LOC", "PERCENT"};
    const size_t n_want = sizeof want / sizeof *want;
    CHECK(out.n == n_want, "merge: %zu entities, want %zu", out.n, n_want);
    for (size_t i = 0; i < out.n && i < n_want; i++)
        CHECK(!strcmp(out.items[i].label, want[i]), "merge: entity %zu is %s, want %s", i, out.items[i].label,
              want[i]);
    for (size_t i = 1; i < out.n; i++)
        CHECK(out.items[i - 1].end <= out.items[i].start,
              "merge: entities %zu and %zu overlap or are out of order", i - 1, i);
    CHECK(out.n > 3 && !strcmp(out.items[3].value, "1996-02-29"), "merge: the DATE kept its value");
    sl_entities_free(&out);
    /* with the text: a model entity that adds only a preposition or an article to a date loses to it, one
       that adds a name's words wins */
    {
        const char *text = "Vu en 2015, un mur du XVIe siècle, rue du 4 Septembre.";
        sl_entities m2 = {0}, r2 = {0};
#define SPAN(label, s)                                                                                       \
    ent(label, (size_t)(strstr(text, s) - text), (size_t)(strstr(text, s) - text) + strlen(s))
        const sl_entity mod[] = {SPAN("LOC", "en 2015"), SPAN("ORG", "du XVIe siècle"),
                                 SPAN("LOC", "rue du 4 Septembre")};
        const sl_entity rul[] = {SPAN("DATE", "2015"), SPAN("DATE", "XVIe siècle"),
                                 SPAN("DATE", "4 Septembre")};
#undef SPAN
        for (size_t i = 0; i < 3; i++)
            sl_entities_push(&m2, &mod[i], &err), sl_entities_push(&r2, &rul[i], &err);
        CHECK(sl_dates_merge(&m2, 0, &r2, text, &err) == SL_OK && m2.n == 3, "merge with text: %zu", m2.n);
        const char *labels[] = {"DATE", "DATE", "LOC"};
        for (size_t i = 0; i < m2.n && i < 3; i++)
            CHECK(!strcmp(m2.items[i].label, labels[i]), "merge with text: entity %zu is %s, want %s", i,
                  m2.items[i].label, labels[i]);
        sl_entities_free(&m2);
        sl_entities_free(&r2);
    }
    /* no model entities at all: the rules' list as it is */
    CHECK(sl_dates_merge(&out, 0, &rules, NULL, &err) == SL_OK && out.n == rules.n, "merge into nothing: %zu",
          out.n);
    sl_entities_free(&out);
    sl_entities_free(&rules);
}

/* The model's a holds the rule's b whole and more, and the more has a word other than the few prepositions
   and articles that the merge lets a date win over (ASCII and "à": the test's text has no other). */
static int holds_name(const char *text, const sl_entity *a, const sl_entity *b) {
    if (!(a->start <= b->start && b->end <= a->end && a->end - a->start > b->end - b->start)) return 0;
    static const char *const words[] = {"le", "la",  "les",    "l",    "de", "du", "des", "d",        "en",
                                        "au", "aux", "depuis", "vers", "et", "un", "une", "\xC3\xA0", NULL};
    for (int side = 0; side < 2; side++) {
        size_t i = side ? b->end : a->start, to = side ? a->end : b->start;
        while (i < to) {
            if (strchr(" ,.;:'()", text[i])) {
                i++;
                continue;
            }
            size_t w = i;
            while (w < to && !strchr(" ,.;:'()", text[w])) w++;
            int known = 0;
            for (const char *const *x = words; *x; x++)
                known |= strlen(*x) == w - i && !strncasecmp(text + i, *x, w - i);
            if (!known) return 1;
            i = w;
        }
    }
    return 0;
}

static void check_recognize(void) {
    sl_error err;
    tiny_model tiny;
    if (!tiny_model_load(&tiny, &err)) {
        CHECK(0, "setup: %s", err.message);
        return;
    }
    sl_model *m = tiny.model;
    const char *text =
        "Le 14 juillet 1789 à 14 h 30, Gérald Darmanin a payé 12 millions d'euros, soit 7,1 % de plus.";
    sl_entities rules = {0};
    CHECK(sl_recognize_dates(text, strlen(text), &rules, &err) == SL_OK && rules.n == 4, "rules alone: %zu",
          rules.n);
    for (int agg = SL_AGG_NONE; agg <= SL_AGG_MAX; agg++) {
        sl_options o = sl_default_options();
        o.aggregation = (sl_aggregation)agg;
        CHECK(o.dates == 1, "dates are on by default");
        sl_entities with = {0}, without = {0};
        CHECK(sl_recognize(m, text, strlen(text), &o, &with, &err) == SL_OK, "with dates: %s", err.message);
        o.dates = 0;
        CHECK(sl_recognize(m, text, strlen(text), &o, &without, &err) == SL_OK, "without dates: %s",
              err.message);
        size_t valued = 0, kept = 0, model_kept = 0;
        for (size_t i = 0; i < without.n; i++)
            CHECK(!without.items[i].value[0], "a model entity has a value");
        for (size_t i = 0; i < with.n; i++) {
            valued += with.items[i].value[0] != 0;
            if (i)
                CHECK(with.items[i - 1].end <= with.items[i].start, "agg %d: entities %zu, %zu out of order",
                      agg, i - 1, i);
        }
        /* every rule entity is there unless a model entity holds it whole and more than prepositions */
        for (size_t r = 0; r < rules.n; r++) {
            int held = 0, present = 0;
            for (size_t i = 0; i < without.n; i++)
                held |= holds_name(text, &without.items[i], &rules.items[r]);
            for (size_t i = 0; i < with.n; i++)
                present |= with.items[i].start == rules.items[r].start &&
                           with.items[i].end == rules.items[r].end &&
                           !strcmp(with.items[i].value, rules.items[r].value);
            CHECK(present == !held, "agg %d: rule entity %zu present %d, held by a model entity %d", agg, r,
                  present, held);
            kept += present;
        }
        /* every model entity is there unless a kept rule entity overlaps it */
        for (size_t i = 0; i < without.n; i++) {
            int overlapped = 0, present = 0;
            for (size_t k = 0; k < with.n; k++) {
                overlapped |= with.items[k].value[0] && with.items[k].start < without.items[i].end &&
                              without.items[i].start < with.items[k].end;
                present |= with.items[k].start == without.items[i].start &&
                           with.items[k].end == without.items[i].end && !with.items[k].value[0];
            }
            CHECK(present == !overlapped, "agg %d: model entity %zu present %d, overlapped %d", agg, i,
                  present, overlapped);
            model_kept += present;
        }
        CHECK(with.n == model_kept + kept && valued == kept, "agg %d: %zu entities = %zu + %zu", agg, with.n,
              model_kept, kept);
        sl_entities_free(&with);
        sl_entities_free(&without);
    }
    sl_entities_free(&rules);
    tiny_model_free(&tiny);
}

/* a small deterministic generator (xorshift) */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static void check_bad_input(void) {
    static const char *const pieces[] = {"le",
                                         "Le",
                                         " ",
                                         "\xC2\xA0",
                                         "\xE2\x80\xAF",
                                         "14",
                                         "1",
                                         "er",
                                         "juillet",
                                         "1789",
                                         "2024",
                                         "-",
                                         "/",
                                         ".",
                                         ",",
                                         ":",
                                         "h",
                                         "heures",
                                         "30",
                                         "à",
                                         "du",
                                         "au",
                                         "3",
                                         "7",
                                         "juin",
                                         "les",
                                         "années",
                                         "1960",
                                         "XIX",
                                         "e",
                                         "siècle",
                                         "l",
                                         "'",
                                         "\xE2\x80\x99",
                                         "été",
                                         "il",
                                         "y",
                                         "a",
                                         "deux",
                                         "jours",
                                         "midi",
                                         "et",
                                         "demie",
                                         "12",
                                         "millions",
                                         "d",
                                         "euros",
                                         "€",
                                         "$",
                                         "%",
                                         "pour",
                                         "cent",
                                         "vingt",
                                         "quatre",
                                         "000",
                                         "M",
                                         "Md",
                                         "\n",
                                         "\xFF",
                                         "\xC3",
                                         "\xE2\x82",
                                         "2147483648",
                                         "99999999999999999999",
                                         "0",
                                         "31",
                                         "29",
                                         "février",
                                         "samedi",
                                         "prochain",
                                         "en",
                                         "fin",
                                         "mi",
                                         "hier",
                                         "aujourd",
                                         "hui",
                                         "ce",
                                         "mois",
                                         "ci",
                                         "centimes",
                                         "livres",
                                         "sterling",
                                         "francs",
                                         "CFA",
                                         "EUR",
                                         "(",
                                         "+",
                                         "\xE2\x88\x92",
                                         "\xF0\x9F\x98\x80",
                                         "e\xCC\x81",
                                         "de",
                                         "entre"};
    const size_t n_pieces = sizeof pieces / sizeof *pieces;
    sl_error err;
    int failures = 0;
    for (int round = 0; round < 3000 && failures < 5; round++) {
        char buf[512];
        size_t len = 0, want = next_random() % 200;
        while (len < want) {
            if (round % 3 == 0) {
                buf[len++] = (char)(next_random() & 0xFF); /* raw bytes */
                continue;
            }
            const char *p = pieces[next_random() % n_pieces];
            size_t n = strlen(p);
            if (len + n > sizeof buf) break;
            memcpy(buf + len, p, n);
            len += n;
            if (next_random() % 3 == 0 && len < sizeof buf) buf[len++] = ' ';
        }
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        sl_entities e = {0};
        sl_status s = sl_recognize_dates(exact, len, &e, &err);
        int ok = s == SL_OK;
        for (size_t i = 0; ok && i < e.n; i++) {
            const sl_entity *x = &e.items[i];
            ok = x->start < x->end && x->end <= len && (i == 0 || e.items[i - 1].end <= x->start) &&
                 memchr(x->value, 0, sizeof x->value) != NULL;
        }
        if (!ok) failures++;
        CHECK(ok, "random text %d (%zu bytes): status %d or a span out of bounds or order", round, len,
              (int)s);
        sl_entities_free(&e);
        free(exact);
    }
    sl_entities e = {0};
    CHECK(sl_recognize_dates(NULL, 0, &e, &err) == SL_OK && e.n == 0, "empty text");
    CHECK(sl_recognize_dates(NULL, 5, &e, &err) == SL_ERR_ARGUMENT, "NULL text with a length");
    CHECK(sl_recognize_dates("x", 1, NULL, &err) == SL_ERR_ARGUMENT, "no output list");
}

int main(void) {
    check_test_set();
    check_writing();
    check_merge();
    check_recognize();
    check_bad_input();
    return check_report("test_dates");
}
