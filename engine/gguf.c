/* GGUF v3 (and v2, identical in layout), little-endian, following ggml's docs/gguf.md:

     "GGUF" | u32 version | u64 tensor_count | u64 kv_count
     kv_count x   { string key | u32 value type | value }
     tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset }
     zero padding to general.alignment (default 32)
     data section: each tensor at its offset (relative to the section, a multiple of the alignment)

   A string is a u64 byte length and the bytes (no 0); an array is u32 element type, u64 count, elements.
   The reader never reads a byte before checking it is inside the buffer, and sizes every allocation from a
   count only after checking the count against the bytes left (each item needs at least a few bytes). */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_KEY_BYTES 65535 /* the spec's limit on key length */
#define GGUF_MAX_NAME_BYTES 64   /* the spec's limit on tensor names */
/* ggml stores names with a terminating 0 in char[64]: the writer keeps to 63 so its files load there */
#define GGUF_WRITER_MAX_NAME_BYTES 63
#define GGUF_MAX_DIMS 4

/* ---- types -------------------------------------------------------------------------------------- */

/* The types this file reads: elements and bytes per block (ggml's block layouts, quant.h). */
static const struct {
    uint32_t type;
    int block, bytes;
} ggml_blocks[] = {
    {SL_GGML_F32, 1, 4},    {SL_GGML_F16, 1, 2}, {SL_GGML_Q4_0, 32, 18}, /* fp16 scale + 32 4-bit codes */
    {SL_GGML_Q5_0, 32, 22}, /* fp16 scale + 32 high bits + 32 4-bit codes */
    {SL_GGML_Q8_0, 32, 34}, /* fp16 scale + 32 int8 */
};

static int ggml_block_index(uint32_t type) {
    for (size_t i = 0; i < sizeof ggml_blocks / sizeof ggml_blocks[0]; i++)
        if (ggml_blocks[i].type == type) return (int)i;
    return -1;
}

int sl_ggml_block_size(uint32_t type) {
    const int i = ggml_block_index(type);
    return i < 0 ? 0 : ggml_blocks[i].block;
}

size_t sl_ggml_nbytes(uint32_t type, int64_t n) {
    const int i = ggml_block_index(type);
    if (i < 0) return 0;
    if (n < 0 || (uint64_t)n % (uint64_t)ggml_blocks[i].block != 0) return SIZE_MAX;
    const uint64_t blocks = (uint64_t)n / (uint64_t)ggml_blocks[i].block;
    if (blocks > UINT64_MAX / (uint64_t)ggml_blocks[i].bytes) return SIZE_MAX;
    const uint64_t bytes = blocks * (uint64_t)ggml_blocks[i].bytes;
    return bytes >= SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

/* Names of ggml's types (ggml.h), for messages about files we cannot read. */
static const char *const ggml_type_names[] = {
    "f32",    "f16",   "q4_0",  "q4_1",   NULL,    NULL,    "q5_0",    "q5_1",   "q8_0",    "q8_1",
    "q2_K",   "q3_K",  "q4_K",  "q5_K",   "q6_K",  "q8_K",  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s",
    "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8",    "i16",   "i32",     "i64",    "f64",     "iq1_m",
    "bf16",   NULL,    NULL,    NULL,     "tq1_0", "tq2_0", NULL,      NULL,     NULL,      "mxfp4",
};

const char *sl_ggml_type_name(uint32_t type) {
    if (type < sizeof ggml_type_names / sizeof ggml_type_names[0] && ggml_type_names[type])
        return ggml_type_names[type];
    return "unknown";
}

uint32_t sl_ggml_type_by_name(const char *name) {
    for (uint32_t i = 0; name && i < sizeof ggml_type_names / sizeof ggml_type_names[0]; i++)
        if (ggml_type_names[i] && !strcmp(ggml_type_names[i], name)) return i;
    return UINT32_MAX;
}

static const char *const gguf_type_names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                              "int32",  "float32", "bool",   "string", "array",
                                              "uint64", "int64",   "float64"};
#define GGUF_N_TYPES (sizeof gguf_type_names / sizeof gguf_type_names[0])

static const char *gguf_type_name(uint32_t type) {
    return type < GGUF_N_TYPES ? gguf_type_names[type] : "unknown";
}

/* Bytes of one scalar value; 0 for STRING, ARRAY and unknown types. */
static size_t gguf_scalar_size(uint32_t type) {
    switch (type) {
    case SL_GGUF_UINT8:
    case SL_GGUF_INT8:
    case SL_GGUF_BOOL:
        return 1;
    case SL_GGUF_UINT16:
    case SL_GGUF_INT16:
        return 2;
    case SL_GGUF_UINT32:
    case SL_GGUF_INT32:
    case SL_GGUF_FLOAT32:
        return 4;
    case SL_GGUF_UINT64:
    case SL_GGUF_INT64:
    case SL_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* Names from a file go into messages: at most 80 bytes, non-printable bytes as '?'. */
static const char *printable(const char *s, size_t len, char *buf, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (n < len) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = 0;
    return buf;
}
#define PRINTABLE_CAP 88

/* ---- reader ------------------------------------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t len;
} gguf_str;

struct sl_gguf {
    char *name;
    const uint8_t *data;
    size_t size;
    uint32_t version, alignment;
    sl_gguf_kv *kvs;
    size_t n_kv;
    gguf_str **kv_strings;         /* per kv: the strings of a string array, else NULL */
    size_t kv_slots;               /* entries allocated in kvs and kv_strings */
    const sl_gguf_kv **kv_by_name; /* sorted by key */
    sl_gguf_tensor *tensors;
    size_t n_tensors;
    const sl_gguf_tensor **tensor_by_name; /* sorted by name */
};

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    const char *file;
    sl_error *err;
} gguf_reader;

static sl_status past_end(gguf_reader *r, const char *what, uint64_t need) {
    return sl_fail(r->err, SL_ERR_FORMAT,
                   "%s: %s (%llu bytes at offset %zu) runs past the end of the file (%zu bytes)", r->file,
                   what, (unsigned long long)need, r->pos, r->size);
}

