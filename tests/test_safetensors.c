/* safetensors reader: a valid file (F32, F16, BF16, I64, metadata, space padding), bad header lengths,
   offsets, shapes and dtypes, every truncation, and exact F16/BF16 conversions by bit pattern. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "safetensors.h"

/* Builds header length + header (padded with spaces to a multiple of 8, as Hugging Face does) + data. */
static uint8_t *build(const char *header, const uint8_t *data, size_t data_size, size_t *size) {
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    *size = 8 + padded + data_size;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', padded - h);
    if (data_size) memcpy(b + 8 + padded, data, data_size);
    return b;
}

static sl_status parse_copy(const uint8_t *data, size_t n, sl_error *err) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    sl_safetensors *st = NULL;
    sl_status s = sl_safetensors_parse(copy, n, "model.safetensors", &st, err);
    if (s == SL_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < sl_safetensors_count(st); i++) {
            const sl_st_tensor *t = sl_safetensors_tensor(st, i);
            for (size_t j = 0; j < t->nbytes; j++) sink ^= t->data[j];
        }
        (void)sink;
    }
    sl_safetensors_free(st);
    free(copy);
    return s;
}

static const char good_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"roberta.c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[40,64]},"
    "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[64,68]}}";

static uint8_t good_data[68];

static void fill_good_data(void) {
    float a[6] = {1, -2, 0.5f, 3, 4, -1e-3f};
    memcpy(good_data, a, 24);
    uint16_t b[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    memcpy(good_data + 24, b, 8);
    uint16_t c[4] = {0x3f80, 0xc049, 0x7f80, 0x0000};
    memcpy(good_data + 32, c, 8);
    int64_t ids[3] = {5, -1, 1LL << 40};
    memcpy(good_data + 40, ids, 24);
    float s = 42;
    memcpy(good_data + 64, &s, 4);
}

static void test_valid(void) {
    size_t size;
    uint8_t *b = build(good_header, good_data, sizeof good_data, &size);
    char dir[] = "/tmp/sl_test_st_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    sl_error err = {0};
    sl_atomic_file *f;
    CHECK(sl_atomic_open(path, &f, &err) == SL_OK && sl_atomic_write(f, b, size, &err) == SL_OK &&
              sl_atomic_commit(f, &err) == SL_OK,
          "%s", err.message);
    free(b);
    uint8_t *data;
    size_t n;
    CHECK(sl_read_file(path, &data, &n, &err) == SL_OK && n == size, "%s", err.message);
    unlink(path);
    rmdir(dir);
    sl_safetensors *st = NULL;
    CHECK(sl_safetensors_parse(data, n, "model.safetensors", &st, &err) == SL_OK, "%s", err.message);
    if (!st) {
        free(data);
        return;
    }
    CHECK(sl_safetensors_count(st) == 5, "5 tensors, metadata skipped");
    CHECK(strcmp(sl_safetensors_tensor(st, 0)->name, "a") == 0, "header order");
    const sl_st_tensor *t = sl_safetensors_find(st, "a");
    float fa[6];
    if (t) sl_to_f32(t->dtype, t->data, fa, 6);
    CHECK(t && t->dtype == SL_DT_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
              t->n_elements == 6 && t->nbytes == 24 && fa[1] == -2 && fa[5] == -1e-3f,
          "a");
    t = sl_safetensors_find(st, "b");
    CHECK(t && t->dtype == SL_DT_F16 && strcmp(t->dtype_name, "F16") == 0 && t->n_elements == 4, "b");
    t = sl_safetensors_find(st, "roberta.c");
    CHECK(t && t->dtype == SL_DT_BF16 && t->nbytes == 8, "roberta.c");
    t = sl_safetensors_find(st, "ids");
    CHECK(t && t->dtype == SL_DT_OTHER && strcmp(t->dtype_name, "I64") == 0 && t->n_elements == 3 &&
              t->nbytes == 24,
          "ids: I64 kept with its name");
    t = sl_safetensors_find(st, "scalar");
    CHECK(t && t->n_dims == 0 && t->n_elements == 1 && t->nbytes == 4, "scalar");
    CHECK(sl_safetensors_find(st, "__metadata__") == NULL && sl_safetensors_find(st, "c") == NULL, "absent");
    CHECK(sl_safetensors_tensor(st, 5) == NULL, "index past the end");
    sl_safetensors_free(st);
    free(data);
}

static void expect_fail(const char *header, size_t data_size, sl_status status, const char *text) {
    uint8_t data[256] = {0};
    size_t size;
    uint8_t *b = build(header, data, data_size, &size);
    sl_error err = {0};
    sl_status s = parse_copy(b, size, &err);
    CHECK(s == status && strstr(err.message, text), "header %s: status %d, \"%s\" (want %d, \"%s\")", header,
          s, err.message, status, text);
    free(b);
}

static void test_errors(void) {
    sl_error err = {0};
    uint8_t small[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    CHECK(parse_copy(small, 5, &err) == SL_ERR_FORMAT && strstr(err.message, "too short"), "%s", err.message);
    CHECK(parse_copy(small, 8, &err) == SL_ERR_FORMAT &&
              strstr(err.message, "header length 1 runs past the end of the file (8 bytes)"),
          "%s", err.message);
    uint8_t huge_len[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    CHECK(parse_copy(huge_len, 16, &err) == SL_ERR_FORMAT && strstr(err.message, "runs past the end"), "%s",
          err.message);
    /* the header limit, in a file large enough to hold the claimed header (calloc: pages stay untouched) */
    size_t big = 100000000 + 64;
    uint8_t *b = calloc(1, big);
    uint64_t claim = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(claim >> (8 * i));
    sl_safetensors *st = NULL;
    CHECK(sl_safetensors_parse(b, big, "big.safetensors", &st, &err) == SL_ERR_FORMAT &&
              strstr(err.message, "over the 100000000-byte limit"),
          "%s", err.message);
    free(b);

    expect_fail("[1,2]", 0, SL_ERR_FORMAT, "does not start with '{'");
    expect_fail("{\"a\":{\"dtype\":\"F32\" \"shape\":[1]}}", 0, SL_ERR_FORMAT,
                "model.safetensors header:1:21: expected ',' or '}' in object");
    expect_fail("{\"a\":[]}", 0, SL_ERR_FORMAT, "tensor 'a' (header 1:6): expected an object");
    expect_fail("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SL_ERR_FORMAT, "\"dtype\" is missing");
    expect_fail("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SL_ERR_UNSUPPORTED,
                "tensor 'a': unknown dtype \"Q4\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, SL_ERR_FORMAT,
                "\"shape\" is missing");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, SL_ERR_FORMAT,
                "shape[0] is not a non-negative integer");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4, SL_ERR_FORMAT,
                "shape[0] is not a non-negative integer");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                SL_ERR_UNSUPPORTED, "9 dimensions");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                SL_ERR_FORMAT, "overflows");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1048576],\"data_offsets\":[0,4]}}", 4,
                SL_ERR_FORMAT, "need more than");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SL_ERR_FORMAT, "\"data_offsets\" must be");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, SL_ERR_FORMAT,
                "\"data_offsets\" must be");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4, SL_ERR_FORMAT,
                "\"data_offsets\" must be");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, SL_ERR_FORMAT,
                "data_offsets [4, 0] are not within the data section (4 bytes)");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, SL_ERR_FORMAT,
                "tensor 'a': data_offsets [0, 8] are not within the data section (4 bytes)");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, SL_ERR_FORMAT,
                "tensor 'a': 6 elements of F32 need 24 bytes, but data_offsets [0, 20] hold 20");
    expect_fail("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 4, SL_ERR_FORMAT,
                "3 elements of F4");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                4, SL_ERR_FORMAT, "tensor 'a' appears twice");
    expect_fail("{\"a\\n\":[]}", 0, SL_ERR_FORMAT, "tensor 'a?'");
    /* zero-sized tensors are fine: shape [0, 5] at an empty range */
    uint8_t none[1] = {0};
    size_t size;
    b = build("{\"e\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[0,0]}}", none, 0, &size);
    CHECK(parse_copy(b, size, &err) == SL_OK, "empty tensor: %s", err.message);
    free(b);
}

