/* safetensors reader and writer: 8-byte little-endian header length, a JSON header, then the tensor bytes.
   The reader checks every offset and shape against the file and uses the data in place. */
#ifndef SL_SAFETENSORS_H
#define SL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "fileio.h"

typedef enum { SL_DT_F32, SL_DT_F16, SL_DT_BF16, SL_DT_OTHER } sl_st_dtype;

typedef struct {
    const char *name;
    sl_st_dtype dtype;
    const char *dtype_name; /* as in the file, e.g. "F32", "I64"; unknown names fail the parse */
    int n_dims;
    int64_t shape[8];
    int64_t n_elements;
    const uint8_t *data;    /* into the caller's buffer */
    size_t nbytes;
} sl_st_tensor;

typedef struct sl_safetensors sl_safetensors;

/* Parses a safetensors file held in memory (the buffer must outlive the result). `name` is used in errors.
   Checks: header length within the file and at most 100 MB, a JSON object header, known dtypes, shapes of
   at most 8 non-negative integers whose size equals end - begin, offsets inside the data section, unique
   names. Holes and overlaps between tensors are not checked. Tensors keep the header's order. */
sl_status sl_safetensors_parse(const uint8_t *data, size_t size, const char *name, sl_safetensors **out,
                               sl_error *err);
void sl_safetensors_free(sl_safetensors *st);
size_t sl_safetensors_count(const sl_safetensors *st);
const sl_st_tensor *sl_safetensors_tensor(const sl_safetensors *st, size_t i);
const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name); /* NULL if absent */

/* Converts n elements of F32/F16/BF16 little-endian data (any alignment) to float, exactly (IEEE half
   subnormals, infinities and NaNs included). SL_DT_OTHER writes zeros: check the dtype first. */
void sl_to_f32(sl_st_dtype dtype, const uint8_t *src, float *dst, size_t n);

/* Writer. A file laid out as the safetensors library lays it out (so transformers reads it, and a file
   read and written again is the same bytes): the header {"__metadata__":{"format":"pt"}, then one entry
   {"dtype","shape","data_offsets"} per tensor in name order (bytewise), padded with spaces to a multiple of
   8 bytes; the data follows in the same order, without gaps. transformers refuses a file whose metadata
   has no "format". Of each tensor the writer reads name, dtype (F32, F16 or BF16), n_dims, shape and data
   (n_elements little-endian values, any alignment); it computes the rest. Fails on other dtypes, duplicate
   or empty names, more than 8 dimensions and negative sizes, naming the tensor. To f, which the caller
   commits (several files can then appear together), or to memory (malloc'ed bytes). */
sl_status sl_safetensors_write(const sl_st_tensor *tensors, size_t n, sl_atomic_file *f, sl_error *err);
sl_status sl_safetensors_to_memory(const sl_st_tensor *tensors, size_t n, uint8_t **data, size_t *size,
                                   sl_error *err);

#endif