static sl_status read_bytes(gguf_reader *r, const char *what, size_t n, const uint8_t **out) {
    if (n > r->size - r->pos) return past_end(r, what, n);
    *out = r->data + r->pos;
    r->pos += n;
    return SL_OK;
}

static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static sl_status read_u32(gguf_reader *r, const char *what, uint32_t *out) {
    const uint8_t *p = NULL;
    sl_status s = read_bytes(r, what, 4, &p);
    if (s == SL_OK) *out = (uint32_t)load_le(p, 4);
    return s;
}

static sl_status read_u64(gguf_reader *r, const char *what, uint64_t *out) {
    const uint8_t *p = NULL;
    sl_status s = read_bytes(r, what, 8, &p);
    if (s == SL_OK) *out = load_le(p, 8);
    return s;
}

static sl_status read_string(gguf_reader *r, const char *what, const char **s, size_t *len) {
    uint64_t n;
    sl_status st = read_u64(r, what, &n);
    if (st != SL_OK) return st;
    if (n > r->size - r->pos) {
        r->pos -= 8; /* report the offset of the length */
        return sl_fail(r->err, SL_ERR_FORMAT,
                       "%s: %s: length %llu at offset %zu runs past the end of the file (%zu bytes)", r->file,
                       what, (unsigned long long)n, r->pos, r->size);
    }
    *s = (const char *)r->data + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return SL_OK;
}

static double load_f32(const uint8_t *p) {
    uint32_t bits = (uint32_t)load_le(p, 4);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static double load_f64(const uint8_t *p) {
    uint64_t bits = load_le(p, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Stores a scalar of `type` at p into kv: u for unsigned types, i for signed, f for floats, b for bool. */
static void store_scalar(sl_gguf_kv *kv, uint32_t type, const uint8_t *p) {
    size_t n = gguf_scalar_size(type);
    uint64_t raw = load_le(p, n);
    switch (type) {
    case SL_GGUF_UINT8:
    case SL_GGUF_UINT16:
    case SL_GGUF_UINT32:
    case SL_GGUF_UINT64:
        kv->u = raw;
        break;
    case SL_GGUF_INT8:
        kv->i = (int8_t)raw;
        break;
    case SL_GGUF_INT16:
        kv->i = (int16_t)raw;
        break;
    case SL_GGUF_INT32:
        kv->i = (int32_t)raw;
        break;
    case SL_GGUF_INT64:
        kv->i = (int64_t)raw;
        break;
    case SL_GGUF_FLOAT32:
        kv->f = load_f32(p);
        break;
    case SL_GGUF_FLOAT64:
        kv->f = load_f64(p);
        break;
    case SL_GGUF_BOOL:
        kv->b = raw != 0;
        kv->u = raw;
        break;
    }
}

static sl_status read_kv(gguf_reader *r, sl_gguf *g, size_t index) {
    sl_gguf_kv *kv = &g->kvs[index];
    char what[160], nm[PRINTABLE_CAP];
    sl_status s;
    snprintf(what, sizeof what, "key #%zu", index);
    size_t key_at = r->pos;
    if ((s = read_string(r, what, &kv->name, &kv->name_len)) != SL_OK) return s;
    if (kv->name_len > GGUF_MAX_KEY_BYTES)
        return sl_fail(r->err, SL_ERR_FORMAT,
                       "%s: key #%zu at offset %zu is %zu bytes long, over the %d-byte limit", r->file, index,
                       key_at, kv->name_len, GGUF_MAX_KEY_BYTES);
    if (kv->name_len == 0)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key #%zu at offset %zu is empty", r->file, index, key_at);
    snprintf(what, sizeof what, "key '%s'", printable(kv->name, kv->name_len, nm, sizeof nm));
    size_t type_at = r->pos;
    if ((s = read_u32(r, what, &kv->type)) != SL_OK) return s;
    if (kv->type >= GGUF_N_TYPES)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: unknown value type %u at offset %zu", r->file, what,
                       kv->type, type_at);
    const uint8_t *p = NULL;
    if (kv->type == SL_GGUF_STRING) return read_string(r, what, &kv->str, &kv->str_len);
    if (kv->type != SL_GGUF_ARRAY) {
        if ((s = read_bytes(r, what, gguf_scalar_size(kv->type), &p)) != SL_OK) return s;
        if (kv->type == SL_GGUF_BOOL && p[0] > 1)
            return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: bool value %u at offset %zu is neither 0 nor 1",
                           r->file, what, p[0], r->pos - 1);
        store_scalar(kv, kv->type, p);
        return SL_OK;
    }
    size_t arr_at = r->pos;
    if ((s = read_u32(r, what, &kv->arr_type)) != SL_OK || (s = read_u64(r, what, &kv->arr_n)) != SL_OK)
        return s;
    if (kv->arr_type == SL_GGUF_ARRAY)
        return sl_fail(r->err, SL_ERR_UNSUPPORTED, "%s: %s: arrays of arrays (offset %zu) are not supported",
                       r->file, what, arr_at);
    if (kv->arr_type >= GGUF_N_TYPES)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: unknown array element type %u at offset %zu", r->file,
                       what, kv->arr_type, arr_at);
    size_t left = r->size - r->pos;
    kv->arr_data = r->data + r->pos;
    if (kv->arr_type != SL_GGUF_STRING) {
        size_t elem = gguf_scalar_size(kv->arr_type);
        if (kv->arr_n > left / elem)
            return sl_fail(
                r->err, SL_ERR_FORMAT,
                "%s: %s: array of %llu %s values at offset %zu runs past the end of the file (%zu bytes)",
                r->file, what, (unsigned long long)kv->arr_n, gguf_type_name(kv->arr_type), r->pos, r->size);
        const uint8_t *elems = r->data + r->pos;
        r->pos += (size_t)kv->arr_n * elem;
        if (kv->arr_type == SL_GGUF_BOOL)
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (elems[i] > 1)
                    return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: bool element %llu is %u, neither 0 nor 1",
                                   r->file, what, (unsigned long long)i, elems[i]);
        return SL_OK;
    }
    /* each string takes at least its 8-byte length: this bounds the index allocation by the file size */
    if (kv->arr_n > left / 8)
        return sl_fail(
            r->err, SL_ERR_FORMAT,
            "%s: %s: array of %llu strings at offset %zu cannot fit in the %zu bytes left in the file",
            r->file, what, (unsigned long long)kv->arr_n, r->pos, left);
    gguf_str *strs = malloc((kv->arr_n ? (size_t)kv->arr_n : 1) * sizeof *strs);
    if (!strs)
        return sl_fail(r->err, SL_ERR_MEMORY, "%s: %s: no memory for %llu strings", r->file, what,
                       (unsigned long long)kv->arr_n);
    g->kv_strings[index] = strs;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        size_t at = r->pos;
        if (read_string(r, what, &strs[i].s, &strs[i].len) != SL_OK) {
            /* the message is built only on failure: a vocabulary has tens of thousands of strings */
            char elem_what[200];
            snprintf(elem_what, sizeof elem_what, "%s: string #%llu", what, (unsigned long long)i);
            r->pos = at;
            return read_string(r, elem_what, &strs[i].s, &strs[i].len);
        }
    }
    return SL_OK;
}

