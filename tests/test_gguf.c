/* GGUF reader and writer: round trips of every value type and of f32/f16/q8_0 tensors, identical bytes from
   the file and memory writers, every truncation of a valid file, targeted corruptions, random byte flips.
   Truncated and corrupted copies live in buffers of their exact size, so an over-read is an ASan error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "fp16.h"
#include "gguf.h"

static char tmp_dir[64];

/* Parses a private exact-size copy of data[0, n). */
static sl_status parse_copy(const uint8_t *data, size_t n, sl_error *err) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    sl_gguf *g = NULL;
    sl_status s = sl_gguf_parse(copy, n, "t.gguf", &g, err);
    if (s == SL_OK) {
        /* touch everything the parser vouched for */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
            const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
            for (size_t j = 0; j < t->nbytes; j++) sink ^= t->data[j];
        }
        for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
            const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
            for (size_t j = 0; j < kv->name_len; j++) sink ^= (uint8_t)kv->name[j];
        }
        (void)sink;
    }
    sl_gguf_free(g);
    free(copy);
    return s;
}

static uint8_t *find_bytes(uint8_t *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The test model: every writer value type and three tensors. */
static float f32_data[3 * 5];
static uint16_t f16_data[7];
static uint8_t q8_data[2 * 2 * 34]; /* ne = [64, 2]: 2 blocks per row */

static sl_gguf_writer *make_writer(void) {
    for (int i = 0; i < 15; i++) f32_data[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 7; i++) f16_data[i] = sl_fp32_to_fp16((float)(i + 1));
    for (size_t i = 0; i < sizeof q8_data; i++) q8_data[i] = (uint8_t)(i * 7 + 1);
    sl_gguf_writer *w = sl_gguf_writer_new();
    sl_gguf_add_str(w, "general.architecture", "bert");
    sl_gguf_add_u32(w, "t.u32", 4000000000u);
    sl_gguf_add_i32(w, "t.i32", -123456);
    sl_gguf_add_i32(w, "t.i32_pos", 77);
    sl_gguf_add_f32(w, "t.f32", 1e-5f);
    sl_gguf_add_bool(w, "t.bool_true", true);
    sl_gguf_add_bool(w, "t.bool_false", false);
    sl_gguf_add_str(w, "t.str_empty", "");
    sl_gguf_add_str(w, "t.str_utf8", "Gérald");
    uint8_t u8[] = {0, 1, 255};
    int8_t i8[] = {-128, 0, 127};
    uint16_t u16[] = {0, 65535};
    int16_t i16[] = {-32768, 32767};
    uint32_t u32[] = {1, 2, 3, 4294967295u};
    int32_t i32[] = {-1, 2};
    float f32[] = {0.25f, -1e30f};
    bool bools[] = {true, false, true};
    uint64_t u64[] = {UINT64_MAX, 0};
    int64_t i64[] = {INT64_MIN, INT64_MAX};
    double f64[] = {3.141592653589793, -0.0};
    sl_gguf_add_arr(w, "a.u8", SL_GGUF_UINT8, u8, 3);
    sl_gguf_add_arr(w, "a.i8", SL_GGUF_INT8, i8, 3);
    sl_gguf_add_arr(w, "a.u16", SL_GGUF_UINT16, u16, 2);
    sl_gguf_add_arr(w, "a.i16", SL_GGUF_INT16, i16, 2);
    sl_gguf_add_arr(w, "a.u32", SL_GGUF_UINT32, u32, 4);
    sl_gguf_add_arr(w, "a.i32", SL_GGUF_INT32, i32, 2);
    sl_gguf_add_arr(w, "a.f32", SL_GGUF_FLOAT32, f32, 2);
    sl_gguf_add_arr(w, "a.bool", SL_GGUF_BOOL, bools, 3);
    sl_gguf_add_arr(w, "a.u64", SL_GGUF_UINT64, u64, 2);
    sl_gguf_add_arr(w, "a.i64", SL_GGUF_INT64, i64, 2);
    sl_gguf_add_arr(w, "a.f64", SL_GGUF_FLOAT64, f64, 2);
    sl_gguf_add_arr(w, "a.empty", SL_GGUF_FLOAT32, NULL, 0);
    const char *labels[] = {"O", "B-PER", "I-PER"};
    sl_gguf_add_arr_str(w, "ner.labels", labels, NULL, 3);
    const char *pieces[] = {"<s>", "a\0b", ""};
    size_t lens[] = {3, 3, 0};
    sl_gguf_add_arr_str(w, "tok.pieces", pieces, lens, 3);
    int64_t ne_f32[] = {5, 3}, ne_f16[] = {7}, ne_q8[] = {64, 2};
    sl_gguf_add_tensor(w, "blk.0.attn_q.weight", SL_GGML_F32, 2, ne_f32, f32_data);
    sl_gguf_add_tensor(w, "blk.0.attn_q.bias", SL_GGML_F16, 1, ne_f16, f16_data);
    sl_gguf_add_tensor(w, "token_embd.weight", SL_GGML_Q8_0, 2, ne_q8, q8_data);
    return w;
}

static void test_round_trip(uint8_t **out, size_t *out_size) {
    sl_error err = {0};
    sl_gguf_writer *w = make_writer();
    uint8_t *mem = NULL;
    size_t mem_size = 0;
    CHECK(sl_gguf_writer_to_memory(w, &mem, &mem_size, &err) == SL_OK, "%s", err.message);
    char path[128];
    snprintf(path, sizeof path, "%s/model.gguf", tmp_dir);
    CHECK(sl_gguf_writer_write(w, path, &err) == SL_OK, "%s", err.message);
    sl_gguf_writer_free(w);
    uint8_t *file = NULL;
    size_t file_size = 0;
    CHECK(sl_read_file(path, &file, &file_size, &err) == SL_OK, "%s", err.message);
    CHECK(file_size == mem_size && memcmp(file, mem, mem_size) == 0,
          "file (%zu bytes) and memory (%zu) differ", file_size, mem_size);
    CHECK(file[file_size] == 0, "sl_read_file adds a 0 byte");
    CHECK(mem_size % 32 == 0, "file size %zu is padded to the alignment", mem_size);
    unlink(path);
    free(file);

    sl_gguf *g = NULL;
    CHECK(sl_gguf_parse(mem, mem_size, "model.gguf", &g, &err) == SL_OK, "%s", err.message);
    if (!g) return;
    CHECK(sl_gguf_n_kv(g) == 24, "n_kv %zu (23 added + general.alignment)", sl_gguf_n_kv(g));
    CHECK(sl_gguf_alignment(g) == 32, "alignment");
    const sl_gguf_kv *al = sl_gguf_find_kv(g, "general.alignment");
    CHECK(al && al->type == SL_GGUF_UINT32 && al->u == 32, "general.alignment written automatically");
    CHECK(sl_gguf_kv_at(g, 0)->name_len == strlen("general.architecture"), "kv order kept");

    uint32_t u;
    float f;
    bool b;
    const char *s;
    size_t len;
    CHECK(sl_gguf_get_u32(g, "t.u32", &u, &err) == SL_OK && u == 4000000000u, "u32");
    CHECK(sl_gguf_get_u32(g, "t.i32_pos", &u, &err) == SL_OK && u == 77, "u32 from a non-negative int32");
    CHECK(sl_gguf_get_u32(g, "t.i32", &u, &err) == SL_ERR_FORMAT && strstr(err.message, "does not fit"), "%s",
          err.message);
    CHECK(sl_gguf_get_u32(g, "t.missing", &u, &err) == SL_ERR_FORMAT &&
              strcmp(err.message, "model.gguf: key 't.missing' is missing") == 0,
          "%s", err.message);
    CHECK(sl_gguf_get_u32(g, "t.str_utf8", &u, &err) == SL_ERR_FORMAT &&
              strcmp(err.message, "model.gguf: key 't.str_utf8' has type string, expected uint32") == 0,
          "%s", err.message);
    CHECK(sl_gguf_get_f32(g, "t.f32", &f, &err) == SL_OK && f == 1e-5f, "f32");
    CHECK(sl_gguf_get_bool(g, "t.bool_true", &b, &err) == SL_OK && b, "bool true");
    CHECK(sl_gguf_get_bool(g, "t.bool_false", &b, &err) == SL_OK && !b, "bool false");
    CHECK(sl_gguf_get_bool(g, "t.u32", &b, &err) == SL_ERR_FORMAT, "bool from u32 refused");
    CHECK(sl_gguf_get_str(g, "t.str_utf8", &s, &len, &err) == SL_OK && len == 7 &&
              memcmp(s, "Gérald", 7) == 0,
          "str");
    CHECK(sl_gguf_get_str(g, "t.str_empty", &s, &len, &err) == SL_OK && len == 0, "empty str");
    CHECK(sl_gguf_get_str(g, "general.architecture", &s, &len, &err) == SL_OK && len == 4, "arch");

    const void *d;
    uint64_t n;
#define ARR(key, type, T, expect)                                                                            \
    do {                                                                                                     \
        T want[] = expect;                                                                                   \
        CHECK(sl_gguf_get_arr(g, key, type, &d, &n, &err) == SL_OK && n == sizeof want / sizeof want[0] &&   \
                  memcmp(d, want, sizeof want) == 0,                                                         \
              "array %s: %s", key, err.message);                                                             \
    } while (0)
#define L(...) {__VA_ARGS__}
    ARR("a.u8", SL_GGUF_UINT8, uint8_t, L(0, 1, 255));
    ARR("a.i8", SL_GGUF_INT8, int8_t, L(-128, 0, 127));
    ARR("a.u16", SL_GGUF_UINT16, uint16_t, L(0, 65535));
    ARR("a.i16", SL_GGUF_INT16, int16_t, L(-32768, 32767));
    ARR("a.u32", SL_GGUF_UINT32, uint32_t, L(1, 2, 3, 4294967295u));
    ARR("a.i32", SL_GGUF_INT32, int32_t, L(-1, 2));
    ARR("a.f32", SL_GGUF_FLOAT32, float, L(0.25f, -1e30f));
    ARR("a.bool", SL_GGUF_BOOL, uint8_t, L(1, 0, 1));
    ARR("a.u64", SL_GGUF_UINT64, uint64_t, L(UINT64_MAX, 0));
    ARR("a.i64", SL_GGUF_INT64, int64_t, L(INT64_MIN, INT64_MAX));
    ARR("a.f64", SL_GGUF_FLOAT64, double, L(3.141592653589793, -0.0));
    CHECK(sl_gguf_get_arr(g, "a.empty", SL_GGUF_FLOAT32, &d, &n, &err) == SL_OK && n == 0, "empty array");
    CHECK(sl_gguf_get_arr(g, "a.u8", SL_GGUF_INT8, &d, &n, &err) == SL_ERR_FORMAT &&
              strstr(err.message, "has type array of uint8, expected array of int8"),
          "%s", err.message);
    CHECK(sl_gguf_arr_str(g, "ner.labels", 1, &s, &len, &err) == SL_OK && len == 5 &&
              memcmp(s, "B-PER", 5) == 0,
          "label 1");
    CHECK(sl_gguf_arr_str(g, "ner.labels", 3, &s, &len, &err) == SL_ERR_ARGUMENT, "index past the end");
    CHECK(sl_gguf_arr_str(g, "tok.pieces", 1, &s, &len, &err) == SL_OK && len == 3 &&
              memcmp(s, "a\0b", 3) == 0,
          "string with a 0 byte");
    CHECK(sl_gguf_arr_str(g, "tok.pieces", 2, &s, &len, &err) == SL_OK && len == 0, "empty piece");
    CHECK(sl_gguf_arr_str(g, "a.u8", 0, &s, &len, &err) == SL_ERR_FORMAT, "not a string array");

    CHECK(sl_gguf_n_tensors(g) == 3, "3 tensors");
    const sl_gguf_tensor *t = sl_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(t && t->type == SL_GGML_F32 && t->n_dims == 2 && t->ne[0] == 5 && t->ne[1] == 3 && t->ne[2] == 1 &&
              t->nbytes == sizeof f32_data && memcmp(t->data, f32_data, sizeof f32_data) == 0,
          "f32 tensor");
    t = sl_gguf_find_tensor(g, "blk.0.attn_q.bias");
    CHECK(t && t->type == SL_GGML_F16 && t->n_dims == 1 && t->ne[0] == 7 && t->nbytes == 14 &&
              memcmp(t->data, f16_data, 14) == 0,
          "f16 tensor");
    t = sl_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == SL_GGML_Q8_0 && t->nbytes == sizeof q8_data &&
              memcmp(t->data, q8_data, sizeof q8_data) == 0,
          "q8_0 tensor");
    CHECK(sl_gguf_find_tensor(g, "blk.0.attn_q") == NULL, "prefix is not a match");
    CHECK(sl_gguf_find_kv(g, "t.u3") == NULL && sl_gguf_find_kv(g, "t.u32x") == NULL, "near keys");
    for (size_t i = 0; i < sl_gguf_n_tensors(g); i++)
        CHECK((size_t)(sl_gguf_tensor_at(g, i)->data - mem) % 32 == 0, "tensor %zu aligned", i);
    sl_gguf_free(g);
    *out = mem;
    *out_size = mem_size;
}

