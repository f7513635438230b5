/* Dates, times, amounts and percentages of French text, by rules (DATE, TIME, MONEY, PERCENT), each with a
   normalised value: what no labelled set here teaches a model, and what a reader expects written out.

   The text is cut into tokens (a run of letters, a run of ASCII digits, or one other character) with byte
   offsets and the white space before each; then at each token the pattern functions of every family try to
   match, the longest match wins (the earlier family on a tie), and the scan resumes after it. Every pattern
   reads a bounded number of tokens ahead and a token or two behind (its cue: "en 1998", "à 17 heures"),
   through at(), which answers an END token outside the text: no read can leave the buffer.

   Conventions (the README's "Dates, times, amounts and percentages"):
   - spans leave a leading preposition out ("en 2023" -> "2023", "du 3 au 7 juin" -> "3 au 7 juin") and keep
     the article of a date ("le 14 juillet 1789", "l'été 2027", "les années 1960");
   - DATE values are ISO 8601: "1789-07-14", "2024-03", "1998"; without a year "--07-14" / "--03"
     (ISO 8601:2000's truncated forms); ranges, decades and centuries as intervals "1960/1969",
     "1801/1900" (the XIXe siècle, counted as French does, from 1801); seasons as ISO 8601-2's codes
     ("2027-22": 21 spring, 22 summer, 23 autumn, 24 winter). Relative or vague dates ("hier", "la semaine
     dernière", "fin 2024") have no value;
   - TIME "HH:MM"; MONEY "<amount> <ISO 4217 code>" ("12000000 EUR", "0.12 EUR" for 12 centimes);
     PERCENT the number with a decimal point ("7.1", "-0.3");
   - bare numbers stay unmarked: a year needs a cue word before it and a plausible word after it, an hour
     without minutes ("17 heures") a cue before it ("à", "vers", "dès"…), a duration ("pendant 2 h 30") is
     not a time. */
#include "dates.h"
#include "ner.h"

#include <utf8proc.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens -------------------------------------------------------------------------------------------- */

enum { T_END, T_WORD, T_NUM, T_SYM };

typedef struct {
    size_t start, end; /* bytes */
    uint8_t kind;
    uint8_t gap;   /* white space before: 0 none, 1 one character (space, no-break space…), 2 more, 3 a line
                      break */
    uint8_t upper; /* WORD: 1 first letter upper case, 2 every letter (and more than one) */
    uint8_t digits; /* NUM: how many (255 at most) */
    int32_t cp;     /* SYM: the character, -1 for a byte that is not UTF-8 */
    int64_t num;    /* NUM: the value when digits <= MAX_DIGITS, else -1 */
    char low[20];   /* WORD: lower case, "" when it would take 20 bytes or more */
} dtok;

#define MAX_DIGITS 15
#define LOOKAHEAD 16 /* no pattern reads further than this many tokens past its start */

typedef struct {
    const char *text;
    const dtok *t;
    int n;
    int last_time_end; /* token just after the last TIME found: "entre 9 h et 17 h" */
} doc;

const char *const sl_rule_types[] = {"DATE", "TIME", "MONEY", "PERCENT", NULL};

static const dtok END = {.kind = T_END, .gap = 3};

static const dtok *at(const doc *d, int i) {
    return i >= 0 && i < d->n ? &d->t[i] : &END;
}

static int is_space(int32_t c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0x2028 || c == 0x2029 ||
           (c > 0x7f && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS);
}

static int is_letter(int32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME);
}

/* The character at s[i] (i < len) and its length; -1 and 1 for a byte that does not start valid UTF-8. */
static int decode(const unsigned char *s, size_t len, size_t i, int32_t *cp) {
    utf8proc_int32_t c;
    size_t rest = len - i < 4 ? len - i : 4;
    utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)rest, &c);
    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (int)n;
}

static sl_status tokenize(const char *text, size_t len, dtok **out, int *n_out, sl_error *err) {
    const unsigned char *s = (const unsigned char *)text;
    dtok *t = NULL;
    size_t n = 0, cap = 0, i = 0;
    int gap = 0;
    while (i < len) {
        int32_t c;
        int k = decode(s, len, i, &c);
        if (c >= 0 && is_space(c)) {
            int line =
                c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x85 || c == 0x2028 || c == 0x2029;
            gap = line ? 3 : gap < 2 ? gap + 1 : gap;
            i += (size_t)k;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            if (cap > INT32_MAX / 2) {
                free(t);
                return sl_fail(err, SL_ERR_ARGUMENT, "dates: text of more than %d tokens", INT32_MAX / 2);
            }
            dtok *g = realloc(t, cap * sizeof *t);
            if (!g) {
                free(t);
                return sl_fail(err, SL_ERR_MEMORY, "dates: no memory for %zu tokens", cap);
            }
            t = g;
        }
        dtok *x = &t[n++];
        memset(x, 0, sizeof *x);
        x->start = i;
        x->gap = (uint8_t)gap;
        gap = 0;
        if (c >= '0' && c <= '9') {
            x->kind = T_NUM;
            int64_t v = 0;
            int d = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (d < MAX_DIGITS) v = v * 10 + (s[i] - '0');
                if (d < 255) d++;
                i++;
            }
            x->digits = (uint8_t)d;
            x->num = d <= MAX_DIGITS ? v : -1;
        } else if (c >= 0 && is_letter(c)) {
            /* lower case, in NFC: "fe\u0301vrier" (a combining accent) is "février" */
            x->kind = T_WORD;
            utf8proc_int32_t cps[sizeof x->low];
            utf8proc_ssize_t n_cp = 0;
            int letters = 0, uppers = 0, marks = 0;
            while (i < len) {
                k = decode(s, len, i, &c);
                if (c < 0 || !is_letter(c)) break;
                utf8proc_category_t cat = utf8proc_category(c);
                if (cat == UTF8PROC_CATEGORY_LU) uppers++;
                if (letters == 0 && uppers) x->upper = 1;
                marks += cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
                letters++;
                if (n_cp < (utf8proc_ssize_t)(sizeof cps / sizeof *cps)) cps[n_cp] = utf8proc_tolower(c);
                n_cp++;
                i += (size_t)k;
            }
            size_t lo = 0;
            if (n_cp <= (utf8proc_ssize_t)(sizeof cps / sizeof *cps)) {
                if (marks) n_cp = utf8proc_normalize_utf32(cps, n_cp, UTF8PROC_COMPOSE);
                for (utf8proc_ssize_t q = 0; q < n_cp && lo < sizeof x->low; q++) {
                    utf8proc_uint8_t buf[4];
                    utf8proc_ssize_t m = utf8proc_encode_char(cps[q], buf);
                    if (m <= 0 || lo + (size_t)m >= sizeof x->low) {
                        lo = 0; /* too long for any word of the tables */
                        break;
                    }
                    memcpy(x->low + lo, buf, (size_t)m);
                    lo += (size_t)m;
                }
            }
            x->low[lo] = 0;
            if (letters > 1 && uppers == letters) x->upper = 2;
        } else {
            x->kind = T_SYM;
            x->cp = c;
            i += (size_t)k;
        }
        x->end = i;
    }
    *out = t;
    *n_out = (int)n;
    return SL_OK;
}