static sl_status read_tensor_info(gguf_reader *r, sl_gguf_tensor *t, size_t index, uint64_t *offset) {
    char what[160], nm[PRINTABLE_CAP];
    sl_status s;
    snprintf(what, sizeof what, "tensor #%zu", index);
    size_t name_at = r->pos;
    if ((s = read_string(r, what, &t->name, &t->name_len)) != SL_OK) return s;
    const char *pn = printable(t->name, t->name_len, nm, sizeof nm);
    if (t->name_len > GGUF_MAX_NAME_BYTES || t->name_len == 0)
        return sl_fail(r->err, SL_ERR_FORMAT,
                       "%s: tensor #%zu ('%s') at offset %zu: name of %zu bytes (1 to %d allowed)", r->file,
                       index, pn, name_at, t->name_len, GGUF_MAX_NAME_BYTES);
    snprintf(what, sizeof what, "tensor '%s'", pn);
    uint32_t n_dims, type;
    size_t dims_at = r->pos;
    if ((s = read_u32(r, what, &n_dims)) != SL_OK) return s;
    if (n_dims > GGUF_MAX_DIMS)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: %u dimensions at offset %zu, at most %d are allowed",
                       r->file, what, n_dims, dims_at, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t n = 1;
    int overflow = 0, zero = 0;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        size_t ne_at = r->pos;
        if ((s = read_u64(r, what, &ne)) != SL_OK) return s;
        if (ne > (uint64_t)INT64_MAX)
            return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: ne[%d] = %llu at offset %zu is out of range",
                           r->file, what, d, (unsigned long long)ne, ne_at);
        t->ne[d] = (int64_t)ne;
        if (ne == 0)
            zero = 1;
        else if (n > INT64_MAX / (int64_t)ne)
            overflow = 1;
        else
            n *= (int64_t)ne;
    }
    if (zero)
        n = 0;
    else if (overflow)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: the element count of its shape overflows", r->file,
                       what);
    size_t type_at = r->pos;
    if ((s = read_u32(r, what, &type)) != SL_OK) return s;
    t->type = type;
    const int block = sl_ggml_block_size(type);
    if (!block)
        return sl_fail(
            r->err, SL_ERR_UNSUPPORTED,
            "%s: %s: ggml type %u (%s) at offset %zu is not supported (f32, f16, q8_0, q5_0 and q4_0 are)",
            r->file, what, type, sl_ggml_type_name(type), type_at);
    if (t->ne[0] % block != 0)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: %s rows need ne[0] a multiple of %d, got %lld",
                       r->file, what, sl_ggml_type_name(type), block, (long long)t->ne[0]);
    t->nbytes = sl_ggml_nbytes(type, n);
    if (t->nbytes == SIZE_MAX)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %s: %lld elements do not fit in memory", r->file, what,
                       (long long)n);
    return read_u64(r, what, offset);
}