/* A hand-built version-2 file with the scalar types the writer has no adder for. */
static void test_scalar_types(void) {
    uint8_t buf[512];
    size_t n = 0;
    memcpy(buf, "GGUF", 4);
    put32(buf + 4, 2);
    put64(buf + 8, 0);
    put64(buf + 16, 7);
    n = 24;
    struct {
        const char *key;
        uint32_t type;
        uint64_t bits;
        int size;
    } kvs[] = {{"s.u8", SL_GGUF_UINT8, 200, 1},
               {"s.i8", SL_GGUF_INT8, 0x80, 1},
               {"s.u16", SL_GGUF_UINT16, 65000, 2},
               {"s.i16", SL_GGUF_INT16, 0xfffe, 2},
               {"s.u64", SL_GGUF_UINT64, 5000000000ull, 8},
               {"s.i64", SL_GGUF_INT64, (uint64_t)-7, 8},
               {"s.f64", SL_GGUF_FLOAT64, 0x3ff8000000000000ull, 8}};
    for (int i = 0; i < 7; i++) {
        size_t k = strlen(kvs[i].key);
        put64(buf + n, k);
        memcpy(buf + n + 8, kvs[i].key, k);
        put32(buf + n + 8 + k, kvs[i].type);
        n += 12 + k;
        for (int j = 0; j < kvs[i].size; j++) buf[n + j] = (uint8_t)(kvs[i].bits >> (8 * j));
        n += (size_t)kvs[i].size;
    }
    sl_gguf *g = NULL;
    sl_error err = {0};
    CHECK(sl_gguf_parse(buf, n, "v2.gguf", &g, &err) == SL_OK, "%s", err.message);
    if (!g) return;
    CHECK(sl_gguf_find_kv(g, "s.u8")->u == 200, "u8");
    CHECK(sl_gguf_find_kv(g, "s.i8")->i == -128, "i8");
    CHECK(sl_gguf_find_kv(g, "s.u16")->u == 65000, "u16");
    CHECK(sl_gguf_find_kv(g, "s.i16")->i == -2, "i16");
    CHECK(sl_gguf_find_kv(g, "s.u64")->u == 5000000000ull, "u64");
    CHECK(sl_gguf_find_kv(g, "s.i64")->i == -7, "i64");
    CHECK(sl_gguf_find_kv(g, "s.f64")->f == 1.5, "f64");
    uint32_t u;
    float f;
    CHECK(sl_gguf_get_u32(g, "s.u8", &u, &err) == SL_OK && u == 200, "u32 from u8");
    CHECK(sl_gguf_get_u32(g, "s.u64", &u, &err) == SL_ERR_FORMAT, "u64 too large for u32");
    CHECK(sl_gguf_get_u32(g, "s.i64", &u, &err) == SL_ERR_FORMAT, "negative i64");
    CHECK(sl_gguf_get_f32(g, "s.f64", &f, &err) == SL_OK && f == 1.5f, "f32 from f64");
    CHECK(sl_gguf_n_tensors(g) == 0, "no tensors, no data section needed");
    sl_gguf_free(g);
}