/* ---- matching helpers ---------------------------------------------------------------------------------- */

typedef struct {
    const char *word;
    int value;
} entry;

/* The value of a lower-case word in a table ending with {NULL}, or -1. */
static int lookup(const entry *table, const dtok *t) {
    if (t->kind != T_WORD || !t->low[0]) return -1;
    for (const entry *e = table; e->word; e++)
        if (!strcmp(e->word, t->low)) return e->value;
    return -1;
}

static int is_word(const doc *d, int i, const char *w) {
    const dtok *t = at(d, i);
    return t->kind == T_WORD && !strcmp(t->low, w);
}

/* one of the words of a list ending with NULL */
static int is_one_of(const doc *d, int i, const char *const *list) {
    for (; *list; list++)
        if (is_word(d, i, *list)) return 1;
    return 0;
}

static int is_sym(const doc *d, int i, int32_t c) {
    return at(d, i)->kind == T_SYM && at(d, i)->cp == c;
}
static int glued(const doc *d, int i) {
    return at(d, i)->gap == 0 && at(d, i)->kind != T_END;
}
static int near(const doc *d, int i) {
    return at(d, i)->gap <= 1 && at(d, i)->kind != T_END;
}
static int is_apostrophe(const doc *d, int i) {
    return is_sym(d, i, '\'') || is_sym(d, i, 0x2019);
}
static int is_dash(const doc *d, int i) {
    return is_sym(d, i, '-') || is_sym(d, i, 0x2010) || is_sym(d, i, 0x2013);
}

/* "l'" + word at i: the index of the word, else -1 */
static int elided(const doc *d, int i, const char *article) {
    return is_word(d, i, article) && is_apostrophe(d, i + 1) && glued(d, i + 1) && glued(d, i + 2) ? i + 2
                                                                                                   : -1;
}

/* The token before a span starting at i, skipping the "'" of "jusqu'en", "d'ici". */
static int before(const doc *d, int i) {
    return is_apostrophe(d, i - 1) && glued(d, i - 1) ? i - 2 : i - 1;
}

/* ---- numbers ------------------------------------------------------------------------------------------- */

/* m / 10^scale, exact */
typedef struct {
    int64_t m;
    int scale;
} decimal;

static int decimal_times_pow10(decimal *x, int k) {
    for (; k > 0 && x->scale > 0; k--) x->scale--;
    for (; k > 0; k--) {
        if (x->m > INT64_MAX / 10) return 0;
        x->m *= 10;
    }
    return 1;
}

static void decimal_format(decimal x, int negative, char *buf, size_t cap) {
    while (x.scale > 0 && x.m % 10 == 0) x.m /= 10, x.scale--;
    int64_t p = 1;
    for (int s = 0; s < x.scale; s++) p *= 10;
    const char *sign = negative && x.m ? "-" : "";
    if (x.scale)
        snprintf(buf, cap, "%s%lld.%0*lld", sign, (long long)(x.m / p), x.scale, (long long)(x.m % p));
    else
        snprintf(buf, cap, "%s%lld", sign, (long long)x.m);
}

/* Digits with French grouping ("1 250", "50 000", or "1.250.000") and a decimal comma ("3,2") or point.
   Returns the token after the number, 0 if none at i. */
static int digits_number(const doc *d, int i, decimal *x) {
    const dtok *t = at(d, i);
    if (t->kind != T_NUM || t->num < 0) return 0;
    int64_t m = t->num;
    int nd = t->digits, j = i + 1;
    if (t->digits <= 3) {
        for (int g = 0; g < 5; g++) {
            const dtok *a = at(d, j);
            if (a->kind == T_NUM && a->digits == 3 && a->gap == 1 && nd + 3 <= MAX_DIGITS) {
                m = m * 1000 + a->num, nd += 3, j++;
            } else if (is_sym(d, j, '.') && glued(d, j) && at(d, j + 1)->kind == T_NUM &&
                       at(d, j + 1)->digits == 3 && glued(d, j + 1) && nd + 3 <= MAX_DIGITS &&
                       !(at(d, j + 2)->kind == T_NUM && glued(d, j + 2))) {
                m = m * 1000 + at(d, j + 1)->num, nd += 3, j += 2;
            } else {
                break;
            }
        }
    }
    x->m = m;
    x->scale = 0;
    const dtok *f = at(d, j + 1);
    if ((is_sym(d, j, ',') || is_sym(d, j, '.')) && glued(d, j) && f->kind == T_NUM && glued(d, j + 1) &&
        f->digits <= 6 && nd + f->digits <= 18) {
        for (int k = 0; k < f->digits; k++) x->m *= 10;
        x->m += f->num;
        x->scale = f->digits;
        j += 2;
    }
    return j;
}

static const entry NUMBER_WORDS[] = {{"un", 1},        {"une", 1},        {"deux", 2},      {"trois", 3},
                                     {"quatre", 4},    {"cinq", 5},       {"six", 6},       {"sept", 7},
                                     {"huit", 8},      {"neuf", 9},       {"dix", 10},      {"onze", 11},
                                     {"douze", 12},    {"treize", 13},    {"quatorze", 14}, {"quinze", 15},
                                     {"seize", 16},    {"vingt", 20},     {"vingts", 20},   {"trente", 30},
                                     {"quarante", 40}, {"cinquante", 50}, {"soixante", 60}, {"septante", 70},
                                     {"huitante", 80}, {"octante", 80},   {"nonante", 90},  {"cent", 100},
                                     {"cents", 100},   {"mille", 1000},   {NULL, 0}};

