/* CoNLL reader; the format and the choices are described in conll.h.

   One pass over the lines after counting them: the line count bounds the words and the sentences, so the
   arrays are allocated once. While reading, tags are kept as IOB2 ids over the types of the data
   (0 = O, 1 + 2t = B-t, 2 + 2t = I-t); at the end they become ids of the data's label set (the same ids)
   or are encoded, sentence by sentence, in the given label set's scheme. */
#include "conll.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "metrics.h"

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1), or 0: no overlong forms, no surrogates, nothing
   above U+10FFFF, no NUL (a 0 byte would cut a word short in `text`). */
static size_t utf8_length(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0)
        len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC)
        len = 3;
    else if (c == 0xED)
        len = 3, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF)
        len = 3;
    else if (c == 0xF0)
        len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4)
        len = 4, hi = 0x8F;
    else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return len;
}

/* ---- parsing state -------------------------------------------------------------------------- */

/* An entity type met in the data. */
typedef struct {
    char *name;
    int model_type; /* with a given label set: its type index, or -1 (unknown, written as O) */
} data_type;

typedef struct {
    const char *name;
    const sl_labelset *given;
    int unknown_to_o;
    data_type *types;
    int n_types, cap_types;
    int *encode; /* with a given set: (n_model_types, 4) ids of B, I, E, S (-1 if absent) */
    int o_id;    /* with a given set: the id of O */
} reader;

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

/* The list of a label set's names for a message, cut short with "..." to fit. */
static void label_list(const sl_labelset *ls, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < ls->n_labels; i++) {
        size_t need = strlen(ls->labels[i]) + (i ? 2 : 0);
        if (len + need + 5 >= size) { /* keep room for ", ..." */
            snprintf(buf + len, size - len, "%s...", i ? ", " : "");
            return;
        }
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", ls->labels[i]);
    }
}

/* Sets *index to the data type named s[0..n), adding it when new. With a given label set the type is
   looked up there when first met, so an unknown type is reported at its first line. */
static sl_status type_index(reader *r, const char *s, size_t n, const char *tag, size_t tag_len, int line,
                            int *index, sl_error *err) {
    for (int t = 0; t < r->n_types; t++)
        if (strlen(r->types[t].name) == n && memcmp(r->types[t].name, s, n) == 0) {
            *index = t;
            return SL_OK;
        }
    int model_type = -1;
    if (r->given) {
        for (int u = 0; u < r->given->n_types; u++)
            if (strlen(r->given->types[u]) == n && memcmp(r->given->types[u], s, n) == 0) model_type = u;
        if (model_type < 0 && !r->unknown_to_o) {
            char labels[320];
            label_list(r->given, labels, sizeof labels);
            return sl_fail(err, SL_ERR_FORMAT, "%s:%d: tag '%.*s' is not among the model's labels (%s)",
                           r->name, line, (int)(tag_len > 64 ? 64 : tag_len), tag, labels);
        }
    }
    if (r->n_types == r->cap_types) {
        int cap = r->cap_types ? 2 * r->cap_types : 8;
        data_type *types = realloc(r->types, (size_t)cap * sizeof *types);
        if (!types) return sl_fail(err, SL_ERR_MEMORY, "%s: cannot grow the list of entity types", r->name);
        r->types = types;
        r->cap_types = cap;
    }
    char *name = malloc(n + 1);
    if (!name) return sl_fail(err, SL_ERR_MEMORY, "%s: cannot copy an entity type", r->name);
    memcpy(name, s, n);
    name[n] = 0;
    r->types[r->n_types] = (data_type){name, model_type};
    *index = r->n_types++;
    return SL_OK;
}

/* Splits a tag into its letter ('O', 'B', 'I', 'E', 'S'; L and U are BILOU's E and S) and its type.
   Returns 0 when it is neither O nor letter, '-' or '_', and a non-empty type other than O. */
static int split_tag(const char *tag, size_t n, char *letter, const char **type, size_t *type_len) {
    if (n == 1 && tag[0] == 'O') {
        *letter = 'O';
        return 1;
    }
    if (n < 3 || (tag[1] != '-' && tag[1] != '_')) return 0;
    switch (tag[0]) {
    case 'B':
        *letter = 'B';
        break;
    case 'I':
        *letter = 'I';
        break;
    case 'E':
    case 'L':
        *letter = 'E';
        break;
    case 'S':
    case 'U':
        *letter = 'S';
        break;
    default:
        return 0;
    }
    *type = tag + 2;
    *type_len = n - 2;
    return !(n == 3 && tag[2] == 'O');
}