static void test_truncation(const uint8_t *data, size_t size) {
    /* the last tensor byte: past it, only the end padding is cut, and the file stays valid */
    sl_gguf *g = NULL;
    sl_error err = {0};
    size_t need = 0;
    if (sl_gguf_parse(data, size, "t.gguf", &g, &err) != SL_OK) return;
    for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        size_t end = (size_t)(t->data - data) + t->nbytes;
        if (end > need) need = end;
    }
    sl_gguf_free(g);
    int bad = 0;
    for (size_t n = 0; n < size; n++) {
        err.message[0] = 0;
        sl_status s = parse_copy(data, n, &err);
        int ok = n < need ? (s == SL_ERR_FORMAT && strncmp(err.message, "t.gguf: ", 8) == 0) : s == SL_OK;
        if (!ok && bad++ < 5) CHECK(ok, "truncated at %zu of %zu: status %d: %s", n, size, s, err.message);
    }
    CHECK(bad == 0, "%d truncations misjudged", bad);
}

/* Expects the corrupted copy to fail with `status` and a message containing `text`. */
static void expect_fail(const uint8_t *data, size_t size, sl_status status, const char *text,
                        const char *what) {
    sl_error err = {0};
    sl_status s = parse_copy(data, size, &err);
    CHECK(s == status && strstr(err.message, text), "%s: status %d, message \"%s\" (want %d, \"%s\")", what,
          s, err.message, status, text);
}