/* Number words: "vingt", "vingt et un", "quatre-vingt-dix", "deux cents", "trois mille cinq cents". */
static int words_number(const doc *d, int i, decimal *x) {
    int64_t total = 0, cur = 0;
    int j = i;
    for (int k = 0; k < 12; k++) {
        int v = lookup(NUMBER_WORDS, at(d, j));
        if (v < 0 || (k > 0 && !near(d, j))) break;
        if (v == 100)
            cur = (cur ? cur : 1) * 100;
        else if (v == 1000)
            total += (cur ? cur : 1) * 1000, cur = 0;
        else if (v == 20 && cur % 100 == 4)
            cur += 76; /* quatre-vingt(s) */
        else
            cur += v;
        j++;
        if (is_dash(d, j) && glued(d, j) && glued(d, j + 1) && lookup(NUMBER_WORDS, at(d, j + 1)) >= 0)
            j++;
        else if (is_word(d, j, "et") &&
                 (is_word(d, j + 1, "un") || is_word(d, j + 1, "une") || is_word(d, j + 1, "onze")))
            j++;
    }
    if (j == i) return 0;
    if (is_dash(d, j - 1) || is_word(d, j - 1, "et")) j--; /* a joiner not followed by a number word */
    x->m = total + cur;
    x->scale = 0;
    return j;
}

static int number(const doc *d, int i, decimal *x) {
    int j = digits_number(d, i, x);
    return j ? j : words_number(d, i, x);
}

/* ---- the match being built ----------------------------------------------------------------------------- */

typedef struct {
    const char *label;
    char value[32];
} match;

/* The match's value, printf-formatted (every value here fits in 31 bytes) */
static void set_value(match *m, const char *fmt, ...) SL_PRINTF(2, 3);
static void set_value(match *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->value, sizeof m->value, fmt, ap);
    va_end(ap);
}

/* ---- dates --------------------------------------------------------------------------------------------- */

static const entry MONTHS[] = {{"janvier", 1},   {"février", 2},   {"fevrier", 2},   {"mars", 3},
                               {"avril", 4},     {"mai", 5},       {"juin", 6},      {"juillet", 7},
                               {"août", 8},      {"aout", 8},      {"septembre", 9}, {"octobre", 10},
                               {"novembre", 11}, {"décembre", 12}, {"decembre", 12}, {NULL, 0}};
static const char *const WEEKDAYS[] = {"lundi",    "mardi",  "mercredi", "jeudi",
                                       "vendredi", "samedi", "dimanche", NULL};
static const entry SEASONS[] = {{"printemps", 21}, {"été", 22}, {"automne", 23}, {"hiver", 24}, {NULL, 0}};
static const char *const NEXT_OR_LAST[] = {"dernier",   "dernière",   "prochain", "prochaine",
                                           "passé",     "passée",     "suivant",  "suivante",
                                           "précédent", "précédente", NULL};
static const char *const QUALIFIERS[] = {"début", "fin", "mi", NULL};
/* words after which a bare year is a date: "en 1998", "depuis 2020", "d'ici 2030" */
static const char *const YEAR_CUES[] = {"en",   "depuis", "dès",   "avant", "après",
                                        "vers", "ici",    "jusqu", "de",    NULL};
/* words that may follow a bare year; another lower-case word ("en 1500 exemplaires") makes it a count */
static const char *const AFTER_YEAR[] = {
    "et",      "à",         "au",     "aux",   "le",    "la",      "les",     "l",      "il",    "elle",
    "ils",     "elles",     "on",     "ce",    "cette", "ces",     "cet",     "c",      "pour",  "par",
    "dans",    "avec",      "puis",   "lors",  "déjà",  "avant",   "après",   "contre", "de",    "du",
    "des",     "d",         "un",     "une",   "quand", "lorsque", "alors",   "mais",   "ou",    "sur",
    "sous",    "chez",      "selon",  "qui",   "que",   "qu",      "où",      "se",     "s",     "n",
    "ne",      "y",         "en",     "était", "est",   "sont",    "a",       "ont",    "avait", "fut",
    "furent",  "seulement", "encore", "aussi", "comme", "je",      "j",       "nous",   "vous",  "son",
    "sa",      "ses",       "leur",   "leurs", "notre", "votre",   "pendant", "depuis", "jusqu", "soit",
    "puisque", "car",       "donc",   "ni",    "sans",  "entre",   "vers",    "afin",   NULL};

static int days_in_month(int month, int year) {
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && year > 0 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 28;
    return days[month - 1];
}

/* A year of four digits, 1000 to 2199, at i */
static int year_at(const doc *d, int i) {
    const dtok *t = at(d, i);
    if (t->kind != T_NUM || t->digits != 4 || t->num < 1000 || t->num > 2199) return 0;
    /* "2024 000" is a number, "2024,5" too */
    if (at(d, i + 1)->kind == T_NUM && at(d, i + 1)->gap <= 1) return 0;
    if ((is_sym(d, i + 1, ',') || is_sym(d, i + 1, '.')) && glued(d, i + 1) && at(d, i + 2)->kind == T_NUM &&
        glued(d, i + 2))
        return 0;
    return (int)t->num;
}

/* A day of the month at i ("14", "1er", "premier"): returns the token after it and sets *day. */
static int day_at(const doc *d, int i, int *day) {
    const dtok *t = at(d, i);
    if (t->kind == T_NUM && t->digits <= 2 && t->num >= 1 && t->num <= 31) {
        *day = (int)t->num;
        if (t->num == 1 && glued(d, i + 1) && (is_word(d, i + 1, "er") || is_word(d, i + 1, "ᵉʳ")))
            return i + 2;
        return i + 1;
    }
    if (is_word(d, i, "premier")) {
        *day = 1;
        return i + 1;
    }
    return 0;
}

static int month_at(const doc *d, int i) {
    return near(d, i) ? lookup(MONTHS, at(d, i)) : -1;
}

/* [le] [weekday] DAY [MONTH [YEAR]] [(au|à|-) [weekday] DAY] MONTH [YEAR]: "le 14 juillet 1789",
   "lundi 4 mars", "3 au 7 juin 2026", "30 juin au 2 juillet", "le 16 mai dernier"; and "les 3 et 4 juin"
   (two days: no value). */