static int compare_kv_names(const void *a, const void *b) {
    const sl_gguf_kv *x = *(const sl_gguf_kv *const *)a, *y = *(const sl_gguf_kv *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int compare_tensor_names(const void *a, const void *b) {
    const sl_gguf_tensor *x = *(const sl_gguf_tensor *const *)a, *y = *(const sl_gguf_tensor *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int compare_name(const char *name, size_t len, const char *key, size_t key_len) {
    size_t n = len < key_len ? len : key_len;
    int c = memcmp(name, key, n);
    return c ? c : (len > key_len) - (len < key_len);
}

static sl_status parse_body(gguf_reader *r, sl_gguf *g) {
    const uint8_t *magic;
    sl_status s;
    char nm[PRINTABLE_CAP];
    if (r->size < 4 || memcmp(r->data, "GGUF", 4) != 0) {
        char m[PRINTABLE_CAP];
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: not a GGUF file (starts with '%s', expected 'GGUF')",
                       r->file, printable((const char *)r->data, r->size < 4 ? r->size : 4, m, sizeof m));
    }
    (void)read_bytes(r, "magic", 4, &magic);
    uint64_t n_tensors, n_kv;
    if ((s = read_u32(r, "version", &g->version)) != SL_OK) return s;
    if (g->version != 2 && g->version != 3) {
        uint32_t swapped = __builtin_bswap32(g->version);
        if (swapped == 2 || swapped == 3)
            return sl_fail(r->err, SL_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported",
                           r->file);
        return sl_fail(r->err, SL_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (2 and 3 are)",
                       r->file, g->version);
    }
    if ((s = read_u64(r, "tensor_count", &n_tensors)) != SL_OK ||
        (s = read_u64(r, "kv_count", &n_kv)) != SL_OK)
        return s;
    /* smallest possible entries: a key/value is 8 (key length) + 1 (key) + 4 (type) + 1 (uint8) bytes, a
       tensor info 8 + 1 (name) + 4 (n_dims = 0) + 4 (type) + 8 (offset) */
    size_t left = r->size - r->pos;
    if (n_kv > left / 14)
        return sl_fail(r->err, SL_ERR_FORMAT,
                       "%s: kv_count %llu cannot fit in the %zu bytes left in the file", r->file,
                       (unsigned long long)n_kv, left);
    if (n_tensors > left / 25)
        return sl_fail(r->err, SL_ERR_FORMAT,
                       "%s: tensor_count %llu cannot fit in the %zu bytes left in the file", r->file,
                       (unsigned long long)n_tensors, left);
    size_t nk = n_kv ? (size_t)n_kv : 1, nt = n_tensors ? (size_t)n_tensors : 1;
    g->kvs = calloc(nk, sizeof *g->kvs);
    g->kv_strings = calloc(nk, sizeof *g->kv_strings);
    if (g->kv_strings) g->kv_slots = nk;
    g->kv_by_name = calloc(nk, sizeof *g->kv_by_name);
    g->tensors = calloc(nt, sizeof *g->tensors);
    g->tensor_by_name = calloc(nt, sizeof *g->tensor_by_name);
    uint64_t *offsets = calloc(nt, sizeof *offsets);
    if (!g->kvs || !g->kv_strings || !g->kv_by_name || !g->tensors || !g->tensor_by_name || !offsets) {
        free(offsets);
        return sl_fail(r->err, SL_ERR_MEMORY, "%s: no memory for %llu keys and %llu tensors", r->file,
                       (unsigned long long)n_kv, (unsigned long long)n_tensors);
    }

    for (size_t i = 0; i < (size_t)n_kv; i++) {
        if ((s = read_kv(r, g, i)) != SL_OK) goto done;
        g->n_kv++;
        g->kv_by_name[i] = &g->kvs[i];
    }
    qsort(g->kv_by_name, g->n_kv, sizeof *g->kv_by_name, compare_kv_names);
    for (size_t i = 1; i < g->n_kv; i++)
        if (compare_kv_names(&g->kv_by_name[i - 1], &g->kv_by_name[i]) == 0) {
            s = sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' appears twice", r->file,
                        printable(g->kv_by_name[i]->name, g->kv_by_name[i]->name_len, nm, sizeof nm));
            goto done;
        }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const sl_gguf_kv *al = sl_gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->type != SL_GGUF_UINT32) {
            s = sl_fail(r->err, SL_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected uint32",
                        r->file, gguf_type_name(al->type));
            goto done;
        }
        if (al->u == 0 || (al->u & (al->u - 1)) != 0) {
            s = sl_fail(r->err, SL_ERR_FORMAT, "%s: general.alignment = %llu is not a power of two", r->file,
                        (unsigned long long)al->u);
            goto done;
        }
        g->alignment = (uint32_t)al->u;
    }

    for (size_t i = 0; i < (size_t)n_tensors; i++) {
        if ((s = read_tensor_info(r, &g->tensors[i], i, &offsets[i])) != SL_OK) goto done;
        g->n_tensors++;
        g->tensor_by_name[i] = &g->tensors[i];
    }
    qsort(g->tensor_by_name, g->n_tensors, sizeof *g->tensor_by_name, compare_tensor_names);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (compare_tensor_names(&g->tensor_by_name[i - 1], &g->tensor_by_name[i]) == 0) {
            s = sl_fail(r->err, SL_ERR_FORMAT, "%s: tensor '%s' appears twice", r->file,
                        printable(g->tensor_by_name[i]->name, g->tensor_by_name[i]->name_len, nm, sizeof nm));
            goto done;
        }

    /* the data section starts at the next multiple of the alignment (64-bit: the padding may pass SIZE_MAX
       on 32-bit targets, which the bounds checks below then reject) */
    uint64_t data_start = ((uint64_t)r->pos + g->alignment - 1) / g->alignment * g->alignment;
    for (size_t i = 0; i < g->n_tensors; i++) {
        sl_gguf_tensor *t = &g->tensors[i];
        const char *pn = printable(t->name, t->name_len, nm, sizeof nm);
        if (offsets[i] % g->alignment != 0) {
            s = sl_fail(r->err, SL_ERR_FORMAT,
                        "%s: tensor '%s': data offset %llu is not a multiple of the alignment %u", r->file,
                        pn, (unsigned long long)offsets[i], g->alignment);
            goto done;
        }
        if (data_start > r->size || offsets[i] > r->size - data_start ||
            t->nbytes > r->size - data_start - offsets[i]) {
            unsigned long long at =
                offsets[i] > UINT64_MAX - data_start ? UINT64_MAX : data_start + offsets[i];
            s = sl_fail(
                r->err, SL_ERR_FORMAT,
                "%s: tensor '%s': data [offset %llu, %zu bytes] runs past the end of the file (%zu bytes)",
                r->file, pn, at, t->nbytes, r->size);
            goto done;
        }
        t->data = r->data + data_start + offsets[i];
    }
    s = SL_OK;
done:
    free(offsets);
    return s;
}

sl_status sl_gguf_parse(const uint8_t *data, size_t size, const char *name, sl_gguf **out, sl_error *err) {
    *out = NULL;
    const char *file = name ? name : "gguf";
    sl_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(file))) {
        free(g);
        return sl_fail(err, SL_ERR_MEMORY, "%s: no memory", file);
    }
    g->data = data;
    g->size = size;
    gguf_reader r = {.data = data, .size = size, .pos = 0, .file = file, .err = err};
    if (!data && size) {
        sl_gguf_free(g);
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: no data", file);
    }
    static const uint8_t empty[1];
    if (!data) r.data = empty;
    sl_status s = parse_body(&r, g);
    if (s != SL_OK) {
        sl_gguf_free(g);
        return s;
    }
    *out = g;
    return SL_OK;
}

void sl_gguf_free(sl_gguf *g) {
    if (!g) return;
    /* all slots, not n_kv: the entry that failed to parse may own strings too */
    for (size_t i = 0; g->kv_strings && i < g->kv_slots; i++) free(g->kv_strings[i]);
    free(g->kv_strings);
    free(g->kvs);
    free(g->kv_by_name);
    free(g->tensors);
    free(g->tensor_by_name);
    free(g->name);
    free(g);
}

