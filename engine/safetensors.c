/* safetensors (Hugging Face): u64 little-endian header length N, N bytes of JSON mapping each tensor name to
   {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional "__metadata__" string map), then the
   data section; offsets are relative to the data section. Reading copies nothing: names point into the
   parsed JSON, data into the caller's buffer. Writing streams the caller's tensors after the header. */
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "json.h"

/* A header is a few hundred bytes per tensor; anything near this is not a model we want to read. */
#define ST_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)
/* Largest integer a double (the JSON number) holds exactly: 2^53. */
#define ST_MAX_EXACT_INTEGER 9007199254740992.0

struct sl_safetensors {
    char *name;
    sl_json *header;
    sl_st_tensor *tensors; /* in header order */
    size_t n_tensors;
    const sl_st_tensor **by_name; /* sorted by name, for sl_safetensors_find and the duplicate check */
};

/* Element sizes in bits: sub-byte float formats (F4, F6) exist, so bytes would not do. */
static const struct {
    const char *name;
    sl_st_dtype dtype;
    int bits;
} st_dtypes[] = {
    {"F32", SL_DT_F32, 32},      {"F16", SL_DT_F16, 16},      {"BF16", SL_DT_BF16, 16},
    {"F64", SL_DT_OTHER, 64},    {"I64", SL_DT_OTHER, 64},    {"U64", SL_DT_OTHER, 64},
    {"I32", SL_DT_OTHER, 32},    {"U32", SL_DT_OTHER, 32},    {"I16", SL_DT_OTHER, 16},
    {"U16", SL_DT_OTHER, 16},    {"I8", SL_DT_OTHER, 8},      {"U8", SL_DT_OTHER, 8},
    {"BOOL", SL_DT_OTHER, 8},    {"F8_E5M2", SL_DT_OTHER, 8}, {"F8_E4M3", SL_DT_OTHER, 8},
    {"F8_E8M0", SL_DT_OTHER, 8}, {"F6_E2M3", SL_DT_OTHER, 6}, {"F6_E3M2", SL_DT_OTHER, 6},
    {"F4", SL_DT_OTHER, 4},      {"C64", SL_DT_OTHER, 64},
};

/* Tensor names come from the file: print at most 80 bytes, with control bytes as '?'. */
static const char *printable(const char *s, char *buf, size_t cap) {
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len && n + 4 < cap; i++) buf[n++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n < len && n + 4 >= cap) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = 0;
    return buf;
}

