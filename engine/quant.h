/* q8_0 quantisation (the ggml block format) and the packing of q8_0 weights for the matrix product (which
   lives beside its kernels, simd.h; rewriting a model file's weights in q8_0 or f16 is convert.h's).

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

#include "fp16.h"
#include "gguf.h"

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

/* q5_0 and q4_0, ggml's blocks of 32 values with fewer bits, for the word embeddings only (rows gathered
   and dequantised, never multiplied): the value of largest magnitude m sets d = m / -16 (q5_0) or m / -8
   (q4_0), so that it is coded exactly, and each value gets the code q = min(31 or 15, trunc(x / d + 16.5 or
   8.5)): value = d * (q - 16) or d * (q - 8). Values of the other sign than m beyond 15/16 (7/8) of |m| are
   clamped. Codes of values i and i + 16 of a block share byte i of qs: i in the low nibble, i + 16 in the
   high one; q5_0 keeps each code's fifth bit in qh, bit i for value i (a little-endian 32-bit word). */
typedef struct {
    uint16_t d;                    /* scale, IEEE fp16 bits */
    uint8_t qs[SL_Q8_0_BLOCK / 2]; /* codes in [0, 15] */
} sl_block_q4_0;

typedef struct {
    uint16_t d;                    /* scale, IEEE fp16 bits */
    uint8_t qh[4];                 /* the fifth bit of each code */
    uint8_t qs[SL_Q8_0_BLOCK / 2]; /* the four low bits */
} sl_block_q5_0;

_Static_assert(sizeof(sl_block_q4_0) == 18, "a q4_0 block is an fp16 scale and 16 bytes (as in ggml)");
_Static_assert(sizeof(sl_block_q5_0) == 22, "a q5_0 block is an fp16 scale and 20 bytes (as in ggml)");

void sl_quantize_row_q4_0(const float *x, sl_block_q4_0 *y, int64_t k);
void sl_dequantize_row_q4_0(const sl_block_q4_0 *y, float *x, int64_t k);
void sl_quantize_row_q5_0(const float *x, sl_block_q5_0 *y, int64_t k);
void sl_dequantize_row_q5_0(const sl_block_q5_0 *y, float *x, int64_t k);

/* One row of k values of a tensor in ggml type `type` (f32, f16, q8_0, q5_0 or q4_0; k a multiple of its
   block size, sl_ggml_block_size) from / to f32. The row's bytes are sl_ggml_nbytes(type, k). */
void sl_row_to_f32(uint32_t type, const void *row, float *x, int64_t k);
void sl_row_from_f32(uint32_t type, const float *x, void *row, int64_t k);

/* Activations for the product: q (k) int8 and d (k/32) float scales of one row, as sl_quantize_row_q8_0
   but with the scale kept in f32. */
void sl_quantize_row_q8_act(const float *x, int8_t *q, float *d, int64_t k);
/* The same with values in [-qmax, qmax] (d = max|x| / qmax): 127 above, 63 for the relaxed-SIMD kernel's
   7-bit activations ("u7", simd.c). */
void sl_quantize_row_act(const float *x, int8_t *q, float *d, int64_t k, int qmax);

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

#endif