size_t sl_gguf_n_kv(const sl_gguf *g) {
    return g ? g->n_kv : 0;
}
const sl_gguf_kv *sl_gguf_kv_at(const sl_gguf *g, size_t i) {
    return g && i < g->n_kv ? &g->kvs[i] : NULL;
}
size_t sl_gguf_n_tensors(const sl_gguf *g) {
    return g ? g->n_tensors : 0;
}
const sl_gguf_tensor *sl_gguf_tensor_at(const sl_gguf *g, size_t i) {
    return g && i < g->n_tensors ? &g->tensors[i] : NULL;
}
uint32_t sl_gguf_alignment(const sl_gguf *g) {
    return g ? g->alignment : GGUF_DEFAULT_ALIGNMENT;
}

const sl_gguf_kv *sl_gguf_find_kv(const sl_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    size_t key_len = strlen(key), lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_name(g->kv_by_name[mid]->name, g->kv_by_name[mid]->name_len, key, key_len);
        if (c == 0) return g->kv_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const sl_gguf_tensor *sl_gguf_find_tensor(const sl_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    size_t len = strlen(name), lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_name(g->tensor_by_name[mid]->name, g->tensor_by_name[mid]->name_len, name, len);
        if (c == 0) return g->tensor_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- typed getters ------------------------------------------------------------------------------ */

static sl_status find_typed(const sl_gguf *g, const char *key, const sl_gguf_kv **out, sl_error *err) {
    *out = sl_gguf_find_kv(g, key);
    if (!*out) return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' is missing", g ? g->name : "gguf", key);
    return SL_OK;
}

static sl_status wrong_type(const sl_gguf *g, const sl_gguf_kv *kv, const char *key, const char *expected,
                            sl_error *err) {
    if (kv->type == SL_GGUF_ARRAY)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' has type array of %s, expected %s", g->name, key,
                       gguf_type_name(kv->arr_type), expected);
    return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->name, key,
                   gguf_type_name(kv->type), expected);
}

static int is_unsigned_type(uint32_t t) {
    return t == SL_GGUF_UINT8 || t == SL_GGUF_UINT16 || t == SL_GGUF_UINT32 || t == SL_GGUF_UINT64;
}
static int is_signed_type(uint32_t t) {
    return t == SL_GGUF_INT8 || t == SL_GGUF_INT16 || t == SL_GGUF_INT32 || t == SL_GGUF_INT64;
}

sl_status sl_gguf_get_u32(const sl_gguf *g, const char *key, uint32_t *out, sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    if (is_unsigned_type(kv->type)) {
        if (kv->u > UINT32_MAX)
            return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %llu does not fit in uint32", g->name, key,
                           (unsigned long long)kv->u);
        *out = (uint32_t)kv->u;
        return SL_OK;
    }
    if (is_signed_type(kv->type)) {
        if (kv->i < 0 || kv->i > (int64_t)UINT32_MAX)
            return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %lld does not fit in uint32", g->name, key,
                           (long long)kv->i);
        *out = (uint32_t)kv->i;
        return SL_OK;
    }
    return wrong_type(g, kv, key, "uint32", err);
}

sl_status sl_gguf_get_f32(const sl_gguf *g, const char *key, float *out, sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    if (kv->type != SL_GGUF_FLOAT32 && kv->type != SL_GGUF_FLOAT64)
        return wrong_type(g, kv, key, "float32", err);
    *out = (float)kv->f;
    return SL_OK;
}

sl_status sl_gguf_get_bool(const sl_gguf *g, const char *key, bool *out, sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    if (kv->type != SL_GGUF_BOOL) return wrong_type(g, kv, key, "bool", err);
    *out = kv->b;
    return SL_OK;
}

sl_status sl_gguf_get_str(const sl_gguf *g, const char *key, const char **str, size_t *len, sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    if (kv->type != SL_GGUF_STRING) return wrong_type(g, kv, key, "string", err);
    *str = kv->str;
    *len = kv->str_len;
    return SL_OK;
}

sl_status sl_gguf_get_arr(const sl_gguf *g, const char *key, uint32_t type, const void **data, uint64_t *n,
                          sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    char expected[48];
    snprintf(expected, sizeof expected, "array of %s", gguf_type_name(type));
    if (type == SL_GGUF_STRING || type == SL_GGUF_ARRAY)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: key '%s': use sl_gguf_arr_str for arrays of strings",
                       g->name, key);
    if (kv->type != SL_GGUF_ARRAY || kv->arr_type != type) return wrong_type(g, kv, key, expected, err);
    *data = kv->arr_data;
    *n = kv->arr_n;
    return SL_OK;
}

sl_status sl_gguf_arr_str(const sl_gguf *g, const char *key, uint64_t i, const char **str, size_t *len,
                          sl_error *err) {
    const sl_gguf_kv *kv;
    sl_status s = find_typed(g, key, &kv, err);
    if (s != SL_OK) return s;
    if (kv->type != SL_GGUF_ARRAY || kv->arr_type != SL_GGUF_STRING)
        return wrong_type(g, kv, key, "array of string", err);
    if (i >= kv->arr_n)
        return sl_fail(err, SL_ERR_ARGUMENT, "%s: key '%s': index %llu is past the %llu strings", g->name,
                       key, (unsigned long long)i, (unsigned long long)kv->arr_n);
    const gguf_str *strs = g->kv_strings[kv - g->kvs];
    *str = strs[i].s;
    *len = strs[i].len;
    return SL_OK;
}

/* ---- writer ------------------------------------------------------------------------------------- */

typedef struct {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *value; /* the value as written in the file (for arrays: element type, count, elements) */
    size_t value_len;
} writer_kv;

typedef struct {
    char *name;
    size_t name_len;
    uint32_t type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
} writer_tensor;

struct sl_gguf_writer {
    writer_kv *kvs;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    sl_error error; /* the first problem met while adding, reported by write: adders return nothing */
};