static int date_day_month(const doc *d, int i, match *m) {
    int j = i;
    if (is_word(d, i, "les") && near(d, i + 1)) {
        int a, b, k = day_at(d, i + 1, &a);
        if (k && is_word(d, k, "et") && near(d, k) && near(d, k + 1) && (k = day_at(d, k + 1, &b)) &&
            month_at(d, k) > 0) {
            m->label = "DATE";
            return near(d, k + 1) && year_at(d, k + 1) ? k + 2 : k + 1;
        }
        return 0;
    }
    if (is_word(d, j, "le")) j++;
    if (is_one_of(d, j, WEEKDAYS) && (j == i || near(d, j))) j++;
    if (j > i && !near(d, j)) return 0;
    int d1, m1 = -1, y1 = 0, d2 = 0, m2, y2 = 0;
    if (!(j = day_at(d, j, &d1))) return 0;
    if ((m1 = month_at(d, j)) > 0) {
        j++;
        if (near(d, j) && (y1 = year_at(d, j))) j++;
    }
    int k = j; /* a second day: a range */
    if ((is_word(d, k, "au") || is_word(d, k, "à") || is_dash(d, k)) && near(d, k)) {
        k++;
        if (is_one_of(d, k, WEEKDAYS) && near(d, k)) k++;
        if (near(d, k) && (k = day_at(d, k, &d2)) && (m2 = month_at(d, k)) > 0) {
            k++;
            if (near(d, k) && (y2 = year_at(d, k))) k++;
            if (m1 < 0) m1 = m2;
            if (!y1 && y2) y1 = m1 > m2 ? y2 - 1 : y2; /* du 30 décembre au 2 janvier 2026 */
            if (d2 > days_in_month(m2, y2) || d1 > days_in_month(m1, y1)) return 0;
            if (y1 && y2)
                set_value(m, "%04d-%02d-%02d/%04d-%02d-%02d", y1, m1, d1, y2, m2, d2);
            else if (!y1 && !y2)
                set_value(m, "--%02d-%02d/--%02d-%02d", m1, d1, m2, d2);
            m->label = "DATE";
            return k;
        }
    }
    if (m1 < 0 || d1 > days_in_month(m1, y1)) return 0;
    if (!y1 && near(d, j) && is_one_of(d, j, NEXT_OR_LAST)) j++; /* le 16 mai dernier */
    if (y1)
        set_value(m, "%04d-%02d-%02d", y1, m1, d1);
    else
        set_value(m, "--%02d-%02d", m1, d1);
    m->label = "DATE";
    return j;
}

/* [le] 03/02/2021, 3.2.2021, 03-02-2021 (day first) or 2024-01-01 (ISO) */
static int date_numeric(const doc *d, int i, match *m) {
    int j = is_word(d, i, "le") && at(d, i + 1)->kind == T_NUM && near(d, i + 1) ? i + 1 : i;
    const dtok *a = at(d, j), *b = at(d, j + 2), *c = at(d, j + 4);
    int32_t sep = at(d, j + 1)->cp;
    if (a->kind != T_NUM || b->kind != T_NUM || c->kind != T_NUM || !is_sym(d, j + 1, sep) ||
        !is_sym(d, j + 3, sep) || !(sep == '/' || sep == '.' || sep == '-'))
        return 0;
    for (int k = j + 1; k <= j + 4; k++)
        if (!glued(d, k)) return 0;
    if (at(d, j + 5)->kind == T_NUM || ((is_sym(d, j + 5, sep) || is_sym(d, j + 5, ',')) && glued(d, j + 5) &&
                                        at(d, j + 6)->kind == T_NUM && glued(d, j + 6)))
        return 0; /* "1.2.3.4", "3/2/2021/5" */
    int day, month, year;
    if (a->digits == 4 && b->digits == 2 && c->digits == 2 && sep == '-') {
        year = (int)a->num, month = (int)b->num, day = (int)c->num;
    } else if (a->digits <= 2 && b->digits <= 2 && (c->digits == 4 || c->digits == 2)) {
        day = (int)a->num, month = (int)b->num, year = (int)c->num;
        if (c->digits == 2) year += year < 50 ? 2000 : 1900;
    } else {
        return 0;
    }
    if (year < 1000 || year > 2199 || month < 1 || month > 12 || day < 1 || day > days_in_month(month, year))
        return 0;
    set_value(m, "%04d-%02d-%02d", year, month, day);
    m->label = "DATE";
    return j + 5;
}

/* MONTH YEAR ("mars 2024"); début|fin|mi- MONTH [YEAR] (vague: no value); MONTH after "en", "depuis"… */
static int date_month(const doc *d, int i, match *m) {
    int j = i, vague = 0;
    if (is_one_of(d, j, QUALIFIERS)) {
        vague = 1;
        j++;
        if (is_dash(d, j) && glued(d, j)) j++;
        if (!near(d, j)) return 0;
    }
    int month = lookup(MONTHS, at(d, j));
    if (month < 0) return 0;
    j++;
    int year = near(d, j) ? year_at(d, j) : 0;
    if (year) j++;
    m->label = "DATE";
    if (vague) return j;
    if (year) {
        set_value(m, "%04d-%02d", year, month);
        return j;
    }
    int b = before(d, i);
    static const char *const cues[] = {"en", "depuis", "dès", "courant", "jusqu", "de", NULL};
    if (!is_one_of(d, b, cues) || at(d, j)->kind == T_NUM) return 0;
    set_value(m, "--%02d", month);
    return j;
}

/* Is the token after a bare year one a date may have after it? */
static int fits_after_year(const doc *d, int j) {
    const dtok *t = at(d, j);
    return t->kind != T_WORD || t->upper || is_one_of(d, j, AFTER_YEAR);
}