static void test_corruptions(const uint8_t *good, size_t size) {
    uint8_t *b = malloc(size);
#define FRESH() memcpy(b, good, size)
    FRESH();
    b[0] = 'X';
    expect_fail(b, size, SL_ERR_FORMAT, "not a GGUF file", "bad magic");
    FRESH();
    put32(b + 4, 1);
    expect_fail(b, size, SL_ERR_UNSUPPORTED, "version 1 is not supported", "version 1");
    FRESH();
    put32(b + 4, 0x03000000);
    expect_fail(b, size, SL_ERR_UNSUPPORTED, "big-endian", "big-endian");
    FRESH();
    put64(b + 8, 1ull << 60);
    expect_fail(b, size, SL_ERR_FORMAT, "tensor_count 1152921504606846976 cannot fit", "huge tensor count");
    FRESH();
    put64(b + 16, UINT64_MAX);
    expect_fail(b, size, SL_ERR_FORMAT, "kv_count", "huge kv count");
    FRESH();
    put64(b + 24, 1000000); /* length of the first key */
    expect_fail(b, size, SL_ERR_FORMAT, "key #0: length 1000000 at offset 24 runs past the end",
                "key length");
    FRESH();
    put64(b + 24, UINT64_MAX);
    expect_fail(b, size, SL_ERR_FORMAT, "runs past the end", "key length 2^64-1");

    /* a string value's length */
    FRESH();
    uint8_t *p = find_bytes(b, size, "t.str_utf8");
    put64(p + 10 + 4, 1ull << 62);
    expect_fail(b, size, SL_ERR_FORMAT, "key 't.str_utf8': length 4611686018427387904", "string length");
    /* value type */
    FRESH();
    p = find_bytes(b, size, "t.u32");
    put32(p + 5, 13);
    expect_fail(b, size, SL_ERR_FORMAT, "key 't.u32': unknown value type 13", "value type");
    /* bool neither 0 nor 1 */
    FRESH();
    p = find_bytes(b, size, "t.bool_true");
    p[11 + 4] = 2;
    expect_fail(b, size, SL_ERR_FORMAT, "neither 0 nor 1", "bool 2");
    /* nested array; huge array count */
    FRESH();
    p = find_bytes(b, size, "a.u16");
    put32(p + 5 + 4, SL_GGUF_ARRAY);
    expect_fail(b, size, SL_ERR_UNSUPPORTED, "arrays of arrays", "nested array");
    FRESH();
    put64(p + 5 + 8, 1ull << 62);
    expect_fail(b, size, SL_ERR_FORMAT, "array of 4611686018427387904 uint16 values", "array count");
    FRESH();
    p = find_bytes(b, size, "ner.labels");
    put64(p + 10 + 8, 1ull << 40);
    expect_fail(b, size, SL_ERR_FORMAT, "strings at offset", "string array count");
    /* duplicate key: rename "a.i16" to "a.i32" (same length, so the layout stays valid) */
    FRESH();
    p = find_bytes(b, size, "a.i16");
    memcpy(p, "a.i32", 5);
    expect_fail(b, size, SL_ERR_FORMAT, "key 'a.i32' appears twice", "duplicate key");

    /* tensor infos: name, n_dims, ne[], type, offset */
    const char *tn = "token_embd.weight";
    size_t tl = strlen(tn);
    FRESH();
    p = find_bytes(b, size, tn) + tl;
    put32(p, 5);
    expect_fail(b, size, SL_ERR_FORMAT, "tensor 'token_embd.weight': 5 dimensions", "n_dims 5");
    FRESH();
    put32(p + 4 + 16, 12);
    expect_fail(b, size, SL_ERR_UNSUPPORTED, "ggml type 12 (q4_K)", "q4_K");
    FRESH();
    put32(p + 4 + 16, 1000);
    expect_fail(b, size, SL_ERR_UNSUPPORTED, "ggml type 1000 (unknown)", "unknown type");
    FRESH();
    put64(p + 4, 48);
    expect_fail(b, size, SL_ERR_FORMAT, "q8_0 rows need ne[0] a multiple of 32", "q8_0 ne[0]");
    FRESH();
    put64(p + 4, 1ull << 63);
    expect_fail(b, size, SL_ERR_FORMAT, "out of range", "ne > INT64_MAX");
    FRESH();
    put64(p + 4, 1ull << 40);
    put64(p + 12, 1ull << 40);
    expect_fail(b, size, SL_ERR_FORMAT, "overflows", "ne product overflow");
    FRESH();
    put64(p + 4, 1ull << 20);
    expect_fail(b, size, SL_ERR_FORMAT, "tensor 'token_embd.weight': data [offset", "tensor too large");
    uint64_t off = 0;
    for (int i = 7; i >= 0; i--) off = off << 8 | p[4 + 16 + 4 + i];
    FRESH();
    put64(p + 24, off + 1);
    expect_fail(b, size, SL_ERR_FORMAT, "is not a multiple of the alignment 32", "misaligned offset");
    FRESH();
    put64(p + 24, off + 4096);
    expect_fail(b, size, SL_ERR_FORMAT, "runs past the end of the file", "offset past the end");
    FRESH();
    put64(p + 24, UINT64_MAX - 31);
    expect_fail(b, size, SL_ERR_FORMAT, "runs past the end of the file", "offset near 2^64");
    FRESH();
    p = find_bytes(b, size, "blk.0.attn_q.bias");
    put64(p - 8, 19);
    /* now the name swallows 2 bytes of n_dims: the rest misparses, and must fail cleanly */
    expect_fail(b, size, SL_ERR_FORMAT, "t.gguf: ", "shifted tensor info");
    free(b);
}