sl_gguf_writer *sl_gguf_writer_new(void) {
    return calloc(1, sizeof(sl_gguf_writer));
}

void sl_gguf_writer_free(sl_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->kvs[i].key), free(w->kvs[i].value);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

#define WRITER_FAIL(w, code, ...)                                                                            \
    do {                                                                                                     \
        if ((w)->error.status == SL_OK) sl_fail(&(w)->error, code, __VA_ARGS__);                             \
    } while (0)

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Appends a key whose value bytes (value_len of them) the caller fills through the returned pointer. */
static uint8_t *writer_add_kv(sl_gguf_writer *w, const char *key, uint32_t type, size_t value_len) {
    if (!w) return NULL;
    if (!key || !*key || strlen(key) > GGUF_MAX_KEY_BYTES) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: empty, missing or too long key");
        return NULL;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        writer_kv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            WRITER_FAIL(w, SL_ERR_MEMORY, "gguf writer: no memory for key '%s'", key);
            return NULL;
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    writer_kv *kv = &w->kvs[w->n_kv];
    kv->key_len = strlen(key);
    kv->key = strdup(key);
    kv->type = type;
    kv->value_len = value_len;
    kv->value = malloc(value_len ? value_len : 1);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        WRITER_FAIL(w, SL_ERR_MEMORY, "gguf writer: no memory for key '%s'", key);
        return NULL;
    }
    w->n_kv++;
    return kv->value;
}

static void add_scalar(sl_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    size_t n = gguf_scalar_size(type);
    uint8_t *p = writer_add_kv(w, key, type, n);
    if (p) put_le(p, bits, n);
}

void sl_gguf_add_u32(sl_gguf_writer *w, const char *key, uint32_t v) {
    add_scalar(w, key, SL_GGUF_UINT32, v);
}
void sl_gguf_add_i32(sl_gguf_writer *w, const char *key, int32_t v) {
    add_scalar(w, key, SL_GGUF_INT32, (uint32_t)v);
}
void sl_gguf_add_f32(sl_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    add_scalar(w, key, SL_GGUF_FLOAT32, bits);
}
void sl_gguf_add_bool(sl_gguf_writer *w, const char *key, bool v) {
    add_scalar(w, key, SL_GGUF_BOOL, v ? 1 : 0);
}

void sl_gguf_add_str(sl_gguf_writer *w, const char *key, const char *s) {
    if (w && !s) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: key '%s': NULL string", key ? key : "?");
        return;
    }
    size_t len = s ? strlen(s) : 0;
    if (len > SIZE_MAX - 8) return;
    uint8_t *p = writer_add_kv(w, key, SL_GGUF_STRING, 8 + len);
    if (!p) return;
    put_le(p, len, 8);
    memcpy(p + 8, s, len);
}

void sl_gguf_add_arr(sl_gguf_writer *w, const char *key, uint32_t type, const void *data, uint64_t n) {
    if (!w) return;
    size_t elem = gguf_scalar_size(type);
    if (elem == 0) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT,
                    "gguf writer: key '%s': arrays of %s are not written by sl_gguf_add_arr", key ? key : "?",
                    gguf_type_name(type));
        return;
    }
    if (n > (SIZE_MAX - 12) / elem || (n && !data)) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: key '%s': bad array of %llu elements", key ? key : "?",
                    (unsigned long long)n);
        return;
    }
    uint8_t *p = writer_add_kv(w, key, SL_GGUF_ARRAY, 12 + (size_t)n * elem);
    if (!p) return;
    put_le(p, type, 4);
    put_le(p + 4, n, 8);
    if (n) memcpy(p + 12, data, (size_t)n * elem); /* host order is little-endian on every target we build */
    if (type == SL_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++) p[12 + i] = p[12 + i] != 0; /* the file wants exactly 0 or 1 */
}

void sl_gguf_add_arr_str(sl_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                         uint64_t n) {
    if (!w) return;
    size_t total = 12;
    if (n && !s) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: key '%s': NULL strings", key ? key : "?");
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        size_t len = s[i] ? (lens ? lens[i] : strlen(s[i])) : 0;
        if ((!s[i] && lens && lens[i]) || len > SIZE_MAX - 8 - total) {
            WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: key '%s': bad string #%llu", key ? key : "?",
                        (unsigned long long)i);
            return;
        }
        total += 8 + len;
    }
    uint8_t *p = writer_add_kv(w, key, SL_GGUF_ARRAY, total);
    if (!p) return;
    put_le(p, SL_GGUF_STRING, 4);
    put_le(p + 4, n, 8);
    size_t at = 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = s[i] ? (lens ? lens[i] : strlen(s[i])) : 0;
        put_le(p + at, len, 8);
        if (len) memcpy(p + at + 8, s[i], len);
        at += 8 + len;
    }
}

void sl_gguf_add_kv_copy(sl_gguf_writer *w, const sl_gguf_kv *kv) {
    if (!w || !kv) return;
    char key[GGUF_MAX_KEY_BYTES + 1];
    size_t klen = kv->name_len < GGUF_MAX_KEY_BYTES ? kv->name_len : GGUF_MAX_KEY_BYTES;
    memcpy(key, kv->name, klen);
    key[klen] = 0;
    if (kv->type == SL_GGUF_STRING) {
        uint8_t *p = writer_add_kv(w, key, SL_GGUF_STRING, 8 + kv->str_len);
        if (!p) return;
        put_le(p, kv->str_len, 8);
        memcpy(p + 8, kv->str, kv->str_len);
    } else if (kv->type == SL_GGUF_ARRAY) {
        /* the elements were validated by the parser: their bytes are copied as they are */
        size_t bytes = 0, elem = gguf_scalar_size(kv->arr_type);
        if (kv->arr_type == SL_GGUF_STRING) {
            const uint8_t *q = kv->arr_data;
            for (uint64_t i = 0; i < kv->arr_n; i++) {
                uint64_t len = 0;
                for (int b = 0; b < 8; b++) len |= (uint64_t)q[b] << (8 * b);
                q += 8 + len;
            }
            bytes = (size_t)(q - kv->arr_data);
        } else {
            bytes = (size_t)kv->arr_n * elem;
        }
        uint8_t *p = writer_add_kv(w, key, SL_GGUF_ARRAY, 12 + bytes);
        if (!p) return;
        put_le(p, kv->arr_type, 4);
        put_le(p + 4, kv->arr_n, 8);
        if (bytes) memcpy(p + 12, kv->arr_data, bytes);
    } else {
        uint64_t bits = kv->u;
        if (kv->type == SL_GGUF_FLOAT32) {
            float f = (float)kv->f;
            uint32_t b32;
            memcpy(&b32, &f, 4);
            bits = b32;
        } else if (kv->type == SL_GGUF_FLOAT64) {
            memcpy(&bits, &kv->f, 8);
        } else if (kv->type == SL_GGUF_BOOL) {
            bits = kv->b;
        } else if (kv->type == SL_GGUF_INT8 || kv->type == SL_GGUF_INT16 || kv->type == SL_GGUF_INT32 ||
                   kv->type == SL_GGUF_INT64) {
            bits = (uint64_t)kv->i;
        }
        add_scalar(w, key, kv->type, bits);
    }
}