/* Prepares the encoding into a given label set: the ids of O and of B/I/E/S for each of its types. */
static sl_status prepare_encoding(reader *r, sl_error *err) {
    const sl_labelset *ls = r->given;
    if (ls->n_labels <= 0 || !ls->labels || !ls->tag_of || !ls->type_of)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: the given label set is empty", r->name);
    r->o_id = -1;
    r->encode = malloc((size_t)(ls->n_types > 0 ? ls->n_types : 1) * 4 * sizeof *r->encode);
    if (!r->encode) return sl_fail(err, SL_ERR_MEMORY, "%s: cannot allocate the label encoding", r->name);
    for (int k = 0; k < ls->n_types * 4; k++) r->encode[k] = -1;
    for (int i = ls->n_labels - 1; i >= 0; i--) { /* backwards: the first of duplicate labels wins */
        if (ls->tag_of[i] == 'O') {
            r->o_id = i;
            continue;
        }
        int t = ls->type_of[i];
        if (t < 0 || t >= ls->n_types) continue;
        const char *letters = "BIES", *at = strchr(letters, ls->tag_of[i]);
        if (at && *at) r->encode[t * 4 + (at - letters)] = i;
    }
    if (r->o_id < 0) {
        char labels[320];
        label_list(ls, labels, sizeof labels);
        return sl_fail(err, SL_ERR_FORMAT, "%s: the model's labels have no O (%s)", r->name, labels);
    }
    return SL_OK;
}

/* Rewrites the IOB2 data ids of one sentence as ids of the given label set, in its scheme. */
static sl_status encode_sentence(reader *r, sl_conll *c, int first, int end, sl_error *err) {
    for (int w = first; w < end; w++) {
        int id = c->tags[w];
        if (id == 0) {
            c->tags[w] = r->o_id;
            continue;
        }
        int t = (id - 1) / 2, begins = (id - 1) % 2 == 0;
        int u = r->types[t].model_type;
        if (u < 0) {
            c->tags[w] = r->o_id;
            c->n_mapped++;
            continue;
        }
        /* does the entity go on at the next word? (an I of the same type; still a data id there) */
        int continues = w + 1 < end && c->tags[w + 1] == 2 + 2 * t;
        const int *e = r->encode + u * 4; /* B, I, E, S */
        int label, bioes = e[2] >= 0 && e[3] >= 0;
        if (bioes)
            label = begins ? (continues ? e[0] : e[3]) : (continues ? e[1] : e[2]);
        else if (begins)
            label = e[0] >= 0 ? e[0] : e[1]; /* no B- label: the model marks entities with I- */
        else
            label = e[1];
        if (label < 0) {
            char labels[320];
            label_list(r->given, labels, sizeof labels);
            return sl_fail(err, SL_ERR_FORMAT,
                           "%s:%d: the model's labels cannot write a %s of type '%s' in their scheme (%s)",
                           r->name, c->lines[w], begins ? "beginning" : "continuation", r->types[t].name,
                           labels);
        }
        c->tags[w] = label;
    }
    return SL_OK;
}

static sl_status build_data_labels(reader *r, sl_conll *c, sl_error *err) {
    int n = 1 + 2 * r->n_types;
    char **names = calloc((size_t)n, sizeof *names);
    if (!names) return sl_fail(err, SL_ERR_MEMORY, "%s: cannot allocate %d label names", r->name, n);
    sl_status st = SL_OK;
    names[0] = "O";
    for (int t = 0; t < r->n_types && st == SL_OK; t++) {
        size_t len = strlen(r->types[t].name) + 3;
        names[1 + 2 * t] = malloc(len);
        names[2 + 2 * t] = malloc(len);
        if (!names[1 + 2 * t] || !names[2 + 2 * t]) {
            st = sl_fail(err, SL_ERR_MEMORY, "%s: cannot allocate label names", r->name);
            break;
        }
        snprintf(names[1 + 2 * t], len, "B-%s", r->types[t].name);
        snprintf(names[2 + 2 * t], len, "I-%s", r->types[t].name);
    }
    if (st == SL_OK) {
        st = sl_labelset_init(&c->labels, (const char *const *)names, n, err);
        if (st != SL_OK) sl_fail_context(err, "%s: label set of the data", r->name);
    }
    for (int i = 1; i < n; i++) free(names[i]);
    free(names);
    return st;
}

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct {
    const char *start[3]; /* fields 0 and 1, and the last one */
    size_t len[3];
    int n;
} fields;

static void split_fields(const char *p, const char *end, fields *f) {
    f->n = 0;
    while (p < end) {
        while (p < end && is_space(*p)) p++;
        if (p == end) break;
        const char *q = p;
        while (q < end && !is_space(*q)) q++;
        if (f->n < 2) {
            f->start[f->n] = p;
            f->len[f->n] = (size_t)(q - p);
        }
        f->start[2] = p;
        f->len[2] = (size_t)(q - p);
        f->n++;
        p = q;
    }
}