/* Two tensors with the same name, and general.alignment variants, through the writer. */
static void test_writer_checks(void) {
    sl_error err = {0};
    float x[32] = {0};
    int64_t ne[] = {32};
    uint8_t *mem;
    size_t size;

    sl_gguf_writer *w = sl_gguf_writer_new();
    sl_gguf_add_tensor(w, "aaaa", SL_GGML_F32, 1, ne, x);
    sl_gguf_add_tensor(w, "aaab", SL_GGML_F32, 1, ne, x);
    CHECK(sl_gguf_writer_to_memory(w, &mem, &size, &err) == SL_OK, "%s", err.message);
    sl_gguf_writer_free(w);
    uint8_t *p = find_bytes(mem, size, "aaab");
    p[3] = 'a';
    expect_fail(mem, size, SL_ERR_FORMAT, "tensor 'aaaa' appears twice", "duplicate tensor");
    free(mem);

    w = sl_gguf_writer_new();
    sl_gguf_add_u32(w, "general.alignment", 64);
    sl_gguf_add_tensor(w, "a", SL_GGML_F32, 1, ne, x);
    sl_gguf_add_tensor(w, "b", SL_GGML_F16, 1, ne, x);
    CHECK(sl_gguf_writer_to_memory(w, &mem, &size, &err) == SL_OK, "%s", err.message);
    sl_gguf_writer_free(w);
    sl_gguf *g = NULL;
    CHECK(sl_gguf_parse(mem, size, "a64.gguf", &g, &err) == SL_OK, "%s", err.message);
    CHECK(g && sl_gguf_alignment(g) == 64 && sl_gguf_n_kv(g) == 1, "alignment 64 kept, not duplicated");
    for (size_t i = 0; g && i < 2; i++) CHECK((sl_gguf_tensor_at(g, i)->data - mem) % 64 == 0, "64-aligned");
    sl_gguf_free(g);
    p = find_bytes(mem, size, "general.alignment") + 17 + 4;
    put32(p, 48);
    expect_fail(mem, size, SL_ERR_FORMAT, "general.alignment = 48 is not a power of two", "alignment 48");
    put32(p, 0);
    expect_fail(mem, size, SL_ERR_FORMAT, "not a power of two", "alignment 0");
    put32(p, 16); /* valid, but the tensor offsets (0, 128) are multiples of 16: parses */
    CHECK(parse_copy(mem, size, &err) == SL_OK, "alignment 16: %s", err.message);
    put32(p - 4, SL_GGUF_INT32);
    expect_fail(mem, size, SL_ERR_FORMAT, "'general.alignment' has type int32, expected uint32",
                "alignment type");
    free(mem);

    struct {
        const char *what, *message;
    } bad[] = {{"dup key", "key 'k' added twice"},
               {"dup tensor", "tensor 't' added twice"},
               {"q8_0 ne[0]", "q8_0 needs ne[0] a multiple of 32"},
               {"type", "type 12 is not f32, f16, q8_0, q5_0 or q4_0"},
               {"n_dims", "5 dimensions"},
               {"alignment", "general.alignment must be a uint32 power of two"}};
    for (int i = 0; i < 6; i++) {
        w = sl_gguf_writer_new();
        int64_t ne5[] = {1, 1, 1, 1, 1}, ne33[] = {33};
        if (i == 0) sl_gguf_add_u32(w, "k", 1), sl_gguf_add_str(w, "k", "x");
        if (i == 1)
            sl_gguf_add_tensor(w, "t", SL_GGML_F32, 1, ne, x),
                sl_gguf_add_tensor(w, "t", SL_GGML_F32, 1, ne, x);
        if (i == 2) sl_gguf_add_tensor(w, "t", SL_GGML_Q8_0, 1, ne33, x);
        if (i == 3) sl_gguf_add_tensor(w, "t", 12, 1, ne, x);
        if (i == 4) sl_gguf_add_tensor(w, "t", SL_GGML_F32, 5, ne5, x);
        if (i == 5) sl_gguf_add_u32(w, "general.alignment", 24);
        mem = NULL;
        CHECK(sl_gguf_writer_to_memory(w, &mem, &size, &err) == SL_ERR_ARGUMENT &&
                  strstr(err.message, bad[i].message),
              "writer %s: %s", bad[i].what, err.message);
        CHECK(mem == NULL, "no bytes on failure");
        char path[128];
        snprintf(path, sizeof path, "%s/bad.gguf", tmp_dir);
        CHECK(sl_gguf_writer_write(w, path, &err) == SL_ERR_ARGUMENT && strstr(err.message, path), "%s",
              err.message);
        CHECK(access(path, F_OK) != 0, "nothing written");
        sl_gguf_writer_free(w);
    }
}