void sl_gguf_add_tensor(sl_gguf_writer *w, const char *name, uint32_t type, int n_dims, const int64_t *ne,
                        const void *data) {
    if (!w) return;
    const char *pn = name ? name : "?";
    if (!name || !*name || strlen(name) > GGUF_WRITER_MAX_NAME_BYTES) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: tensor '%s': name must be 1 to %d bytes", pn,
                    GGUF_WRITER_MAX_NAME_BYTES);
        return;
    }
    if (n_dims < 0 || n_dims > GGUF_MAX_DIMS || (n_dims && !ne)) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: tensor '%s': %d dimensions (0 to %d)", pn, n_dims,
                    GGUF_MAX_DIMS);
        return;
    }
    const int block = sl_ggml_block_size(type);
    if (!block) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT,
                    "gguf writer: tensor '%s': type %u is not f32, f16, q8_0, q5_0 or q4_0", pn, type);
        return;
    }
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || (ne[d] && n > INT64_MAX / ne[d])) {
            WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: tensor '%s': bad shape", pn);
            return;
        }
        n *= ne[d];
    }
    if ((n_dims == 0 ? 1 : ne[0]) % block != 0) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: tensor '%s': %s needs ne[0] a multiple of %d", pn,
                    sl_ggml_type_name(type), block);
        return;
    }
    size_t nbytes = sl_ggml_nbytes(type, n);
    if (nbytes == SIZE_MAX || (nbytes && !data)) {
        WRITER_FAIL(w, SL_ERR_ARGUMENT, "gguf writer: tensor '%s': no data or too large", pn);
        return;
    }
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        writer_tensor *ts = realloc(w->tensors, cap * sizeof *ts);
        if (!ts) {
            WRITER_FAIL(w, SL_ERR_MEMORY, "gguf writer: no memory for tensor '%s'", pn);
            return;
        }
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) {
        WRITER_FAIL(w, SL_ERR_MEMORY, "gguf writer: no memory for tensor '%s'", pn);
        return;
    }
    t->name_len = strlen(name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_tensors++;
}

/* Where the writer's bytes go: a memory block of the exact size, or an atomic file through a buffer (the
   header is many small pieces). Both see the same calls, so both hold the same bytes. */
typedef struct {
    bool counting; /* only add up the bytes */
    uint8_t *mem;
    size_t mem_cap;
    sl_atomic_file *file;
    uint8_t buf[1 << 16];
    size_t used;  /* bytes in buf (file) or in mem */
    size_t total; /* bytes emitted */
    sl_error *err;
} writer_sink;

static sl_status sink_flush(writer_sink *k) {
    if (!k->file || k->used == 0) return SL_OK;
    sl_status s = sl_atomic_write(k->file, k->buf, k->used, k->err);
    k->used = 0;
    return s;
}

static sl_status emit(writer_sink *k, const void *data, size_t n) {
    if (n > SIZE_MAX - k->total)
        return sl_fail(k->err, SL_ERR_MEMORY, "gguf writer: the file would not fit in memory");
    k->total += n;
    if (k->counting) return SL_OK;
    if (!k->file) {
        if (n > k->mem_cap - k->used)
            return sl_fail(k->err, SL_ERR_ARGUMENT, "gguf writer: size miscomputed");
        if (n) memcpy(k->mem + k->used, data, n);
        k->used += n;
        return SL_OK;
    }
    if (n > sizeof k->buf - k->used) {
        sl_status s = sink_flush(k);
        if (s != SL_OK) return s;
        if (n >= sizeof k->buf) return sl_atomic_write(k->file, data, n, k->err);
    }
    memcpy(k->buf + k->used, data, n);
    k->used += n;
    return SL_OK;
}

static sl_status emit_le(writer_sink *k, uint64_t v, size_t n) {
    uint8_t b[8];
    put_le(b, v, n);
    return emit(k, b, n);
}

static sl_status emit_padding(writer_sink *k, uint32_t alignment) {
    static const uint8_t zeros[256];
    size_t pad = (alignment - k->total % alignment) % alignment;
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? pad : sizeof zeros;
        sl_status s = emit(k, zeros, n);
        if (s != SL_OK) return s;
        pad -= n;
    }
    return SL_OK;
}

static int compare_writer_keys(const void *a, const void *b) {
    return strcmp((*(const writer_kv *const *)a)->key, (*(const writer_kv *const *)b)->key);
}
static int compare_writer_tensors(const void *a, const void *b) {
    return strcmp((*(const writer_tensor *const *)a)->name, (*(const writer_tensor *const *)b)->name);
}

