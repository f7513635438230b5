/* q8_0 quantisation (the ggml block format) and the matrix product with q8_0 weights.

   A q8_0 block holds 32 consecutive values of a row as one fp16 scale d and 32 int8 q, value = d * q,
   with d = max|x| / 127 so that q spans [-127, 127]. A Linear weight (N,K) in q8_0 is N rows of K/32
   blocks, 34 bytes each, read in place from the GGUF file.

   In the product, the activations are quantised on the fly, per row and per block of 32, to int8 with a
   float scale (not an fp16 one: they are never stored, so the rounding of the scale to fp16 would only
   add error), then each output is a sum over blocks of an exact integer dot product times d_w * d_x. The
   integer dot products run on the best instruction set of the processor (simd.h). */
#ifndef SL_QUANT_H
#define SL_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "gguf.h"
#include "threads.h"

#define SL_Q8_0_BLOCK 32

typedef struct {
    uint16_t d;               /* scale, IEEE fp16 bits */
    int8_t qs[SL_Q8_0_BLOCK]; /* values in [-127, 127] */
} sl_block_q8_0;

_Static_assert(sizeof(sl_block_q8_0) == 34,
               "a q8_0 block is an fp16 scale and 32 int8 (34 bytes, as in ggml)");


/* y (k/32 blocks) = q8_0 of x (k), k a multiple of 32; as ggml's reference quantiser: d = max|x| / 127,
   q = round(x * (1/d)) (halves away from zero), fp16(d) stored; a block of zeros gets d = 0. */
void sl_quantize_row_q8_0(const float *x, sl_block_q8_0 *y, int64_t k);
/* x (k) = d * q for each block of y (k/32 blocks). */
void sl_dequantize_row_q8_0(const sl_block_q8_0 *y, float *x, int64_t k);

/* Activations for the product: q (k) int8 and d (k/32) float scales of one row, as sl_quantize_row_q8_0
   but with the scale kept in f32. */
void sl_quantize_row_q8_act(const float *x, int8_t *q, float *d, int64_t k);

/* Linear weights in the layout of the kernels (simd.h): made once when a model loads, from its q8_0 rows
   (N rows of K/32 blocks), with `group` (2 or 4) consecutive inputs of a column side by side, as the kernel
   that will read them wants (its sl_q8_kernels.group). The same values, only moved: the fp16 scales become
   floats. One allocation, about as large as the q8_0 rows. NULL when there is no memory (or group is not
   2 or 4). */
typedef struct sl_q8_packed sl_q8_packed;
sl_q8_packed *sl_q8_pack(const sl_block_q8_0 *w, int N, int K, int group);
/* The same, with the weights' bytes laid out over the q8_0 rows themselves (they are 32 of every 34
   bytes): the rows are no longer q8_0 afterwards. Only the scales and sums are allocated (8 bytes per
   block of 34). NULL when N is not a multiple of SL_Q8P_COLS (16), or no memory; w is unchanged then. */
sl_q8_packed *sl_q8_pack_in_place(sl_block_q8_0 *w, int N, int K, int group);
void sl_q8_packed_free(sl_q8_packed *p);

/* Bytes of scratch memory matmul_q8_0_forward needs for M rows of K inputs. */
size_t matmul_q8_0_scratch_size(int M, int K);

/* out (M,N) = inp (M,K) . weight^T + bias (N) (bias may be NULL), weight packed from q8_0 rows (N,K), then
   GELU (gelu_forward) when `gelu`: applied to each tile as it is written, while it is in cache, and by the
   threads that write it, where the kernel's tiles are wide enough to gain by it (else after the product,
   by rows). scratch: matmul_q8_0_scratch_size(M, K) bytes. Threads split the quantisation of inp by rows,
   then the output by panels of columns. */
void matmul_q8_0_forward(float *out, const float *inp, const sl_q8_packed *weight, const float *bias, int M,
                         int gelu, void *scratch, sl_pool *pool);
/* n (<= 4) products of the same inp, out[i] (M,N_i) = inp (M,K) . weight[i]^T + bias[i] (bias may be NULL,
   or any bias[i]): inp quantised once, and one run of the threads over the panels of all of them (the
   attention's Q, K and V). */
void matmul_q8_0_forward_n(int n, float *const *out, const float *inp, const sl_q8_packed *const *weight,
                           const float *const *bias, int M, void *scratch, sl_pool *pool);

/* ---- model files -------------------------------------------------------------------------------- */

typedef struct {
    int n_converted; /* Linear weights written in the new type */
    int n_kept;      /* Linear weights left in their type (q8_0: rows not a multiple of 32) */
    char first_kept[96];
    size_t bytes_in, bytes_out; /* tensor data, before and after */
} sl_quantize_report;

/* Rewrites a model (GGUF bytes) with the Linear weights of the encoder layers (attention q, k, v, output,
   feed-forward up and down) in `type`: SL_GGML_Q8_0, SL_GGML_F16 or SL_GGML_F32, from any of the three.
   Embeddings, LayerNorms, biases and the classifier are copied as they are (see quant.c). Every key is
   copied, general.file_type set as ggml does (f32 0, f16 1, q8_0 7). Writes to out_path atomically, or
   when out_path is NULL to *out_data / *out_size (malloc'ed). report may be NULL. */
sl_status sl_quantize_model(const uint8_t *data, size_t size, const char *name, uint32_t type,
                            const char *out_path, uint8_t **out_data, size_t *out_size,
                            sl_quantize_report *report, sl_error *err);

#endif