static void test_nbytes(void) {
    CHECK(sl_ggml_nbytes(SL_GGML_F32, 10) == 40, "f32");
    CHECK(sl_ggml_nbytes(SL_GGML_F16, 10) == 20, "f16");
    CHECK(sl_ggml_nbytes(SL_GGML_Q8_0, 64) == 68, "q8_0");
    CHECK(sl_ggml_nbytes(SL_GGML_Q8_0, 33) == SIZE_MAX, "q8_0 partial block");
    CHECK(sl_ggml_nbytes(SL_GGML_F32, -1) == SIZE_MAX, "negative");
    CHECK(sl_ggml_nbytes(SL_GGML_F32, INT64_MAX) == SIZE_MAX, "overflow");
    CHECK(sl_ggml_nbytes(SL_GGML_Q4_0, 64) == 36 && sl_ggml_nbytes(SL_GGML_Q5_0, 64) == 44, "q4_0, q5_0");
    CHECK(sl_ggml_nbytes(SL_GGML_Q5_0, 16) == SIZE_MAX, "q5_0 partial block");
    CHECK(sl_ggml_nbytes(3, 32) == 0, "unknown type (q4_1)");
    CHECK(strcmp(sl_ggml_type_name(SL_GGML_Q8_0), "q8_0") == 0 &&
              strcmp(sl_ggml_type_name(4), "unknown") == 0,
          "type names");
}