/* Checks what was added and decides the alignment; *add_alignment says general.alignment must be written. */
static sl_status writer_check(sl_gguf_writer *w, uint32_t *alignment, bool *add_alignment, sl_error *err) {
    if (!w) return sl_fail(err, SL_ERR_ARGUMENT, "gguf writer: no writer");
    if (w->error.status != SL_OK) return sl_fail(err, w->error.status, "%s", w->error.message);
    *alignment = GGUF_DEFAULT_ALIGNMENT;
    *add_alignment = true;
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, "general.alignment") == 0) {
            uint64_t a = w->kvs[i].type == SL_GGUF_UINT32 ? load_le(w->kvs[i].value, 4) : 0;
            if (a == 0 || (a & (a - 1)) != 0)
                return sl_fail(err, SL_ERR_ARGUMENT,
                               "gguf writer: general.alignment must be a uint32 power of two");
            *alignment = (uint32_t)a;
            *add_alignment = false;
        }
    size_t n = w->n_kv > w->n_tensors ? w->n_kv : w->n_tensors;
    void **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return sl_fail(err, SL_ERR_MEMORY, "gguf writer: no memory");
    sl_status s = SL_OK;
    for (size_t i = 0; i < w->n_kv; i++) sorted[i] = &w->kvs[i];
    qsort(sorted, w->n_kv, sizeof *sorted, compare_writer_keys);
    for (size_t i = 1; i < w->n_kv && s == SL_OK; i++)
        if (compare_writer_keys(&sorted[i - 1], &sorted[i]) == 0)
            s = sl_fail(err, SL_ERR_ARGUMENT, "gguf writer: key '%s' added twice",
                        ((writer_kv *)sorted[i])->key);
    for (size_t i = 0; i < w->n_tensors; i++) sorted[i] = &w->tensors[i];
    qsort(sorted, w->n_tensors, sizeof *sorted, compare_writer_tensors);
    for (size_t i = 1; i < w->n_tensors && s == SL_OK; i++)
        if (compare_writer_tensors(&sorted[i - 1], &sorted[i]) == 0)
            s = sl_fail(err, SL_ERR_ARGUMENT, "gguf writer: tensor '%s' added twice",
                        ((writer_tensor *)sorted[i])->name);
    free(sorted);
    return s;
}

static sl_status writer_emit(const sl_gguf_writer *w, uint32_t alignment, bool add_alignment,
                             writer_sink *k) {
    sl_status s;
#define EMIT(call)                                                                                           \
    do {                                                                                                     \
        if ((s = (call)) != SL_OK) return s;                                                                 \
    } while (0)
    EMIT(emit(k, "GGUF", 4));
    EMIT(emit_le(k, 3, 4));
    EMIT(emit_le(k, w->n_tensors, 8));
    EMIT(emit_le(k, w->n_kv + (add_alignment ? 1 : 0), 8));
    for (size_t i = 0; i < w->n_kv; i++) {
        const writer_kv *kv = &w->kvs[i];
        EMIT(emit_le(k, kv->key_len, 8));
        EMIT(emit(k, kv->key, kv->key_len));
        EMIT(emit_le(k, kv->type, 4));
        EMIT(emit(k, kv->value, kv->value_len));
    }
    if (add_alignment) {
        static const char key[] = "general.alignment";
        EMIT(emit_le(k, sizeof key - 1, 8));
        EMIT(emit(k, key, sizeof key - 1));
        EMIT(emit_le(k, SL_GGUF_UINT32, 4));
        EMIT(emit_le(k, alignment, 4));
    }
    uint64_t offset = 0; /* relative to the data section */
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        EMIT(emit_le(k, t->name_len, 8));
        EMIT(emit(k, t->name, t->name_len));
        EMIT(emit_le(k, (uint64_t)t->n_dims, 4));
        for (int d = 0; d < t->n_dims; d++) EMIT(emit_le(k, (uint64_t)t->ne[d], 8));
        EMIT(emit_le(k, t->type, 4));
        EMIT(emit_le(k, offset, 8));
        offset += (t->nbytes + alignment - 1) / alignment * alignment;
    }
    EMIT(emit_padding(k, alignment));
    for (size_t i = 0; i < w->n_tensors; i++) {
        EMIT(emit(k, w->tensors[i].data, w->tensors[i].nbytes));
        EMIT(emit_padding(k, alignment));
    }
#undef EMIT
    return SL_OK;
}

sl_status sl_gguf_writer_write(sl_gguf_writer *w, const char *path, sl_error *err) {
    uint32_t alignment;
    bool add_alignment;
    sl_status s = writer_check(w, &alignment, &add_alignment, err);
    if (s != SL_OK) return sl_fail_context(err, "%s", path ? path : "gguf");
    writer_sink *k = calloc(1, sizeof *k);
    if (!k) return sl_fail(err, SL_ERR_MEMORY, "%s: no memory", path);
    k->err = err;
    if ((s = sl_atomic_open(path, &k->file, err)) != SL_OK) {
        free(k);
        return s;
    }
    s = writer_emit(w, alignment, add_alignment, k);
    if (s == SL_OK) s = sink_flush(k);
    if (s == SL_OK)
        s = sl_atomic_commit(k->file, err);
    else
        sl_atomic_abort(k->file);
    free(k);
    return s;
}

sl_status sl_gguf_writer_to_memory(sl_gguf_writer *w, uint8_t **data, size_t *size, sl_error *err) {
    *data = NULL;
    *size = 0;
    uint32_t alignment;
    bool add_alignment;
    sl_status s = writer_check(w, &alignment, &add_alignment, err);
    if (s != SL_OK) return s;
    /* a counting pass sizes the block, a second pass fills it */
    writer_sink *k = calloc(1, sizeof *k);
    if (!k) return sl_fail(err, SL_ERR_MEMORY, "gguf writer: no memory");
    k->err = err;
    k->counting = true;
    if ((s = writer_emit(w, alignment, add_alignment, k)) == SL_OK) {
        size_t total = k->total;
        memset(k, 0, sizeof *k);
        k->err = err;
        k->mem_cap = total;
        if (!(k->mem = malloc(total ? total : 1)))
            s = sl_fail(err, SL_ERR_MEMORY, "gguf writer: no memory for %zu bytes", total);
        else if ((s = writer_emit(w, alignment, add_alignment, k)) != SL_OK)
            free(k->mem);
        else {
            *data = k->mem;
            *size = k->used;
        }
    }
    free(k);
    return s;
}
