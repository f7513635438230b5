/* JSON reader: a Hugging Face config.json, strings and escapes, numbers, nesting, and errors with their
   line:column. Inputs are copied into exact-size buffers without a 0, so an over-read is an ASan error. */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static sl_status parse(const char *text, size_t len, sl_json **out, sl_error *err) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    sl_status s = sl_json_parse(copy, len, "config.json", out, err);
    free(copy);
    return s;
}

static void expect_error(const char *text, const char *message) {
    sl_json *j = NULL;
    sl_error err = {0};
    sl_status s = parse(text, strlen(text), &j, &err);
    CHECK(s == SL_ERR_FORMAT && j == NULL && strcmp(err.message, message) == 0,
          "input %s: got \"%s\", want \"%s\"", text, err.message, message);
    sl_json_free(j);
}

static const char config[] = "{\n"
                             "  \"architectures\": [\"CamembertForTokenClassification\"],\n"
                             "  \"hidden_size\": 768,\n"
                             "  \"id2label\": {\"0\": \"O\", \"1\": \"I-LOC\", \"2\": \"I-PER\"},\n"
                             "  \"layer_norm_eps\": 1e-05,\n"
                             "  \"hidden_dropout_prob\": 0.1,\n"
                             "  \"is_decoder\": false,\n"
                             "  \"output_past\": true,\n"
                             "  \"pruned_heads\": {},\n"
                             "  \"bad_words_ids\": null,\n"
                             "  \"nested\": [[], [1, [2, {\"k\": -3.5E+2}]]]\n"
                             "}\n";

static void test_config(void) {
    sl_json *j = NULL;
    sl_error err = {0};
    CHECK(parse(config, strlen(config), &j, &err) == SL_OK, "%s", err.message);
    if (!j) return;
    CHECK(j->type == SL_JSON_OBJECT && j->n_children == 10 && j->line == 1 && j->column == 1, "root");
    const sl_json *v = sl_json_get(j, "hidden_size");
    CHECK(v && v->type == SL_JSON_NUMBER && v->number == 768 && v->line == 3 && v->column == 18,
          "hidden_size %d:%d", v ? v->line : 0, v ? v->column : 0);
    v = sl_json_get(j, "layer_norm_eps");
    CHECK(v && v->number == 1e-05, "1e-05");
    CHECK(sl_json_get(j, "hidden_dropout_prob")->number == 0.1, "0.1");
    v = sl_json_get(j, "is_decoder");
    CHECK(v && v->type == SL_JSON_BOOL && v->number == 0, "false");
    v = sl_json_get(j, "output_past");
    CHECK(v && v->type == SL_JSON_BOOL && v->number == 1, "true");
    v = sl_json_get(j, "bad_words_ids");
    CHECK(v && v->type == SL_JSON_NULL, "null");
    v = sl_json_get(j, "pruned_heads");
    CHECK(v && v->type == SL_JSON_OBJECT && v->n_children == 0 && v->child == NULL, "{}");
    const sl_json *labels = sl_json_get(j, "id2label");
    CHECK(labels && labels->n_children == 3, "id2label");
    const sl_json *l2 = sl_json_get(labels, "2");
    CHECK(l2 && l2->type == SL_JSON_STRING && strcmp(l2->string, "I-PER") == 0 && l2->string_len == 5 &&
              strcmp(l2->key, "2") == 0,
          "id2label[2]");
    CHECK(sl_json_at(labels, 1) && strcmp(sl_json_at(labels, 1)->key, "1") == 0, "members in order");
    const sl_json *arch = sl_json_at(sl_json_get(j, "architectures"), 0);
    CHECK(arch && strcmp(arch->string, "CamembertForTokenClassification") == 0, "architectures[0]");
    CHECK(sl_json_at(sl_json_get(j, "architectures"), 1) == NULL, "past the end");
    const sl_json *nested = sl_json_get(j, "nested");
    const sl_json *k = sl_json_get(sl_json_at(sl_json_at(sl_json_at(nested, 1), 1), 1), "k");
    CHECK(k && k->number == -350, "nested -3.5E+2");
    CHECK(sl_json_at(nested, 0)->type == SL_JSON_ARRAY && sl_json_at(nested, 0)->n_children == 0, "[]");
    CHECK(sl_json_get(j, "missing") == NULL && sl_json_get(arch, "x") == NULL &&
              sl_json_get(NULL, "x") == NULL,
          "absent");
    sl_json_free(j);
}