/* Years: "l'an 2000", "fin 2024", "1914-1918", "de 1914 à 1918", "entre 1990 et 2000", "en 1998". */
static int date_year(const doc *d, int i, match *m) {
    int j = i, y, y2;
    m->label = "DATE";
    int w = elided(d, i, "l");
    if ((w >= 0 && (is_word(d, w, "an") || is_word(d, w, "année"))) || is_word(d, i, "an") ||
        is_word(d, i, "année")) {
        j = w >= 0 ? w + 1 : i + 1;
        if (!near(d, j) || !(y = year_at(d, j))) return 0;
        set_value(m, "%04d", y);
        return j + 1;
    }
    if (is_one_of(d, i, QUALIFIERS)) {
        j = i + 1;
        if (is_dash(d, j) && glued(d, j)) j++;
        return near(d, j) && year_at(d, j) ? j + 1 : 0;
    }
    if (!(y = year_at(d, i))) return 0;
    if (is_dash(d, i + 1) && glued(d, i + 1) && glued(d, i + 2) && (y2 = year_at(d, i + 2)) && y2 > y &&
        y2 - y <= 200) {
        set_value(m, "%04d/%04d", y, y2);
        return i + 3;
    }
    int b = before(d, i);
    if ((is_word(d, b, "de") && is_word(d, i + 1, "à")) ||
        (is_word(d, b, "entre") && is_word(d, i + 1, "et"))) {
        if (near(d, i + 1) && near(d, i + 2) && (y2 = year_at(d, i + 2)) && y2 > y) {
            set_value(m, "%04d/%04d", y, y2);
            return i + 3;
        }
    }
    if (!is_one_of(d, b, YEAR_CUES) || !fits_after_year(d, i + 1)) return 0;
    set_value(m, "%04d", y);
    return i + 1;
}

/* [les] années 1960 | 60 | soixante: a decade "1960/1969" */
static int date_decade(const doc *d, int i, match *m) {
    int j = is_word(d, i, "les") ? i + 1 : i;
    if (!is_word(d, j, "années") || (j > i && !near(d, j)) || !near(d, j + 1)) return 0;
    j++;
    const dtok *t = at(d, j);
    decimal x;
    int64_t y = -1, end = j + 1;
    if (t->kind == T_NUM && t->digits == 4 && t->num % 10 == 0 && t->num >= 1000 && t->num <= 2190)
        y = t->num;
    else if (t->kind == T_NUM && t->digits == 2 && t->num % 10 == 0 && t->num >= 10)
        y = 1900 + t->num;
    else if ((end = words_number(d, j, &x)) && x.m >= 10 && x.m <= 90 && x.m % 10 == 0)
        y = 1900 + x.m;
    if (y < 0) return 0;
    set_value(m, "%04d/%04d", (int)y, (int)y + 9);
    m->label = "DATE";
    return (int)end;
}

/* The value of a Roman numeral of upper-case letters, s[0, n), or -1 */
static int roman(const char *s, size_t n) {
    int total = 0, prev = 0;
    for (size_t k = n; k-- > 0;) {
        int v = s[k] == 'I'   ? 1
                : s[k] == 'V' ? 5
                : s[k] == 'X' ? 10
                : s[k] == 'L' ? 50
                : s[k] == 'C' ? 100
                              : -1;
        if (v < 0) return -1;
        total += v < prev ? -v : v;
        if (v > prev) prev = v;
    }
    return n ? total : -1;
}

/* [le] XIXe siècle, 19e siècle: "1801/1900" */
static int date_century(const doc *d, int i, match *m) {
    static const char *const SUFFIXES[] = {"e", "ème", "eme", "è", "er", "ᵉ", "ᵉʳ", NULL};
    int j = is_word(d, i, "le") && near(d, i + 1) ? i + 1 : i;
    const dtok *t = at(d, j);
    int c = -1;
    if (t->kind == T_NUM && t->digits <= 2 && glued(d, j + 1) && is_one_of(d, j + 1, SUFFIXES)) {
        c = (int)t->num;
        j += 2;
    } else if (t->kind == T_WORD) {
        size_t n = 0, len = t->end - t->start;
        const char *s = d->text + t->start;
        while (n < len && s[n] && strchr("IVXLC", s[n])) n++;
        for (const char *const *x = SUFFIXES; *x && c < 0; x++)
            if (n > 0 && len - n == strlen(*x) && !memcmp(s + n, *x, len - n)) c = roman(s, n);
        j++;
    }
    if (c < 1 || c > 30 || !near(d, j) || !is_word(d, j, "siècle")) return 0;
    set_value(m, "%04d/%04d", (c - 1) * 100 + 1, c * 100);
    m->label = "DATE";
    return j + 1;
}

/* l'été 2027, au printemps 2020 ("2027-22": ISO 8601-2's season codes); l'hiver dernier, cet été (no value)
 */
static int date_season(const doc *d, int i, match *m) {
    int j = i, w = elided(d, i, "l");
    int demonstrative = is_word(d, i, "cet") || is_word(d, i, "ce");
    if (w >= 0)
        j = w;
    else if (is_word(d, i, "le") || demonstrative)
        j = i + 1;
    if (j > i && w < 0 && !near(d, j)) return 0;
    int season = lookup(SEASONS, at(d, j));
    if (season < 0) return 0;
    int cue = j == i && (is_word(d, i - 1, "au") || is_word(d, i - 1, "en")); /* au printemps, en hiver */
    m->label = "DATE";
    int y = near(d, j + 1) ? year_at(d, j + 1) : 0;
    if (y) {
        set_value(m, "%04d-%02d", y, season);
        return j + 2;
    }
    if (near(d, j + 1) && is_one_of(d, j + 1, NEXT_OR_LAST)) return j + 2;
    return demonstrative || cue ? j + 1 : 0;
}

/* hier, demain, aujourd'hui, avant-hier, la veille, la semaine dernière, ce mois-ci, il y a deux jours,
   samedi prochain, lundi: dates with no value */
