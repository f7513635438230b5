/* A small JSON reader for config.json and safetensors headers: parses into a tree of nodes held in one
   allocation; strings are unescaped copies; errors give line and column. And the one string escaper of
   the engine's JSON writers. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef enum { SL_JSON_NULL, SL_JSON_BOOL, SL_JSON_NUMBER, SL_JSON_STRING, SL_JSON_ARRAY, SL_JSON_OBJECT } sl_json_type;

typedef struct sl_json sl_json;
struct sl_json {
    sl_json_type type;
    double number;        /* NUMBER; BOOL as 0/1 */
    const char *string;   /* STRING (0-terminated, unescaped UTF-8); for object members also `key` */
    size_t string_len;
    const char *key;      /* members of an OBJECT: 0-terminated, unescaped; a \u0000 in a key is refused */
    sl_json *child;       /* ARRAY/OBJECT: first element */
    sl_json *next;        /* next sibling */
    size_t n_children;
    int line, column;     /* where the value starts in the source, 1-based; column counts bytes */
};

/* Parses `len` bytes; `name` prefixes error messages ("config.json:3:14: expected ':'").
   Free the result with sl_json_free. Depth is limited (64) and the input need not be 0-terminated.
   Strings must be valid UTF-8; numbers beyond the range of a double are errors. Duplicate keys are kept
   (sl_json_get finds the first). */
sl_status sl_json_parse(const char *text, size_t len, const char *name, sl_json **out, sl_error *err);
void sl_json_free(sl_json *root);

const sl_json *sl_json_get(const sl_json *object, const char *key); /* NULL if absent or not an object */
const sl_json *sl_json_at(const sl_json *array, size_t i); /* O(i): to walk all, follow child/next */

/* Writing: s[0, len) as a JSON string literal, quotes included, escaped as Python's json.dumps does (\" \\
   \b \f \n \r \t, other bytes below 0x20 as \u00XX); other bytes are copied, so UTF-8 stays UTF-8. Like
   snprintf: writes at most `cap` bytes into buf (0-terminated when cap > 0; buf may be NULL when cap is 0)
   and returns the length of the whole literal. */
size_t sl_json_quote(const char *s, size_t len, char *buf, size_t cap);

/* A growing text to write JSON into. Appending never fails: a failed allocation sets `failed` (check it
   once at the end) and later appends do nothing. Starts zeroed; the owner frees buf. */
typedef struct {
    char *buf; /* 0-terminated once anything was appended */
    size_t len, cap;
    int failed;
} sl_json_text;
void sl_json_printf(sl_json_text *t, const char *fmt, ...) SL_PRINTF(2, 3);
void sl_json_string(sl_json_text *t, const char *s, size_t len); /* a string literal (sl_json_quote) */

#endif
