/* GGUF v3 (the ggml single-file format): header, key/value metadata, tensor infos, aligned tensor data.
   The reader is a checked view over bytes in memory: nothing is copied, every length, count, type,
   offset and alignment is validated against the buffer before use. The writer collects keys and tensor
   pointers and writes the file atomically (temporary file + fsync + rename). */
#ifndef SL_GGUF_H
#define SL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* GGUF value types (as in the GGUF specification). */
typedef enum {
    SL_GGUF_UINT8 = 0, SL_GGUF_INT8 = 1, SL_GGUF_UINT16 = 2, SL_GGUF_INT16 = 3, SL_GGUF_UINT32 = 4,
    SL_GGUF_INT32 = 5, SL_GGUF_FLOAT32 = 6, SL_GGUF_BOOL = 7, SL_GGUF_STRING = 8, SL_GGUF_ARRAY = 9,
    SL_GGUF_UINT64 = 10, SL_GGUF_INT64 = 11, SL_GGUF_FLOAT64 = 12,
} sl_gguf_type;

/* ggml tensor types read and written here (values from ggml.h). q4_0 and q5_0 (blocks of 32 values: an
   fp16 scale and 4- or 5-bit codes, quant.h) serve only for the word embeddings, whose rows are dequantised
   when gathered; the matrix products take q8_0. */
typedef enum {
    SL_GGML_F32 = 0,
    SL_GGML_F16 = 1,
    SL_GGML_Q4_0 = 2,
    SL_GGML_Q5_0 = 6,
    SL_GGML_Q8_0 = 8
} sl_ggml_type;

/* Bytes for n elements of a tensor type (n must be a multiple of the block size); 0 if unknown type;
   SIZE_MAX if n is negative, not a whole number of blocks, or the size does not fit in size_t. */
size_t sl_ggml_nbytes(uint32_t type, int64_t n);
/* Elements per block of a type this file reads (1 for f32 and f16, 32 for the q types); 0 for the others. */
int sl_ggml_block_size(uint32_t type);
const char *sl_ggml_type_name(uint32_t type);
/* The type of a name of sl_ggml_type_name ("q8_0"), or UINT32_MAX for none. */
uint32_t sl_ggml_type_by_name(const char *name);

typedef struct {
    const char *name; size_t name_len; /* not 0-terminated in the file: use name_len */
    uint32_t type;                     /* sl_gguf_type */
    /* scalar values: u for UINT8..UINT64 (and BOOL as 0/1), i for INT8..INT64, f for FLOAT32/FLOAT64, b for
       BOOL; the other fields stay 0 */
    uint64_t u; int64_t i; double f; bool b;
    const char *str; size_t str_len;   /* STRING: into the buffer, not 0-terminated */
    /* ARRAY */
    uint32_t arr_type; uint64_t arr_n;
    const uint8_t *arr_data;           /* first element; for string arrays use sl_gguf_arr_str */
} sl_gguf_kv;

typedef struct {
    const char *name; size_t name_len;
    uint32_t type;                     /* sl_ggml_type */
    int n_dims;
    int64_t ne[4];                     /* ne[0] varies fastest (ggml order: reversed from PyTorch's) */
    const uint8_t *data;               /* aligned, into the buffer */
    size_t nbytes;
} sl_gguf_tensor;

typedef struct sl_gguf sl_gguf;

/* Versions 2 and 3. Keys and tensor names must be unique; general.alignment (uint32, default 32) must be a
   power of two; tensors are f32, f16, q8_0, q5_0 or q4_0 with at most 4 dimensions. Errors start with `name`.
 */
sl_status sl_gguf_parse(const uint8_t *data, size_t size, const char *name, sl_gguf **out, sl_error *err);
void sl_gguf_free(sl_gguf *g);

size_t sl_gguf_n_kv(const sl_gguf *g);
const sl_gguf_kv *sl_gguf_kv_at(const sl_gguf *g, size_t i);
const sl_gguf_kv *sl_gguf_find_kv(const sl_gguf *g, const char *key); /* NULL if absent */
size_t sl_gguf_n_tensors(const sl_gguf *g);
const sl_gguf_tensor *sl_gguf_tensor_at(const sl_gguf *g, size_t i);
const sl_gguf_tensor *sl_gguf_find_tensor(const sl_gguf *g, const char *name);

/* Typed getters: fail with "<name>: key 'k' is missing" / "... has type string, expected uint32". Integer
   getters accept any integer type whose value fits. */
sl_status sl_gguf_get_u32(const sl_gguf *g, const char *key, uint32_t *out, sl_error *err);
sl_status sl_gguf_get_f32(const sl_gguf *g, const char *key, float *out, sl_error *err);
sl_status sl_gguf_get_bool(const sl_gguf *g, const char *key, bool *out, sl_error *err);
sl_status sl_gguf_get_str(const sl_gguf *g, const char *key, const char **s, size_t *len, sl_error *err);
/* An array of `type` (any element type but STRING gives a pointer to packed little-endian elements). */
sl_status sl_gguf_get_arr(const sl_gguf *g, const char *key, uint32_t type, const void **data, uint64_t *n,
                          sl_error *err);
/* i-th string of a string array (checked during parse, so O(1) via an index built at parse time). */
sl_status sl_gguf_arr_str(const sl_gguf *g, const char *key, uint64_t i, const char **s, size_t *len,
                          sl_error *err);
uint32_t sl_gguf_alignment(const sl_gguf *g);

/* Writer. Strings and arrays are copied when added; tensor data is referenced and must stay valid until
   sl_gguf_writer_write returns. Tensors are written in the order added, each aligned (32 by default, or the
   uint32 general.alignment if added; otherwise general.alignment = 32 is written as the last key). The
   adders return nothing: the first problem (duplicate key or tensor, bad type or shape, no memory) is kept
   and returned by sl_gguf_writer_write / sl_gguf_writer_to_memory, which then write nothing. */
typedef struct sl_gguf_writer sl_gguf_writer;
sl_gguf_writer *sl_gguf_writer_new(void);
void sl_gguf_writer_free(sl_gguf_writer *w);
void sl_gguf_add_u32(sl_gguf_writer *w, const char *key, uint32_t v);
void sl_gguf_add_i32(sl_gguf_writer *w, const char *key, int32_t v);
void sl_gguf_add_f32(sl_gguf_writer *w, const char *key, float v);
void sl_gguf_add_bool(sl_gguf_writer *w, const char *key, bool v);
void sl_gguf_add_str(sl_gguf_writer *w, const char *key, const char *s);
void sl_gguf_add_arr(sl_gguf_writer *w, const char *key, uint32_t type, const void *data, uint64_t n);
void sl_gguf_add_arr_str(sl_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                         uint64_t n); /* lens may be NULL: strlen */
/* Copies a key and its value from a parsed file (e.g. to rewrite a model with new tensors). */
void sl_gguf_add_kv_copy(sl_gguf_writer *w, const sl_gguf_kv *kv);
void sl_gguf_add_tensor(sl_gguf_writer *w, const char *name, uint32_t type, int n_dims, const int64_t *ne,
                        const void *data);
sl_status sl_gguf_writer_write(sl_gguf_writer *w, const char *path, sl_error *err);
/* Also to memory (for tests and the wasm build): malloc'ed bytes. */
sl_status sl_gguf_writer_to_memory(sl_gguf_writer *w, uint8_t **data, size_t *size, sl_error *err);

#endif