static int date_relative(const doc *d, int i, match *m) {
    static const char *const UNITS[] = {"semaine",   "mois",     "année", "an",
                                        "trimestre", "semestre", "week",  NULL};
    static const char *const AGO_UNITS[] = {"jour",      "jours",  "semaine", "semaines", "mois",
                                            "an",        "ans",    "année",   "années",   "décennie",
                                            "décennies", "siècle", "siècles", NULL};
    m->label = "DATE";
    if (is_word(d, i, "hier") || is_word(d, i, "demain")) return i + 1;
    if (is_word(d, i, "aujourd") && is_apostrophe(d, i + 1) && glued(d, i + 1) && glued(d, i + 2) &&
        is_word(d, i + 2, "hui"))
        return i + 3;
    if ((is_word(d, i, "avant") || is_word(d, i, "après")) && is_dash(d, i + 1) && glued(d, i + 1) &&
        glued(d, i + 2) &&
        (is_word(d, i + 2, "hier") || is_word(d, i + 2, "demain") || is_word(d, i + 2, "veille")))
        return i + 3;
    if ((is_word(d, i, "la") || is_word(d, i, "le")) && near(d, i + 1) &&
        (is_word(d, i + 1, "veille") || is_word(d, i + 1, "lendemain")))
        return i + 2;
    /* the unit: la semaine dernière, l'an prochain, ce mois-ci, cette année, le week-end dernier */
    int w = elided(d, i, "l"),
        demonstrative = is_word(d, i, "ce") || is_word(d, i, "cette") || is_word(d, i, "cet");
    int j = w >= 0 ? w : demonstrative || is_word(d, i, "la") || is_word(d, i, "le") ? i + 1 : -1;
    if (j > 0 && (w >= 0 || near(d, j)) && is_one_of(d, j, UNITS)) {
        int k = j + 1;
        if (is_word(d, j, "week")) {
            if (!(is_dash(d, k) && glued(d, k) && glued(d, k + 1) && is_word(d, k + 1, "end"))) return 0;
            k += 2;
        }
        if (near(d, k) && is_one_of(d, k, NEXT_OR_LAST)) return k + 1;
        if (demonstrative && is_dash(d, k) && glued(d, k) && is_word(d, k + 1, "ci")) return k + 2;
        if (demonstrative && !is_word(d, j, "an")) return k;
        return 0;
    }
    /* il y a deux jours */
    if (is_word(d, i, "il") && is_word(d, i + 1, "y") && is_word(d, i + 2, "a") && near(d, i + 1) &&
        near(d, i + 2) && near(d, i + 3)) {
        decimal x;
        int k = is_word(d, i + 3, "quelques") ? i + 4 : number(d, i + 3, &x);
        if (k && near(d, k) && is_one_of(d, k, AGO_UNITS)) return k + 1;
        return 0;
    }
    /* samedi prochain, ce samedi, lundi */
    j = demonstrative || is_word(d, i, "le") ? i + 1 : i;
    if (!is_one_of(d, j, WEEKDAYS) || (j > i && !near(d, j))) return 0;
    if (near(d, j + 1) && is_one_of(d, j + 1, NEXT_OR_LAST)) return j + 2;
    return j + 1;
}

/* ---- times --------------------------------------------------------------------------------------------- */

/* words after which an hour without minutes is a time: "à 17 heures", "il est 17 heures" */
static const char *const TIME_CUES[] = {"à",     "vers",  "dès", "avant", "après", "depuis",
                                        "entre", "jusqu", "est", "était", "sera",  NULL};
/* words before a duration, not a time: "pendant 2 h 30", "en 48 heures" */
static const char *const DURATION_CUES[] = {
    "pendant", "durant",  "dure",  "duré",    "durée", "en",  "plus",    "moins", "de",    "les",
    "des",     "environ", "prend", "prendra", "mis",   "met", "compter", "faut",  "fallu", NULL};

/* Hours then h|heure(s) at i: the token after the h, the hour in *h */
static int hour_at(const doc *d, int i, int *h) {
    decimal x;
    int j = digits_number(d, i, &x);
    if (j == i + 1 && at(d, i)->digits <= 2) {
        if (!near(d, j) || !(is_word(d, j, "h") || is_word(d, j, "heures") || is_word(d, j, "heure")))
            return 0;
    } else if ((j = words_number(d, i, &x)) && x.scale == 0) {
        if (!near(d, j) || !(is_word(d, j, "heures") || is_word(d, j, "heure"))) return 0;
    } else {
        return 0;
    }
    if (x.scale || x.m > 24) return 0;
    *h = (int)x.m;
    return j + 1;
}

/* 14 h 30, 8h15, 14:30, à 17 heures, midi, minuit et demie */
static int time_clock(const doc *d, int i, match *m) {
    int h = -1, min = -1, j;
    int b = before(d, i);
    int cue = is_one_of(d, b, TIME_CUES) || (is_word(d, b, "et") && d->last_time_end == b) ||
              (is_word(d, b, "de") && (is_word(d, b - 1, "partir") || is_word(d, b - 1, "alentours")));
    if (is_dash(d, i - 1) && glued(d, i) && d->last_time_end != i - 1)
        return 0; /* après-midi; 9h-17h is two */
    if (is_word(d, i, "midi") || is_word(d, i, "minuit")) {
        if (at(d, i)->upper && !cue) return 0; /* le Midi: the south */
        h = is_word(d, i, "midi") ? 12 : 0;
        j = i + 1;
    } else if (at(d, i)->kind == T_NUM && at(d, i)->digits <= 2 && is_sym(d, i + 1, ':') && glued(d, i + 1) &&
               glued(d, i + 2) && at(d, i + 2)->kind == T_NUM && at(d, i + 2)->digits == 2 &&
               !(is_sym(d, i + 3, ':') && glued(d, i + 3))) {
        h = (int)at(d, i)->num, min = (int)at(d, i + 2)->num;
        j = i + 3;
    } else if ((j = hour_at(d, i, &h))) {
        if (near(d, j) && at(d, j)->kind == T_NUM && at(d, j)->digits == 2) {
            min = (int)at(d, j)->num;
            j++;
            if (is_word(d, j, "min") && near(d, j)) j++;
        }
    } else {
        return 0;
    }
    if (min < 0 && near(d, j) && is_word(d, j, "et") && near(d, j + 1)) {
        if (is_word(d, j + 1, "demie") || is_word(d, j + 1, "demi"))
            min = 30, j += 2;
        else if (is_word(d, j + 1, "quart"))
            min = 15, j += 2;
    } else if (min < 0 && is_word(d, j, "moins") && is_word(d, j + 1, "le") && is_word(d, j + 2, "quart") &&
               near(d, j) && near(d, j + 1) && near(d, j + 2) && h > 0) {
        min = 45, h--, j += 3;
    }
    if (h > 24 || min > 59 || (h == 24 && min > 0)) return 0;
    int clock = min >= 0 || is_word(d, i, "midi") || is_word(d, i, "minuit");
    /* "de 9 h à 17 h": the first is a time too */
    int range = is_word(d, b, "de") && is_word(d, j, "à") && near(d, j + 1) && hour_at(d, j + 1, &(int){0});
    if (is_one_of(d, b, DURATION_CUES) && !range && !cue) return 0;
    if (!clock && !cue && !range) return 0;
    set_value(m, "%02d:%02d", h, min < 0 ? 0 : min);
    m->label = "TIME";
    return j;
}

/* ---- amounts and percentages --------------------------------------------------------------------------- */

typedef struct {
    const char *word;
    const char *code;
} currency;

