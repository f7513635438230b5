/* The JSON reader (config.json, safetensors headers, tokenizer files): any bytes in, a tree whose strings are
   terminated, whose counts are true and whose positions are inside the text, or an error naming line and
   column; no stack overflow however deep the nesting. Then the escaper: any string written by sl_json_quote
   reads back as itself. */
#include "fuzz.h"
#include "json.h"

static size_t walk(const sl_json *j, const char *text, size_t len, int depth) {
    FUZZ_CHECK(depth <= 65, "depth %d past the documented limit", depth);
    FUZZ_CHECK(j->line >= 1 && j->column >= 1, "position %d:%d", j->line, j->column);
    size_t n = 1;
    if (j->type == SL_JSON_STRING) FUZZ_CHECK(j->string[j->string_len] == 0, "string not terminated");
    if (j->type == SL_JSON_ARRAY || j->type == SL_JSON_OBJECT) {
        size_t count = 0;
        for (const sl_json *c = j->child; c; c = c->next, count++) {
            if (j->type == SL_JSON_OBJECT)
                FUZZ_CHECK(c->key && strlen(c->key) <= len, "member %zu without a key", count);
            n += walk(c, text, len, depth + 1);
        }
        FUZZ_CHECK(count == j->n_children, "%zu children counted, %zu walked", j->n_children, count);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    sl_json *root = NULL;
    sl_error err;
    if (sl_json_parse(text, size, "fuzz.json", &root, &err) == SL_OK) {
        walk(root, text, size, 1);
        sl_json_free(root);
    } else {
        FUZZ_CHECK(!root && !strncmp(err.message, "fuzz.json", 9), "failed parse must name the file: '%s'",
                   err.message);
    }

    /* the escaper, on the same bytes as a string value */
    size_t need = sl_json_quote(text, size, NULL, 0);
    char *quoted = malloc(need + 1);
    FUZZ_CHECK(quoted, "no memory");
    FUZZ_CHECK(sl_json_quote(text, size, quoted, need + 1) == need && quoted[need] == 0, "quote length");
    if (sl_json_parse(quoted, need, "quoted", &root, &err) == SL_OK) {
        FUZZ_CHECK(root->type == SL_JSON_STRING && root->string_len == size &&
                       !memcmp(root->string, text, size),
                   "a quoted string does not read back as itself");
        sl_json_free(root);
    } else {
        /* only bytes that are not UTF-8 may be refused */
        FUZZ_CHECK(strstr(err.message, "UTF-8"), "a quoted string is refused: '%s'", err.message);
    }
    free(quoted);
    return 0;
}