static void test_strings(void) {
    static const char text[] =
        "[\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\", \"\\u00e9t\\u00C9\", \"\\ud83d\\ude00\", "
        "\"a\\u0000b\", \"G\xc3\xa9rald \xe2\x82\xac \xf0\x9f\x98\x80\", \"\"]";
    sl_json *j = NULL;
    sl_error err = {0};
    CHECK(parse(text, strlen(text), &j, &err) == SL_OK, "%s", err.message);
    if (!j) return;
    CHECK(strcmp(sl_json_at(j, 0)->string, "q\"b\\s/b\bf\fn\nr\rt\t") == 0, "simple escapes");
    CHECK(strcmp(sl_json_at(j, 1)->string, "\xc3\xa9t\xc3\x89") == 0, "\\u00e9");
    CHECK(strcmp(sl_json_at(j, 2)->string, "\xf0\x9f\x98\x80") == 0 && sl_json_at(j, 2)->string_len == 4,
          "surrogate pair");
    CHECK(sl_json_at(j, 3)->string_len == 3 && memcmp(sl_json_at(j, 3)->string, "a\0b", 4) == 0,
          "\\u0000 kept");
    CHECK(strcmp(sl_json_at(j, 4)->string, "G\xc3\xa9rald \xe2\x82\xac \xf0\x9f\x98\x80") == 0, "raw UTF-8");
    CHECK(sl_json_at(j, 5)->string_len == 0 && sl_json_at(j, 5)->string[0] == 0, "empty string");
    sl_json_free(j);
}