/* currency names (after a number) -> ISO 4217 */
static const currency CURRENCY_NAMES[] = {
    {"euro", "EUR"},    {"euros", "EUR"},   {"dollar", "USD"},   {"dollars", "USD"}, {"franc", "FRF"},
    {"francs", "FRF"},  {"yen", "JPY"},     {"yens", "JPY"},     {"yuan", "CNY"},    {"yuans", "CNY"},
    {"rouble", "RUB"},  {"roubles", "RUB"}, {"roupie", "INR"},   {"roupies", "INR"}, {"dirham", "MAD"},
    {"dirhams", "MAD"}, {"centime", "EUR"}, {"centimes", "EUR"}, {"livre", "GBP"},   {"livres", "GBP"},
    {NULL, NULL}};
/* the word after a currency name that changes it: francs suisses, dollars canadiens */
static const currency CURRENCY_QUALIFIERS[] = {
    {"suisse", "CHF"},     {"suisses", "CHF"},  {"cfa", "XOF"},        {"belge", "BEF"},
    {"belges", "BEF"},     {"canadien", "CAD"}, {"canadiens", "CAD"},  {"américain", "USD"},
    {"américains", "USD"}, {"us", "USD"},       {"australien", "AUD"}, {"australiens", "AUD"},
    {"sterling", "GBP"},   {NULL, NULL}};
/* ISO codes written after an amount */
static const char *const CURRENCY_CODES[] = {"EUR", "USD", "CHF", "GBP", "JPY",
                                             "CAD", "CNY", "XOF", "AUD", NULL};

static const char *symbol_code(int32_t c) {
    return c == 0x20AC ? "EUR" : c == '$' ? "USD" : c == 0xA3 ? "GBP" : c == 0xA5 ? "JPY" : NULL;
}

static const char *currency_of(const currency *table, const dtok *t) {
    if (t->kind != T_WORD) return NULL;
    for (const currency *c = table; c->word; c++)
        if (!strcmp(c->word, t->low)) return c->code;
    return NULL;
}

/* 1 250 €, 12 millions d'euros, 3,2 milliards de dollars, 50 000 francs suisses, 12 centimes, 1,5 Md€ */
static int money(const doc *d, int i, match *m) {
    decimal x;
    int j = number(d, i, &x);
    if (!j) return 0;
    int scale = 0;
    static const entry SCALES[] = {{"million", 6},  {"millions", 6},  {"milliard", 9}, {"milliards", 9},
                                   {"billion", 12}, {"billions", 12}, {NULL, 0}};
    static const entry SHORT_SCALES[] = {{"k", 3},   {"m", 6},    {"md", 9}, {"mds", 9},
                                         {"mrd", 9}, {"mrds", 9}, {NULL, 0}};
    int s = near(d, j) ? lookup(SCALES, at(d, j)) : -1;
    if (s > 0) {
        scale = s;
        j++;
    } else if (near(d, j) && (s = lookup(SHORT_SCALES, at(d, j))) > 0 && glued(d, j + 1) &&
               at(d, j + 1)->kind == T_SYM && symbol_code(at(d, j + 1)->cp)) {
        scale = s;
        j++;
    }
    const char *code = NULL;
    int cents = 0;
    const dtok *t = at(d, j);
    if (t->kind == T_SYM && (scale ? glued(d, j) || near(d, j) : near(d, j)) && (code = symbol_code(t->cp))) {
        j++;
    } else if (t->kind == T_WORD && t->upper == 2 && near(d, j)) {
        for (const char *const *c = CURRENCY_CODES; *c && !code; c++)
            if (strlen(*c) == 3 && t->end - t->start == 3 && !memcmp(d->text + t->start, *c, 3)) code = *c;
        if (code) j++;
    } else {
        int k = j;
        if (!near(d, k)) return 0;
        if (scale && is_word(d, k, "de") && near(d, k + 1))
            k++;
        else if (scale && is_word(d, k, "d") && is_apostrophe(d, k + 1) && glued(d, k + 1) && glued(d, k + 2))
            k += 2;
        if ((code = currency_of(CURRENCY_NAMES, at(d, k)))) {
            int livre = !strncmp(at(d, k)->low, "livre", 5);
            cents = !strncmp(at(d, k)->low, "centime", 7);
            j = k + 1;
            const char *q = near(d, j) ? currency_of(CURRENCY_QUALIFIERS, at(d, j)) : NULL;
            if (q && !cents && (strcmp(q, "GBP") == 0) == livre)
                code = q, j++;
            else if (livre)
                return 0; /* "3 livres": books */
            /* 50 centimes d'euro */
            if (cents && near(d, j) && is_word(d, j, "d") && is_apostrophe(d, j + 1) && glued(d, j + 2) &&
                is_word(d, j + 2, "euro"))
                j += 3;
        }
    }
    if (!code || !decimal_times_pow10(&x, scale)) return 0;
    if (cents) x.scale += 2;
    char amount[24];
    decimal_format(x, 0, amount, sizeof amount);
    set_value(m, "%s %s", amount, code);
    m->label = "MONEY";
    return j;
}

/* 5 %, 7,1 %, -0,3 %, vingt pour cent */
static int percent(const doc *d, int i, match *m) {
    int k = i, negative = 0;
    if ((is_sym(d, i, '-') || is_sym(d, i, 0x2212) || is_sym(d, i, '+')) && glued(d, i + 1) &&
        at(d, i + 1)->kind == T_NUM && (i == 0 || at(d, i)->gap > 0 || is_sym(d, i - 1, '('))) {
        negative = !is_sym(d, i, '+');
        k = i + 1;
    }
    decimal x;
    int j = number(d, k, &x);
    if (!j) return 0;
    if (is_sym(d, j, '%') && near(d, j))
        j++;
    else if (is_word(d, j, "pour") && is_word(d, j + 1, "cent") && near(d, j) && near(d, j + 1))
        j += 2;
    else if (is_word(d, j, "pourcent") && near(d, j))
        j++;
    else
        return 0;
    decimal_format(x, negative, m->value, sizeof m->value);
    m->label = "PERCENT";
    return j;
}

/* ---- the scan ------------------------------------------------------------------------------------------ */

typedef int (*pattern)(const doc *d, int i, match *m);

static const pattern PATTERNS[] = {date_day_month, date_numeric, date_month,  date_year,
                                   date_decade,    date_century, date_season, date_relative,
                                   time_clock,     money,        percent};