static int all_digits(const char *s, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (s[k] < '0' || s[k] > '9') return 0;
    return n > 0;
}

/* Closes the sentence that began at word `first` (nothing if it is empty). */
static sl_status end_sentence(reader *r, sl_conll *c, int first, sl_error *err) {
    if (c->n_words == first) return SL_OK;
    if (r->given) {
        sl_status st = encode_sentence(r, c, first, c->n_words, err);
        if (st != SL_OK) return st;
    }
    c->sentence_start[++c->n_sentences] = c->n_words;
    return SL_OK;
}

static sl_status parse_lines(reader *r, const char *data, size_t size, sl_conll *c, sl_error *err) {
    const char *p = data, *end = data + size;
    char *text = c->text;
    int line = 0, first_word = 0, columns_line = 0;
    int open_type = -1; /* type of the entity the previous word is in, -1 after O or a closed entity */
    sl_status st;
    if (size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* byte-order mark */
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol) eol = end;
        const char *stop = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        for (const char *q = p; q < stop;) {
            size_t len = utf8_length((const unsigned char *)q, (size_t)(stop - q));
            if (len == 0)
                return sl_fail(err, SL_ERR_UTF8, "%s:%d:%d: invalid UTF-8 (byte 0x%02X)", r->name, line,
                               (int)(q - p) + 1, (unsigned char)*q);
            q += len;
        }
        fields f;
        split_fields(p, stop, &f);
        p = next;
        if (f.n == 0 || (f.len[0] == 10 && memcmp(f.start[0], "-DOCSTART-", 10) == 0)) {
            if ((st = end_sentence(r, c, first_word, err)) != SL_OK) return st;
            first_word = c->n_words;
            open_type = -1;
            continue;
        }
        if (f.n == 1)
            return sl_fail(err, SL_ERR_FORMAT, "%s:%d: missing tag: the line has one field ('%.*s')", r->name,
                           line, (int)(f.len[0] > 64 ? 64 : f.len[0]), f.start[0]);
        if (c->n_columns == 0) {
            c->n_columns = f.n;
            c->token_column = f.n >= 3 && all_digits(f.start[0], f.len[0]) ? 1 : 0;
            columns_line = line;
        } else if (f.n != c->n_columns) {
            return sl_fail(err, SL_ERR_FORMAT,
                           "%s:%d: %d fields, but the file's word lines have %d (as line %d)", r->name, line,
                           f.n, c->n_columns, columns_line);
        }
        const char *tag = f.start[2];
        size_t tag_len = f.len[2];
        char letter;
        const char *type_name = NULL;
        size_t type_len = 0;
        if (!split_tag(tag, tag_len, &letter, &type_name, &type_len))
            return sl_fail(err, SL_ERR_FORMAT, "%s:%d: tag '%.*s' is not O, nor B-, I-, E- or S- and a type",
                           r->name, line, (int)(tag_len > 64 ? 64 : tag_len), tag);
        int id = 0;
        if (letter != 'O') {
            int t = 0;
            if ((st = type_index(r, type_name, type_len, tag, tag_len, line, &t, err)) != SL_OK) return st;
            /* IOB2: an entity begins at B and S, and at an I or E that does not continue an open entity of
               its type (IOB1); S and E close it. */
            int begins = letter == 'B' || letter == 'S' || open_type != t;
            id = begins ? 1 + 2 * t : 2 + 2 * t;
            open_type = letter == 'S' || letter == 'E' ? -1 : t;
        } else {
            open_type = -1;
        }
        size_t token_len = f.len[c->token_column];
        memcpy(text, f.start[c->token_column], token_len);
        c->words[c->n_words] = text;
        text += token_len;
        *text++ = 0;
        c->tags[c->n_words] = id;
        c->lines[c->n_words] = line;
        c->n_words++;
    }
    return end_sentence(r, c, first_word, err);
}

static void reader_free(reader *r) {
    for (int t = 0; t < r->n_types; t++) free(r->types[t].name);
    free(r->types);
    free(r->encode);
}

