/* RFC 8259 JSON, parsed in two passes over the same code: the first checks the text and counts nodes and
   string bytes, the second fills one allocation of exactly that size. So the tree is one block (freed with
   one free()), node pointers never move, and a hostile input cannot make us allocate more than about
   twice its own size. */
#include "json.h"

#include <locale.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 64 };

typedef struct {
    const char *src;
    size_t len, pos;
    const char *name;
    int line;          /* 1-based line of src[pos] */
    size_t line_start; /* byte offset of the start of that line */
    int depth;
    sl_error *err;
    /* second pass only: where nodes and string bytes go (NULL in the first pass) */
    sl_json *nodes;
    char *strings;
    size_t n_nodes, n_string_bytes; /* used so far */
    sl_json scratch;                /* first pass: every node is written here and forgotten */
} json_parser;

static int column_at(const json_parser *p, size_t pos) {
    return (int)(pos - p->line_start) + 1;
}

/* "config.json:3:14: message" with the position of byte `pos` (always on the current line: newlines only
   occur between tokens, and the parser moves line by line). */
static sl_status fail_at(json_parser *p, size_t pos, const char *what) {
    return sl_fail(p->err, SL_ERR_FORMAT, "%s:%d:%d: %s", p->name, p->line, column_at(p, pos), what);
}

/* Names the byte at pos for a message: 'x', end of input, or a hex byte. */
static void describe_byte(const json_parser *p, size_t pos, char *buf, size_t cap) {
    if (pos >= p->len)
        snprintf(buf, cap, "end of input");
    else {
        unsigned char c = (unsigned char)p->src[pos];
        if (c >= 0x20 && c < 0x7f)
            snprintf(buf, cap, "'%c'", c);
        else
            snprintf(buf, cap, "byte 0x%02x", c);
    }
}

static sl_status fail_unexpected(json_parser *p, const char *expected) {
    char got[32], msg[160];
    describe_byte(p, p->pos, got, sizeof got);
    snprintf(msg, sizeof msg, "expected %s, found %s", expected, got);
    return fail_at(p, p->pos, msg);
}

static void skip_whitespace(json_parser *p) {
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c == '\n') {
            p->pos++;
            p->line++;
            p->line_start = p->pos;
        } else if (c == ' ' || c == '\t' || c == '\r')
            p->pos++;
        else
            break;
    }
}