static void test_truncation(void) {
    size_t size;
    uint8_t *b = build(good_header, good_data, sizeof good_data, &size);
    int bad = 0;
    for (size_t n = 0; n < size; n++) {
        sl_error err = {0};
        if (parse_copy(b, n, &err) != SL_ERR_FORMAT || strncmp(err.message, "model.safetensors", 17) != 0)
            bad++;
    }
    CHECK(bad == 0, "%d truncations not refused", bad);
    sl_error err = {0};
    CHECK(parse_copy(b, size, &err) == SL_OK, "the whole file: %s", err.message);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    uint8_t *c = malloc(size);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(c, b, size);
        for (int k = 0; k <= iter % 3; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            static const char alphabet[] = "{}[]\":,0123456789.e-F \x01\xff";
            c[rng % (size - sizeof good_data)] = (uint8_t)alphabet[(rng >> 32) % (sizeof alphabet - 1)];
        }
        sl_status s = parse_copy(c, size, &err);
        CHECK(s == SL_OK || strncmp(err.message, "model.safetensors", 17) == 0, "%s", err.message);
    }
    free(c);
    free(b);
}

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static void test_conversions(void) {
    /* IEEE half: (bits, float bits) */
    static const uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000,
                                 0x7c00, 0xfc00, 0x7e00, 0x3555, 0x8001, 0x0000, 0x7c01};
    static const uint32_t want_h[] = {0x3f800000, 0xc0000000, 0x477fe000, 0x33800000, 0x387fc000,
                                      0x38800000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
                                      0x3eaaa000, 0xb3800000, 0x00000000, 0x7f802000};
    size_t n = sizeof h / sizeof h[0];
    uint8_t bytes[64];
    float out[32];
    for (size_t i = 0; i < n; i++) bytes[2 * i] = (uint8_t)h[i], bytes[2 * i + 1] = (uint8_t)(h[i] >> 8);
    sl_to_f32(SL_DT_F16, bytes, out, n);
    for (size_t i = 0; i < n; i++)
        CHECK(bits_of(out[i]) == want_h[i], "f16 0x%04x -> 0x%08x, want 0x%08x", h[i], bits_of(out[i]),
              want_h[i]);
    CHECK(out[3] == ldexpf(1, -24) && out[2] == 65504 && isnan(out[9]) && isinf(out[8]) && out[8] < 0,
          "f16 values");
    /* bfloat16: the top half of a float */
    static const uint16_t bf[] = {0x3f80, 0xc049, 0x7f80, 0x0001, 0x7fc0, 0x8000, 0xff80};
    static const uint32_t want_bf[] = {0x3f800000, 0xc0490000, 0x7f800000, 0x00010000,
                                       0x7fc00000, 0x80000000, 0xff800000};
    n = sizeof bf / sizeof bf[0];
    for (size_t i = 0; i < n; i++) bytes[2 * i] = (uint8_t)bf[i], bytes[2 * i + 1] = (uint8_t)(bf[i] >> 8);
    sl_to_f32(SL_DT_BF16, bytes, out, n);
    for (size_t i = 0; i < n; i++)
        CHECK(bits_of(out[i]) == want_bf[i], "bf16 0x%04x -> 0x%08x, want 0x%08x", bf[i], bits_of(out[i]),
              want_bf[i]);
    CHECK(out[1] == -3.140625f, "bf16 -3.140625");
    /* f32 from little-endian bytes at an odd address */
    uint8_t f32[9] = {0, 0x00, 0x00, 0xc0, 0x3f, 0xdb, 0x0f, 0x49, 0x40};
    sl_to_f32(SL_DT_F32, f32 + 1, out, 2);
    CHECK(out[0] == 1.5f && bits_of(out[1]) == 0x40490fdb, "f32");
    /* every half converts to the float that converts back to it (rounding would show) */
    int bad = 0;
    for (uint32_t x = 0; x < 65536; x++) {
        uint8_t two[2] = {(uint8_t)x, (uint8_t)(x >> 8)};
        float v;
        sl_to_f32(SL_DT_F16, two, &v, 1);
        uint32_t fb = bits_of(v), e = fb >> 23 & 0xff;
        /* exponents of halves: normal 113..142, subnormal 103..112, 0, 255 */
        if (!((e >= 103 && e <= 142) || (e == 0 && (fb & 0x7fffffff) == 0) || e == 255)) bad++;
        if ((fb & 0x1fff) != 0) bad++; /* at most 10 mantissa bits */
    }
    CHECK(bad == 0, "%d halves convert to impossible floats", bad);
}

int main(void) {
    fill_good_data();
    test_valid();
    test_errors();
    test_truncation();
    test_conversions();
    return check_report("test_safetensors");
}