sl_status sl_recognize_dates(const char *text, size_t len, sl_entities *out, sl_error *err) {
    if (!out || (!text && len))
        return sl_fail(err, SL_ERR_ARGUMENT, "sl_recognize_dates: no text or no output");
    dtok *t = NULL;
    int n = 0;
    sl_status s = len ? tokenize(text, len, &t, &n, err) : SL_OK;
    if (s != SL_OK) return s;
    doc d = {.text = text, .t = t, .n = n, .last_time_end = -1};
    size_t n0 = out->n;
    for (int i = 0; i < n && s == SL_OK;) {
        match best = {0};
        int best_end = i;
        for (size_t p = 0; p < sizeof PATTERNS / sizeof *PATTERNS; p++) {
            match m = {0};
            int e = PATTERNS[p](&d, i, &m);
            if (e > best_end && e <= i + LOOKAHEAD && e <= n && m.label) best = m, best_end = e;
        }
        if (best_end == i) {
            i++;
            continue;
        }
        sl_entity e = {.label = best.label, .score = 1.0f, .start = t[i].start, .end = t[best_end - 1].end};
        memcpy(e.value, best.value, sizeof e.value);
        s = sl_entities_push(out, &e, err);
        if (!strcmp(best.label, "TIME")) d.last_time_end = best_end;
        i = best_end;
    }
    if (s != SL_OK) out->n = n0;
    free(t);
    return s;
}

/* ---- merging with the model's entities ----------------------------------------------------------------- */

static int overlap(const sl_entity *a, const sl_entity *b) {
    return a->start < b->end && b->start < a->end;
}
/* Bytes of the white space or punctuation character at text[i] (i < to), 0 for another character. */
static size_t space_or_punctuation(const char *text, size_t i, size_t to) {
    int32_t c;
    int k = decode((const unsigned char *)text, to, i, &c);
    if (c < 0) return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    return is_space(c) || (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ? (size_t)k : 0;
}

/* Whether text[from, to) has no word but prepositions and articles ("en ", "du ", "l'"): what a model
   often adds at the edge of a date it mistakes for a place ("en 2015" LOC, "du XVIe siècle" ORG). */
static int only_function_words(const char *text, size_t from, size_t to) {
    static const char *const WORDS[] = {"le",   "la", "les", "l",   "de",       "du",         "des",
                                        "d",    "en", "au",  "aux", "\xC3\xA0", "d\xC3\xA8s", "depuis",
                                        "vers", "et", "un",  "une", NULL};
    size_t i = from;
    while (i < to) {
        size_t k;
        if ((k = space_or_punctuation(text, i, to)) > 0) {
            i += k;
            continue;
        }
        size_t w = i; /* a word: up to the next space or punctuation, lower-cased for ASCII and À */
        while (w < to && space_or_punctuation(text, w, to) == 0) w++;
        char low[8];
        size_t n = 0, q = i;
        for (; q < w && n < sizeof low - 1; q++, n++) {
            unsigned char c = (unsigned char)text[q];
            low[n] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            if (c == 0x80 && n > 0 && (unsigned char)low[n - 1] == 0xC3) low[n] = (char)0xA0; /* À -> à */
        }
        low[n] = 0;
        int known = 0;
        for (const char *const *x = WORDS; *x && !known; x++) known = q == w && !strcmp(low, *x);
        if (!known) return 0;
        i = w;
    }
    return 1;
}

/* The model's a holds the rule's b whole and more, and the more is a name's ("Mai 68" around "Mai", "rue du
   4 Septembre" around "4 Septembre"), not a preposition or an article. */
static int holds(const char *text, const sl_entity *a, const sl_entity *b) {
    return a->start <= b->start && b->end <= a->end && a->end - a->start > b->end - b->start &&
           !(text && only_function_words(text, a->start, b->start) &&
             only_function_words(text, b->end, a->end));
}

sl_status sl_dates_merge(sl_entities *out, size_t from, const sl_entities *rules, const char *text,
                         sl_error *err) {
    if (!rules || rules->n == 0) return SL_OK;
    const size_t n_model = out->n - from;
    uint8_t *keep_rule = malloc(rules->n), *keep_model = malloc(n_model ? n_model : 1);
    if (!keep_rule || !keep_model) {
        free(keep_rule);
        free(keep_model);
        return sl_fail(err, SL_ERR_MEMORY, "no memory to merge %zu entities", rules->n);
    }
    memset(keep_model, 1, n_model ? n_model : 1);
    /* Both lists are in text order and do not overlap within themselves, so the model entities a rule entity
       overlaps are consecutive, and j only moves forward. A model entity that holds the rule entity whole and
       more than prepositions and articles wins; otherwise the rule entity wins and the model entities it
       overlaps go. */
    const sl_entity *model = n_model ? out->items + from : NULL; /* no entities yet: items may be NULL */
    size_t kept = 0, j = 0;
    for (size_t r = 0; r < rules->n; r++) {
        const sl_entity *x = &rules->items[r];
        while (j < n_model && model[j].end <= x->start) j++;
        keep_rule[r] = 1;
        for (size_t k = j; k < n_model && model[k].start < x->end; k++)
            if (holds(text, &model[k], x)) keep_rule[r] = 0;
        for (size_t k = j; keep_rule[r] && k < n_model && model[k].start < x->end; k++)
            if (overlap(&model[k], x)) keep_model[k] = 0;
        kept += keep_rule[r];
    }
    if (kept && out->n + kept > out->cap) { /* room first: a failure leaves out as it was */
        size_t cap = out->n + kept;
        sl_entity *items = realloc(out->items, cap * sizeof *items);
        if (!items) {
            free(keep_rule);
            free(keep_model);
            return sl_fail(err, SL_ERR_MEMORY, "no memory to merge %zu entities", kept);
        }
        out->items = items;
        out->cap = cap;
    }
    size_t n = from;
    for (size_t k = 0; k < n_model; k++)
        if (keep_model[k]) out->items[n++] = out->items[from + k];
    out->n = n;
    /* merge from the back, in place: the model's entities move right past the rule entities after them */
    size_t a = out->n, w = out->n + kept, r = rules->n;
    while (r > 0) {
        if (!keep_rule[r - 1]) {
            r--;
            continue;
        }
        const sl_entity *x = &rules->items[r - 1];
        if (a > from && out->items[a - 1].start >= x->start)
            out->items[--w] = out->items[--a];
        else
            out->items[--w] = *x, r--;
    }
    out->n += kept;
    free(keep_rule);
    free(keep_model);
    return SL_OK;
}