/* A JSON number that must be a non-negative integer a double holds exactly. */
static int json_uint(const sl_json *v, uint64_t *out) {
    if (!v || v->type != SL_JSON_NUMBER) return 0;
    double d = v->number;
    if (!(d >= 0) || d > ST_MAX_EXACT_INTEGER || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int compare_names(const void *a, const void *b) {
    return strcmp((*(const sl_st_tensor *const *)a)->name, (*(const sl_st_tensor *const *)b)->name);
}

static sl_status parse_tensor(const char *file, const sl_json *entry, const uint8_t *data_section,
                              uint64_t data_size, sl_st_tensor *t, sl_error *err) {
    char nm[96];
    const char *name = printable(entry->key, nm, sizeof nm);
    t->name = entry->key;
    if (entry->type != SL_JSON_OBJECT)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' (header %d:%d): expected an object", file, name,
                       entry->line, entry->column);
    const sl_json *dtype = sl_json_get(entry, "dtype"), *shape = sl_json_get(entry, "shape"),
                  *offsets = sl_json_get(entry, "data_offsets");
    if (!dtype || dtype->type != SL_JSON_STRING)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string", file,
                       name);
    int bits = 0;
    t->dtype_name = dtype->string;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(dtype->string, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].dtype;
            bits = st_dtypes[i].bits;
        }
    if (!bits) {
        char dn[48];
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype \"%s\"", file, name,
                       printable(dtype->string, dn, sizeof dn));
    }
    if (!shape || shape->type != SL_JSON_ARRAY)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s': \"shape\" is missing or not an array", file,
                       name);
    if (shape->n_children > 8)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions, at most 8 are supported",
                       file, name, shape->n_children);
    t->n_dims = (int)shape->n_children;
    int64_t n = 1;
    int overflow = 0;
    int d = 0;
    for (const sl_json *e = shape->child; e; e = e->next, d++) {
        uint64_t v;
        if (!json_uint(e, &v))
            return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                           file, name, d);
        t->shape[d] = (int64_t)v;
        if (v != 0 && (uint64_t)n > (uint64_t)INT64_MAX / v)
            overflow = 1;
        else
            n *= (int64_t)v;
    }
    /* a zero dimension makes the product 0 whatever the others are */
    for (int i = 0; i < t->n_dims; i++)
        if (t->shape[i] == 0) n = 0, overflow = 0;
    if (overflow)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s': the element count of its shape overflows", file,
                       name);
    t->n_elements = n;
    uint64_t begin, end;
    if (!offsets || offsets->type != SL_JSON_ARRAY || offsets->n_children != 2 ||
        !json_uint(offsets->child, &begin) || !json_uint(offsets->child->next, &end))
        return sl_fail(err, SL_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" must be [begin, end], two non-negative integers",
                       file, name);
    if (begin > end || end > data_size)
        return sl_fail(
            err, SL_ERR_FORMAT,
            "%s: tensor '%s': data_offsets [%llu, %llu] are not within the data section (%llu bytes)", file,
            name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    /* bytes = n * bits / 8; n < 2^63 and bits <= 64, so compare in two steps to stay in 64 bits */
    uint64_t un = (uint64_t)n;
    if (un > UINT64_MAX / (uint64_t)bits || (un * (uint64_t)bits) % 8 != 0 ||
        un * (uint64_t)bits / 8 != end - begin)
        return sl_fail(
            err, SL_ERR_FORMAT,
            "%s: tensor '%s': %lld elements of %s need %s%llu bytes, but data_offsets [%llu, %llu] hold "
            "%llu",
            file, name, (long long)n, t->dtype_name, un > UINT64_MAX / (uint64_t)bits ? "more than " : "",
            un > UINT64_MAX / (uint64_t)bits ? (unsigned long long)UINT64_MAX
                                             : (unsigned long long)(un * (uint64_t)bits / 8),
            (unsigned long long)begin, (unsigned long long)end, (unsigned long long)(end - begin));
    t->data = data_section + begin;
    t->nbytes = (size_t)(end - begin);
    return SL_OK;
}

sl_status sl_safetensors_parse(const uint8_t *data, size_t size, const char *name, sl_safetensors **out,
                               sl_error *err) {
    *out = NULL;
    const char *file = name ? name : "safetensors";
    if (size < 8)
        return sl_fail(err, SL_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length",
                       file, size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | data[i];
    if (header_len > (uint64_t)size - 8)
        return sl_fail(err, SL_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                       file, (unsigned long long)header_len, size);
    if (header_len > ST_MAX_HEADER_BYTES)
        return sl_fail(err, SL_ERR_FORMAT, "%s: header length %llu is over the %llu-byte limit", file,
                       (unsigned long long)header_len, (unsigned long long)ST_MAX_HEADER_BYTES);
    if (header_len < 2 || data[8] != '{')
        return sl_fail(err, SL_ERR_FORMAT, "%s: the header does not start with '{' (not a safetensors file?)",
                       file);

    sl_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->name = strdup(file))) {
        free(st);
        return sl_fail(err, SL_ERR_MEMORY, "%s: no memory", file);
    }
    char json_name[300];
    snprintf(json_name, sizeof json_name, "%s header", file);
    sl_status s = sl_json_parse((const char *)data + 8, (size_t)header_len, json_name, &st->header, err);
    if (s != SL_OK) goto fail;
    if (st->header->type != SL_JSON_OBJECT) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: the header is not a JSON object", file);
        goto fail;
    }
    const uint8_t *data_section = data + 8 + header_len;
    uint64_t data_size = (uint64_t)size - 8 - header_len;
    size_t n = st->header->n_children; /* bounded by the header size */
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->tensors || !st->by_name) {
        s = sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu tensors", file, n);
        goto fail;
    }
    for (const sl_json *e = st->header->child; e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0) continue; /* free-form strings: not ours to judge */
        if ((s = parse_tensor(file, e, data_section, data_size, &st->tensors[st->n_tensors], err)) != SL_OK)
            goto fail;
        st->by_name[st->n_tensors] = &st->tensors[st->n_tensors];
        st->n_tensors++;
    }
    qsort(st->by_name, st->n_tensors, sizeof *st->by_name, compare_names);
    for (size_t i = 1; i < st->n_tensors; i++) {
        const char *a = st->by_name[i - 1]->name, *b = st->by_name[i]->name;
        if (strcmp(a, b) == 0) {
            char nm[96];
            s = sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", file,
                        printable(a, nm, sizeof nm));
            goto fail;
        }
    }
    *out = st;
    return SL_OK;