static sl_json *new_node(json_parser *p, sl_json_type type, size_t at) {
    sl_json *n = p->nodes ? &p->nodes[p->n_nodes] : &p->scratch;
    p->n_nodes++;
    memset(n, 0, sizeof *n);
    n->type = type;
    n->line = p->line;
    n->column = column_at(p, at);
    return n;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static sl_status read_hex4(json_parser *p, size_t at, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = at + i < p->len ? hex_value(p->src[at + i]) : -1;
        if (h < 0) return fail_at(p, at + i, "\\u must be followed by 4 hexadecimal digits");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return SL_OK;
}

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0 if invalid: overlong forms,
   surrogates and code points above U+10FFFF are refused (Unicode Table 3-7). */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses the string at p->pos (at the opening quote). First pass: checks it and counts its unescaped bytes
   plus the terminating 0. Second pass: also writes them and returns where. An escaped decoded string is
   never longer than its source, so the count is bounded by the input size. */
static sl_status parse_string(json_parser *p, const char **out, size_t *out_len, int *has_nul) {
    size_t start = p->pos;
    char *dst = p->strings ? p->strings + p->n_string_bytes : NULL;
    size_t n = 0;
    *has_nul = 0;
    p->pos++; /* the opening quote */
    for (;;) {
        if (p->pos >= p->len) return fail_at(p, start, "unterminated string");
        unsigned char c = (unsigned char)p->src[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return fail_at(p, p->pos, "control character in string (escape it)");
        if (c == '\\') {
            size_t esc = p->pos;
            if (esc + 1 >= p->len) return fail_at(p, start, "unterminated string");
            char e = p->src[esc + 1], decoded = 0;
            switch (e) {
            case '"':
                decoded = '"';
                break;
            case '\\':
                decoded = '\\';
                break;
            case '/':
                decoded = '/';
                break;
            case 'b':
                decoded = '\b';
                break;
            case 'f':
                decoded = '\f';
                break;
            case 'n':
                decoded = '\n';
                break;
            case 'r':
                decoded = '\r';
                break;
            case 't':
                decoded = '\t';
                break;
            case 'u':
                break;
            default:
                return fail_at(p, esc, "invalid escape sequence in string");
            }
            if (e != 'u') {
                if (dst) dst[n] = decoded;
                n++;
                p->pos += 2;
                continue;
            }
            uint32_t cp = 0, low = 0;
            sl_status s = read_hex4(p, esc + 2, &cp);
            if (s != SL_OK) return s;
            p->pos = esc + 6;
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(p, esc, "unpaired low surrogate \\u in string");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* UTF-16 surrogate pair: a high half must be followed by an escaped low half */
                if (p->pos + 1 >= p->len || p->src[p->pos] != '\\' || p->src[p->pos + 1] != 'u')
                    return fail_at(p, esc, "high surrogate \\u not followed by a low surrogate");
                if ((s = read_hex4(p, p->pos + 2, &low)) != SL_OK) return s;
                if (low < 0xdc00 || low > 0xdfff)
                    return fail_at(p, p->pos, "high surrogate \\u not followed by a low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                p->pos += 6;
            }
            if (cp == 0) *has_nul = 1;
            char buf[4];
            size_t k = utf8_encode(cp, buf);
            if (dst) memcpy(dst + n, buf, k);
            n += k;
            continue;
        }
        size_t k = 1;
        if (c >= 0x80) {
            k = utf8_sequence_length((const unsigned char *)p->src + p->pos, p->len - p->pos);
            if (k == 0) return fail_at(p, p->pos, "invalid UTF-8 in string");
        }
        if (dst) memcpy(dst + n, p->src + p->pos, k);
        n += k;
        p->pos += k;
    }
    if (dst) dst[n] = 0;
    p->n_string_bytes += n + 1;
    *out = dst ? dst : "";
    *out_len = n;
    return SL_OK;
}

/* Number grammar of RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static sl_status parse_number(json_parser *p, double *out) {
    size_t start = p->pos, i = p->pos;
    const char *s = p->src;
#define DIGIT(k) ((k) < p->len && s[k] >= '0' && s[k] <= '9')
    if (i < p->len && s[i] == '-') i++;
    if (!DIGIT(i)) return fail_at(p, i, "expected a digit in number");
    if (s[i] == '0') {
        i++;
        if (DIGIT(i)) return fail_at(p, start, "leading zeros are not allowed in numbers");
    } else
        while (DIGIT(i)) i++;
    if (i < p->len && s[i] == '.') {
        i++;
        if (!DIGIT(i)) return fail_at(p, i, "expected a digit after '.' in number");
        while (DIGIT(i)) i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (!DIGIT(i)) return fail_at(p, i, "expected a digit in the exponent of number");
        while (DIGIT(i)) i++;
    }
#undef DIGIT
    /* strtod reads the locale's decimal point (',' under LC_NUMERIC=fr_FR), so '.' is replaced by it; the
       text is otherwise already checked, so strtod reads all of it. */
    const char *point = localeconv()->decimal_point;
    size_t point_len = point && *point ? strlen(point) : 1, n = i - start;
    char stack[128], *buf = stack;
    if (n + point_len + 1 > sizeof stack && !(buf = malloc(n + point_len + 1)))
        return sl_fail(p->err, SL_ERR_MEMORY, "%s: no memory for a %zu-byte number", p->name, n);
    size_t k = 0;
    for (size_t j = start; j < i; j++) {
        if (s[j] == '.' && point && *point) {
            memcpy(buf + k, point, point_len);
            k += point_len;
        } else
            buf[k++] = s[j];
    }
    buf[k] = 0;
    double v = strtod(buf, NULL);
    if (buf != stack) free(buf);
    if (isinf(v)) return fail_at(p, start, "number out of range of a double");
    *out = v;
    p->pos = i;
    return SL_OK;
}

static int match_literal(json_parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->src + p->pos, word, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static sl_status parse_value(json_parser *p, sl_json **out);

static sl_status parse_array(json_parser *p, sl_json *node) {
    sl_json *last = NULL;
    p->pos++; /* '[' */
    skip_whitespace(p);
    if (p->pos < p->len && p->src[p->pos] == ']') {
        p->pos++;
        return SL_OK;
    }
    for (;;) {
        sl_json *child;
        sl_status s = parse_value(p, &child);
        if (s != SL_OK) return s;
        if (last)
            last->next = child;
        else
            node->child = child;
        last = child;
        node->n_children++;
        skip_whitespace(p);
        if (p->pos < p->len && p->src[p->pos] == ',') {
            p->pos++;
            skip_whitespace(p);
            continue;
        }
        if (p->pos < p->len && p->src[p->pos] == ']') {
            p->pos++;
            return SL_OK;
        }
        return fail_unexpected(p, "',' or ']' in array");
    }
}

static sl_status parse_object(json_parser *p, sl_json *node) {
    sl_json *last = NULL;
    p->pos++; /* '{' */
    skip_whitespace(p);
    if (p->pos < p->len && p->src[p->pos] == '}') {
        p->pos++;
        return SL_OK;
    }
    for (;;) {
        if (p->pos >= p->len || p->src[p->pos] != '"')
            return fail_unexpected(p, "'\"' to start an object key");
        size_t key_at = p->pos, key_len;
        const char *key;
        int has_nul;
        sl_status s = parse_string(p, &key, &key_len, &has_nul);
        if (s != SL_OK) return s;
        /* keys are used as C strings (sl_json_get, tensor names): "a\u0000b" would silently read as "a" */
        if (has_nul) return fail_at(p, key_at, "object key contains \\u0000");
        skip_whitespace(p);
        if (p->pos >= p->len || p->src[p->pos] != ':') return fail_unexpected(p, "':' after object key");
        p->pos++;
        skip_whitespace(p);
        sl_json *child;
        if ((s = parse_value(p, &child)) != SL_OK) return s;
        child->key = key;
        if (last)
            last->next = child;
        else
            node->child = child;
        last = child;
        node->n_children++;
        skip_whitespace(p);
        if (p->pos < p->len && p->src[p->pos] == ',') {
            p->pos++;
            skip_whitespace(p);
            continue;
        }
        if (p->pos < p->len && p->src[p->pos] == '}') {
            p->pos++;
            return SL_OK;
        }
        return fail_unexpected(p, "',' or '}' in object");
    }
}

/* Parses the value at p->pos (whitespace already skipped). */
static sl_status parse_value(json_parser *p, sl_json **out) {
    size_t at = p->pos;
    if (at >= p->len) return fail_unexpected(p, "a value");
    char c = p->src[at];
    sl_json *node;
    sl_status s = SL_OK;
    if (c == '{' || c == '[') {
        if (p->depth >= JSON_MAX_DEPTH) {
            char msg[64];
            snprintf(msg, sizeof msg, "nesting deeper than %d levels", JSON_MAX_DEPTH);
            return fail_at(p, at, msg);
        }
        p->depth++;
        node = new_node(p, c == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY, at);
        s = c == '{' ? parse_object(p, node) : parse_array(p, node);
        p->depth--;
    } else if (c == '"') {
        node = new_node(p, SL_JSON_STRING, at);
        int has_nul;
        s = parse_string(p, &node->string, &node->string_len, &has_nul);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        node = new_node(p, SL_JSON_NUMBER, at);
        s = parse_number(p, &node->number);
    } else if (match_literal(p, "true")) {
        node = new_node(p, SL_JSON_BOOL, at);
        node->number = 1;
    } else if (match_literal(p, "false")) {
        node = new_node(p, SL_JSON_BOOL, at);
    } else if (match_literal(p, "null")) {
        node = new_node(p, SL_JSON_NULL, at);
    } else
        return fail_unexpected(p, "a value");
    *out = node;
    return s;
}

static sl_status parse_document(json_parser *p, sl_json **root) {
    p->pos = 0;
    p->line = 1;
    p->line_start = 0;
    p->depth = 0;
    p->n_nodes = p->n_string_bytes = 0;
    /* a UTF-8 byte order mark may be ignored (RFC 8259, section 8.1) */
    if (p->len >= 3 && memcmp(p->src, "\xef\xbb\xbf", 3) == 0) p->pos = p->line_start = 3;
    skip_whitespace(p);
    sl_status s = parse_value(p, root);
    if (s != SL_OK) return s;
    skip_whitespace(p);
    if (p->pos < p->len) return fail_unexpected(p, "end of input after the JSON value");
    return SL_OK;
}

sl_status sl_json_parse(const char *text, size_t len, const char *name, sl_json **out, sl_error *err) {
    *out = NULL;
    json_parser p = {.src = text, .len = len, .name = name ? name : "json", .err = err};
    sl_json *root;
    sl_status s = parse_document(&p, &root);
    if (s != SL_OK) return s;
    size_t n_nodes = p.n_nodes, n_bytes = p.n_string_bytes;
    /* n_nodes <= len and n_bytes <= len + n_nodes, so neither product overflows for real inputs; check
       anyway, this is the one allocation sized from the input */
    if (n_nodes > (SIZE_MAX - n_bytes) / sizeof(sl_json))
        return sl_fail(err, SL_ERR_MEMORY, "%s: JSON too large", p.name);
    void *block = malloc(n_nodes * sizeof(sl_json) + n_bytes);
    if (!block) return sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu JSON values", p.name, n_nodes);
    p.nodes = block;
    p.strings = (char *)block + n_nodes * sizeof(sl_json);
    s = parse_document(&p, &root);
    if (s != SL_OK) { /* cannot happen: the same text passed the first pass */
        free(block);
        return s;
    }
    *out = root; /* == block: the root is the first node made */
    return SL_OK;
}

void sl_json_free(sl_json *root) {
    free(root);
}

const sl_json *sl_json_get(const sl_json *object, const char *key) {
    if (!object || object->type != SL_JSON_OBJECT || !key) return NULL;
    for (const sl_json *c = object->child; c; c = c->next)
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}

const sl_json *sl_json_at(const sl_json *array, size_t i) {
    if (!array || (array->type != SL_JSON_ARRAY && array->type != SL_JSON_OBJECT) || i >= array->n_children)
        return NULL;
    const sl_json *c = array->child;
    while (i-- > 0) c = c->next;
    return c;
}

size_t sl_json_quote(const char *s, size_t len, char *buf, size_t cap) {
    size_t n = 0;
#define PUT(c)                                                                                               \
    do {                                                                                                     \
        if (n + 1 < cap) buf[n] = (char)(c);                                                                 \
        n++;                                                                                                 \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (esc) {
            PUT(esc[0]);
            PUT(esc[1]);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            for (int k = 0; k < 6; k++) PUT(u[k]);
        } else {
            PUT(c);
        }
    }
    PUT('"');
#undef PUT
    if (cap > 0) buf[n < cap ? n : cap - 1] = 0;
    return n;
}

/* Room for n more bytes and the terminating 0. */
static int text_reserve(sl_json_text *t, size_t n) {
    if (t->failed) return 0;
    if (t->len + n + 1 <= t->cap) return 1;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1) {
        if (cap > SIZE_MAX / 2) return t->failed = 1, 0;
        cap *= 2;
    }
    char *grown = realloc(t->buf, cap);
    if (!grown) return t->failed = 1, 0;
    t->buf = grown;
    t->cap = cap;
    return 1;
}

void sl_json_printf(sl_json_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !text_reserve(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void sl_json_string(sl_json_text *t, const char *s, size_t len) {
    size_t n = sl_json_quote(s, len, NULL, 0);
    if (!text_reserve(t, n)) return;
    sl_json_quote(s, len, t->buf + t->len, n + 1);
    t->len += n;
}