sl_status sl_conll_parse(const char *data, size_t size, const char *name, const sl_conll_options *opt,
                         sl_conll *out, sl_error *err) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!data && size > 0) return sl_fail(err, SL_ERR_ARGUMENT, "%s: no data", name);
    if (size == 0) data = "";      /* no arithmetic on a null pointer below */
    if (size >= (size_t)INT32_MAX) /* word offsets and line numbers are int */
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: %zu bytes, more than a CoNLL file may have", name, size);
    /* Lines bound both words and sentences. */
    size_t n_lines = 1;
    for (const char *q = data; (q = memchr(q, '\n', size - (size_t)(q - data))) != NULL; q++) n_lines++;
    out->name = malloc(strlen(name) + 1);
    out->sentence_start = malloc((n_lines + 1) * sizeof *out->sentence_start);
    out->words = malloc(n_lines * sizeof *out->words);
    out->tags = malloc(n_lines * sizeof *out->tags);
    out->lines = malloc(n_lines * sizeof *out->lines);
    out->text = malloc(size + 1); /* each word is followed by a separator in the source: room for its 0 */
    reader r = {.name = name, .given = opt ? opt->labels : NULL, .unknown_to_o = opt && opt->unknown_to_o};
    sl_status st = SL_OK;
    if (!out->name || !out->sentence_start || !out->words || !out->tags || !out->lines || !out->text) {
        st = sl_fail(err, SL_ERR_MEMORY, "%s: cannot allocate room for %zu lines", name, n_lines);
        goto done;
    }
    strcpy(out->name, name);
    out->sentence_start[0] = 0;
    if (r.given && (st = prepare_encoding(&r, err)) != SL_OK) goto done;
    if ((st = parse_lines(&r, data, size, out, err)) != SL_OK) goto done;
    if (out->n_sentences == 0) {
        st = sl_fail(err, SL_ERR_FORMAT, "%s: no sentences (%s)", name,
                     size == 0 ? "empty file" : "only blank or -DOCSTART- lines");
        goto done;
    }
    if (r.given) {
        st = sl_labelset_init(&out->labels, (const char *const *)r.given->labels, r.given->n_labels, err);
        if (st != SL_OK) sl_fail_context(err, "%s: copying the model's labels", name);
    } else {
        st = build_data_labels(&r, out, err);
    }
done:
    reader_free(&r);
    if (st != SL_OK) sl_conll_free(out);
    return st;
}

sl_status sl_conll_read(const char *path, const sl_conll_options *opt, sl_conll *out, sl_error *err) {
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t size;
    sl_status st = sl_read_file(path, &data, &size, err);
    if (st != SL_OK) return st;
    st = sl_conll_parse((const char *)data, size, path, opt, out, err);
    free(data);
    return st;
}

void sl_conll_count_transitions(const sl_conll *c, double *counts) {
    for (int si = 0; si < c->n_sentences; si++)
        sl_ner_count_transitions(c->tags + c->sentence_start[si],
                                 c->sentence_start[si + 1] - c->sentence_start[si], c->labels.n_labels,
                                 counts);
}

void sl_conll_free(sl_conll *c) {
    if (!c) return;
    free(c->sentence_start);
    free(c->words);
    free(c->tags);
    free(c->lines);
    free(c->text);
    free(c->name);
    sl_labelset_free(&c->labels);
    memset(c, 0, sizeof *c);
}

/* ---- counts --------------------------------------------------------------------------------- */

long sl_conll_count_entities(const sl_conll *c, long *per_type) {
    if (per_type)
        for (int t = 0; t < c->labels.n_types; t++) per_type[t] = 0;
    int longest = 0;
    for (int s = 0; s < c->n_sentences; s++) {
        int n = c->sentence_start[s + 1] - c->sentence_start[s];
        if (n > longest) longest = n;
    }
    sl_chunk *chunks = malloc((size_t)(longest > 0 ? longest : 1) * sizeof *chunks);
    long total = 0;
    for (int s = 0; s < c->n_sentences; s++) {
        const int *tags = c->tags + c->sentence_start[s];
        int n = c->sentence_start[s + 1] - c->sentence_start[s];
        int k = sl_get_chunks(tags, n, &c->labels, chunks);
        if (k < 0) continue; /* cannot happen: the reader wrote only ids of c->labels */
        total += k;
        if (per_type && chunks)
            for (int j = 0; j < k; j++) per_type[chunks[j].type]++;
    }
    free(chunks);
    return total;
}

void sl_conll_print_counts(const sl_conll *c, FILE *f) {
    long *per_type = calloc((size_t)(c->labels.n_types > 0 ? c->labels.n_types : 1), sizeof *per_type);
    long total = sl_conll_count_entities(c, per_type);
    fprintf(f, "%s: %d sentences, %d words, %ld entities", c->name ? c->name : "<memory>", c->n_sentences,
            c->n_words, total);
    if (per_type && c->labels.n_types > 0) {
        fprintf(f, " (");
        for (int t = 0; t < c->labels.n_types; t++)
            fprintf(f, "%s%s %ld", t ? ", " : "", c->labels.types[t], per_type[t]);
        fprintf(f, ")");
    }
    if (c->n_mapped) fprintf(f, ", %d tags of unknown types read as O", c->n_mapped);
    fputc('\n', f);
    free(per_type);
}