fail:
    sl_safetensors_free(st);
    return s;
}

void sl_safetensors_free(sl_safetensors *st) {
    if (!st) return;
    sl_json_free(st->header);
    free(st->tensors);
    free(st->by_name);
    free(st->name);
    free(st);
}

size_t sl_safetensors_count(const sl_safetensors *st) {
    return st ? st->n_tensors : 0;
}

const sl_st_tensor *sl_safetensors_tensor(const sl_safetensors *st, size_t i) {
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sl_st_tensor *t = st->by_name[mid];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void sl_to_f32(sl_st_dtype dtype, const uint8_t *src, float *dst, size_t n) {
    switch (dtype) {
    case SL_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                            (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
            memcpy(&dst[i], &bits, sizeof bits);
        }
        break;
    case SL_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = sl_fp16_to_fp32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    case SL_DT_BF16:
        /* bfloat16 is the top half of a float */
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)src[2 * i] << 16 | (uint32_t)src[2 * i + 1] << 24;
            memcpy(&dst[i], &bits, sizeof bits);
        }
        break;
    case SL_DT_OTHER: /* no float reading of integers: the caller checks dtype first */
        memset(dst, 0, n * sizeof *dst);
        break;
    }
}

/* ---- writer ------------------------------------------------------------------------------------ */

static int compare_tensor_ptrs(const void *a, const void *b) {
    return strcmp((*(const sl_st_tensor *const *)a)->name, (*(const sl_st_tensor *const *)b)->name);
}

/* Checks the tensors, sorts them by name into *order (malloc'ed) with their byte sizes, and writes the
   header (length prefix included) into *header. */