static void test_fileio(void) {
    sl_error err = {0};
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/atomic.bin", tmp_dir);
    sl_atomic_file *f = NULL;
    CHECK(sl_atomic_open(path, &f, &err) == SL_OK, "%s", err.message);
    CHECK(sl_atomic_write(f, "abc", 3, &err) == SL_OK, "%s", err.message);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) == 0 && access(path, F_OK) != 0, "bytes go to the temporary file first");
    sl_atomic_abort(f);
    CHECK(access(tmp, F_OK) != 0 && access(path, F_OK) != 0, "abort leaves nothing");
    CHECK(sl_atomic_open(path, &f, &err) == SL_OK && sl_atomic_write(f, "hello", 5, &err) == SL_OK &&
              sl_atomic_commit(f, &err) == SL_OK,
          "%s", err.message);
    uint8_t *d;
    size_t n;
    CHECK(sl_read_file(path, &d, &n, &err) == SL_OK && n == 5 && memcmp(d, "hello", 6) == 0, "read back");
    free(d);
    CHECK(access(tmp, F_OK) != 0, "no temporary file left");
    unlink(path);
    CHECK(sl_read_file("/nonexistent/dir/x.gguf", &d, &n, &err) == SL_ERR_IO &&
              strstr(err.message, "/nonexistent/dir/x.gguf") && strstr(err.message, "No such file"),
          "%s", err.message);
    CHECK(d == NULL && n == 0, "outputs cleared");
    CHECK(sl_read_file(tmp_dir, &d, &n, &err) == SL_ERR_IO, "a directory: %s", err.message);
    CHECK(sl_atomic_open("/nonexistent/dir/x.gguf", &f, &err) == SL_ERR_IO && f == NULL, "%s", err.message);
    snprintf(path, sizeof path, "%s/empty.bin", tmp_dir);
    CHECK(sl_atomic_open(path, &f, &err) == SL_OK && sl_atomic_commit(f, &err) == SL_OK, "empty file");
    CHECK(sl_read_file(path, &d, &n, &err) == SL_OK && n == 0 && d[0] == 0, "empty read");
    free(d);
    unlink(path);
}

/* Random byte changes in the header region: each result must be a clean success or a clean failure. */
static void test_random_corruptions(const uint8_t *good, size_t size) {
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint8_t *b = malloc(size);
    int failures = 0;
    size_t header = size;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(b, good, size);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t at = (size_t)(rng % (header < 1024 ? header : 1024));
            b[at] = (uint8_t)(rng >> 32);
        }
        sl_error err = {0};
        sl_status s = parse_copy(b, size, &err);
        if (s != SL_OK) {
            failures++;
            CHECK(err.message[0] != 0 && strncmp(err.message, "t.gguf: ", 8) == 0, "message: %s",
                  err.message);
        }
    }
    CHECK(failures > 1000, "most random corruptions are caught (%d)", failures);
    free(b);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sl_test_gguf_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    uint8_t *good = NULL;
    size_t size = 0;
    test_nbytes();
    test_round_trip(&good, &size);
    test_scalar_types();
    if (good) {
        test_truncation(good, size);
        test_corruptions(good, size);
        test_random_corruptions(good, size);
    }
    test_writer_checks();
    test_fileio();
    free(good);
    rmdir(tmp_dir);
    return check_report("test_gguf");
}