static void test_numbers(void) {
    struct {
        const char *text;
        double value;
    } ok[] = {{"0", 0},
              {"-0", -0.0},
              {"1.5", 1.5},
              {"-1e-05", -1e-05},
              {"1E+2", 100},
              {"2e2", 200},
              {"123456789012345", 123456789012345.0},
              {"0.1", 0.1},
              {"1e-400", 0},
              {"9007199254740993", 9007199254740992.0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sl_json *j = NULL;
        sl_error err = {0};
        CHECK(parse(ok[i].text, strlen(ok[i].text), &j, &err) == SL_OK && j->type == SL_JSON_NUMBER &&
                  j->number == ok[i].value,
              "%s: %s", ok[i].text, err.message);
        sl_json_free(j);
    }
    /* the input need not be 0-terminated: only len bytes are read */
    sl_json *j = NULL;
    sl_error err = {0};
    CHECK(sl_json_parse("123456", 3, "x", &j, &err) == SL_OK && j->number == 123, "prefix of a buffer");
    sl_json_free(j);
    /* a French numeric locale must not change how '.' reads */
    if (setlocale(LC_NUMERIC, "fr_FR.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.utf8")) {
        CHECK(parse("1.25", 4, &j, &err) == SL_OK && j->number == 1.25, "1.25 under fr_FR");
        sl_json_free(j);
        setlocale(LC_NUMERIC, "C");
    }
}

static void test_errors(void) {
    expect_error("{\n  \"a\": 1,\n  \"bbbbbbbb\" 2\n}",
                 "config.json:3:14: expected ':' after object key, found '2'");
    expect_error("", "config.json:1:1: expected a value, found end of input");
    expect_error("   \n  ", "config.json:2:3: expected a value, found end of input");
    expect_error("[1,]", "config.json:1:4: expected a value, found ']'");
    expect_error("[1 2]", "config.json:1:4: expected ',' or ']' in array, found '2'");
    expect_error("{\"a\":1,}", "config.json:1:8: expected '\"' to start an object key, found '}'");
    expect_error("{\"a\":1 \"b\":2}", "config.json:1:8: expected ',' or '}' in object, found '\"'");
    expect_error("{1:2}", "config.json:1:2: expected '\"' to start an object key, found '1'");
    expect_error("{} x", "config.json:1:4: expected end of input after the JSON value, found 'x'");
    expect_error("tru", "config.json:1:1: expected a value, found 't'");
    expect_error("nul", "config.json:1:1: expected a value, found 'n'");
    expect_error("01", "config.json:1:1: leading zeros are not allowed in numbers");
    expect_error("-", "config.json:1:2: expected a digit in number");
    expect_error("1.", "config.json:1:3: expected a digit after '.' in number");
    expect_error(".5", "config.json:1:1: expected a value, found '.'");
    expect_error("1e", "config.json:1:3: expected a digit in the exponent of number");
    expect_error("+1", "config.json:1:1: expected a value, found '+'");
    expect_error("1e400", "config.json:1:1: number out of range of a double");
    expect_error("NaN", "config.json:1:1: expected a value, found 'N'");
    expect_error("\"abc", "config.json:1:1: unterminated string");
    expect_error("\"abc\\", "config.json:1:1: unterminated string");
    expect_error("[\"a\nb\"]", "config.json:1:4: control character in string (escape it)");
    expect_error("\"\\x\"", "config.json:1:2: invalid escape sequence in string");
    expect_error("\"\\u12g4\"", "config.json:1:6: \\u must be followed by 4 hexadecimal digits");
    expect_error("\"\\u12", "config.json:1:6: \\u must be followed by 4 hexadecimal digits");
    expect_error("\"\\ud800\"", "config.json:1:2: high surrogate \\u not followed by a low surrogate");
    expect_error("\"\\ud800\\u0041\"", "config.json:1:8: high surrogate \\u not followed by a low surrogate");
    expect_error("\"\\udc00\"", "config.json:1:2: unpaired low surrogate \\u in string");
    expect_error("\"\xc0\x80\"", "config.json:1:2: invalid UTF-8 in string");         /* overlong */
    expect_error("\"\xed\xa0\x80\"", "config.json:1:2: invalid UTF-8 in string");     /* surrogate */
    expect_error("\"\xf5\x80\x80\x80\"", "config.json:1:2: invalid UTF-8 in string"); /* > U+10FFFF */
    expect_error("\"\xe2\x82\"", "config.json:1:2: invalid UTF-8 in string");         /* cut short */
    expect_error("\"\xe2\x82", "config.json:1:2: invalid UTF-8 in string");
    expect_error("\xef\xbb\xbf{\"a\":}",
                 "config.json:1:6: expected a value, found '}'"); /* columns start after a BOM */
    expect_error("{\"a\\u0000b\": 1}", "config.json:1:2: object key contains \\u0000");
    expect_error("[\x01]", "config.json:1:2: expected a value, found byte 0x01");

    /* depth: 64 levels parse, 65 do not */
    char deep[200];
    for (int i = 0; i < 64; i++) deep[i] = '[', deep[64 + i] = ']';
    sl_json *j = NULL;
    sl_error err = {0};
    CHECK(parse(deep, 128, &j, &err) == SL_OK, "64 levels: %s", err.message);
    sl_json_free(j);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = 0;
    expect_error(deep, "config.json:1:65: nesting deeper than 64 levels");
    /* a very deep input fails at the limit, without deep recursion */
    size_t n = 1000000;
    char *huge = malloc(n);
    memset(huge, '[', n);
    CHECK(sl_json_parse(huge, n, "deep.json", &j, &err) == SL_ERR_FORMAT && strstr(err.message, "nesting"),
          "%s", err.message);
    free(huge);
}

/* Every strict prefix of an object is invalid; random byte changes fail cleanly or parse. */
static void test_truncation_and_noise(void) {
    size_t len = strlen(config);
    while (len && config[len - 1] == '\n') len--;
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        sl_json *j = NULL;
        sl_error err = {0};
        if (parse(config, n, &j, &err) != SL_ERR_FORMAT || strncmp(err.message, "config.json:", 12) != 0)
            bad++;
        sl_json_free(j);
    }
    CHECK(bad == 0, "%d truncations not refused", bad);
    char *b = malloc(len);
    uint64_t rng = 88172645463325252ull;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(b, config, len);
        for (int k = 0; k <= iter % 3; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            static const char alphabet[] = "{}[]\":,\\u0123456789.eE+-tfn \x80\xc3\xed\xf0";
            b[rng % len] = alphabet[(rng >> 32) % (sizeof alphabet - 1)];
        }
        sl_json *j = NULL;
        sl_error err = {0};
        sl_status s = sl_json_parse(b, len, "config.json", &j, &err);
        CHECK(s == SL_OK ? j != NULL : (j == NULL && strncmp(err.message, "config.json:", 12) == 0), "%s",
              err.message);
        sl_json_free(j);
    }
    free(b);
}

int main(void) {
    test_config();
    test_strings();
    test_numbers();
    test_errors();
    test_truncation_and_noise();
    return check_report("test_json");
}