static sl_status write_header(const sl_st_tensor *tensors, size_t n, const sl_st_tensor ***order,
                              size_t **nbytes, sl_json_text *header, sl_error *err) {
    *order = malloc((n ? n : 1) * sizeof **order);
    *nbytes = malloc((n ? n : 1) * sizeof **nbytes);
    if (!*order || !*nbytes) return sl_fail(err, SL_ERR_MEMORY, "safetensors: no memory for %zu tensors", n);
    for (size_t i = 0; i < n; i++) (*order)[i] = &tensors[i];
    qsort(*order, n, sizeof **order, compare_tensor_ptrs);
    sl_json_printf(header, "%8s{\"__metadata__\":{\"format\":\"pt\"}", ""); /* 8 bytes for the length */
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const sl_st_tensor *t = (*order)[i];
        char nm[96];
        if (!t->name || !*t->name) return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor %zu has no name", i);
        const char *name = printable(t->name, nm, sizeof nm);
        if (i > 0 && strcmp((*order)[i - 1]->name, t->name) == 0)
            return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor '%s' is given twice", name);
        if (t->dtype == SL_DT_OTHER)
            return sl_fail(err, SL_ERR_UNSUPPORTED, "safetensors: tensor '%s': only F32, F16 and BF16 are written",
                           name);
        if (t->n_dims < 0 || t->n_dims > 8)
            return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor '%s' has %d dimensions (0 to 8)", name,
                           t->n_dims);
        const char *dtype = t->dtype == SL_DT_F32 ? "F32" : t->dtype == SL_DT_F16 ? "F16" : "BF16";
        uint64_t bytes = t->dtype == SL_DT_F32 ? 4 : 2;
        sl_json_printf(header, ",");
        sl_json_string(header, t->name, strlen(t->name));
        sl_json_printf(header, ":{\"dtype\":\"%s\",\"shape\":[", dtype);
        for (int d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0 || (t->shape[d] > 0 && bytes > (UINT64_MAX >> 1) / (uint64_t)t->shape[d]))
                return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor '%s': shape[%d] = %lld is out of range",
                               name, d, (long long)t->shape[d]);
            bytes *= (uint64_t)t->shape[d];
            sl_json_printf(header, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        }
        if (bytes > SIZE_MAX || offset + bytes < offset)
            return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor '%s' does not fit in memory", name);
        if (bytes && !t->data) return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: tensor '%s' has no data", name);
        sl_json_printf(header, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                       (unsigned long long)(offset + bytes));
        (*nbytes)[i] = (size_t)bytes;
        offset += bytes;
    }
    sl_json_printf(header, "}");
    while (header->len % 8) sl_json_printf(header, " ");
    if (header->failed) return sl_fail(err, SL_ERR_MEMORY, "safetensors: no memory for the header");
    uint64_t json_len = header->len - 8;
    for (int i = 0; i < 8; i++) header->buf[i] = (char)(json_len >> (8 * i));
    return SL_OK;
}

/* One writer behind both outputs: to an atomic file, or to one allocation sized beforehand. */
static sl_status write_all(const sl_st_tensor *tensors, size_t n, sl_atomic_file *f, uint8_t **data,
                           size_t *size, sl_error *err) {
    const sl_st_tensor **order = NULL;
    size_t *nbytes = NULL;
    sl_json_text header = {0};
    sl_status s = write_header(tensors, n, &order, &nbytes, &header, err);
    size_t total = header.len;
    for (size_t i = 0; s == SL_OK && i < n; i++) total += nbytes[i];
    uint8_t *out = NULL;
    if (s == SL_OK && data && !(out = malloc(total ? total : 1)))
        s = sl_fail(err, SL_ERR_MEMORY, "safetensors: no memory for %zu bytes", total);
    size_t at = 0;
    for (size_t i = 0; s == SL_OK && i <= n; i++) {
        const void *bytes = i == 0 ? (const void *)header.buf : order[i - 1]->data;
        size_t len = i == 0 ? header.len : nbytes[i - 1];
        if (out) {
            if (len) memcpy(out + at, bytes, len);
            at += len;
        } else {
            s = sl_atomic_write(f, bytes, len, err);
        }
    }
    if (s == SL_OK && data) {
        *data = out;
        *size = total;
    } else {
        free(out);
    }
    free(header.buf);
    free(order);
    free(nbytes);
    return s;
}

sl_status sl_safetensors_write(const sl_st_tensor *tensors, size_t n, sl_atomic_file *f, sl_error *err) {
    if (!f) return sl_fail(err, SL_ERR_ARGUMENT, "safetensors: no file to write to");
    return write_all(tensors, n, f, NULL, NULL, err);
}

sl_status sl_safetensors_to_memory(const sl_st_tensor *tensors, size_t n, uint8_t **data, size_t *size,
                                   sl_error *err) {
    *data = NULL;
    *size = 0;
    return write_all(tensors, n, NULL, data, size, err);
}
