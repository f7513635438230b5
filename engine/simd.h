/* The int8 matrix product of q8_0 weights, once per instruction set, behind one small interface.

   Weights are packed once, when a model loads (sl_q8_pack, quant.h: over the q8_0 rows' own bytes where the
   model may rewrite them, sl_q8_pack_in_place), into the layout the kernel reads:
   the N output columns in panels of SL_Q8P_COLS = 16 (the last one padded with zero columns), and in a
   panel, for each block b of 32 inputs, 512 bytes where the G consecutive weights k = 32b + Gg .. 32b + Gg
   + G - 1 of column c sit at bytes 16Gg + Gc .. 16Gg + Gc + G - 1, G being the kernel's `group`:
   - G = 4 for the kernels with a byte dot product of 4 (AVX-512 VNNI's vpdpbusd, relaxed SIMD's
     i32x4.relaxed_dot_i8x16_i7x16_add_s): one 64-byte load is "4 inputs of 16 columns" (a VNNI register,
     four WebAssembly registers), and a group of 4 inputs is one 32-bit broadcast of the activations;
   - G = 2 for simd128, whose only integer dot product sums pairs of int16 (i32x4.dot_i16x8_s): 8 bytes
     are "2 inputs of 4 columns", widened to int16 by the load, and their dot product with a pair of inputs
     broadcast puts each column's sum in its own lane (G = 4 would leave two halves to add up per block).
   Beside the bytes, each (panel, block) has the 16 columns' scales as floats and the 16 sums of their 32
   weights (for kernels that offset one operand to make it unsigned).

   Activations are quantised per row in the kernel's own format (int8 or int16 values, per-block float
   scales, and what its arithmetic needs beside), act_size(K) bytes a row.

   The unit of work is a tile: up to `rows` rows of activations against up to `panels` panels over all
   K/32 blocks:

       out[r * ldo + c] = bias[c] + sum over b of  dx[r][b] * dw[c][b] * sum over i < 32 of x[r][32b+i] w[c][32b+i]

   for r < nr and the columns c of panels p0 .. p0 + np - 1 that are < N (bias may be NULL). The integer
   sums are exact in every implementation; the float accumulation order differs (per block on the scalar
   path, per lane on the vector paths), so float results agree to rounding. Kernels: scalar C
   (everywhere), AVX2 and AVX-512 VNNI on x86-64 (target attributes, chosen at run time from the
   processor's features: one binary runs everywhere), WebAssembly simd128 when compiled with -msimd128,
   and WebAssembly relaxed SIMD where the engine runs it (a module of its own, engine/wasm_relaxed/; its
   activations are 7-bit, so its results differ from the others' by that rounding, not only by order: the
   kernel "scalar-u7" computes its bits in C, for every build). */
#ifndef SL_SIMD_H
#define SL_SIMD_H

#include <stddef.h>
#include <stddef.h>
#include <stdint.h>

#include "quant.h"
#include "threads.h"

#define SL_Q8P_COLS 16
#define SL_Q8P_BLOCK_BYTES (SL_Q8_0_BLOCK * SL_Q8P_COLS) /* 512 */

struct sl_q8_packed {
    int N, K, nb, n_panels;
    int group;           /* G above: 2 or 4 */
    const int8_t *qs;    /* (n_panels, nb, 512) as above */
    const float *d;      /* (n_panels, nb, 16) the blocks' scales (0 for padding columns) */
    const int32_t *wsum; /* (n_panels, nb, 16) the sum of each column's 32 weights in the block */
};

/* The byte of input i (< 32) of column c (< 16) in a block of 512, for group G */
static inline size_t sl_q8p_offset(int G, int c, int i) { return (size_t)(16 * G * (i / G) + G * c + i % G); }

typedef void (*sl_q8_tile_fn)(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                              const sl_q8_packed *w, int p0, int np, const float *bias);

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512vnni", "wasm-simd128", "wasm-relaxed" */
    int rows, panels; /* the tile's largest nr and np */
    int group;        /* the layout of the weights it reads (sl_q8_pack's group; the scalar kernel reads both) */
    /* bytes of one quantised activation row of K inputs (a multiple of 64) */
    size_t (*act_size)(int K);
    /* one row x (K) into row (act_size(K) bytes, 64-byte aligned) */
    void (*quantize)(uint8_t *row, const float *x, int K);
    sl_q8_tile_fn tile;
} sl_q8_kernels;

/* The fastest implementation this processor runs (chosen once). */
const sl_q8_kernels *sl_q8_kernels_best(void);
/* Every implementation this processor runs, best last (scalar first); returns the count (<= 8). For tests
   and benchmarks. */
int sl_q8_kernels_available(const sl_q8_kernels **list, int max);
/* One of those by name, or "scalar-u7" (the relaxed-SIMD kernel's arithmetic in C, which runs everywhere but
   is not listed above: its results are not those of the others); NULL for any other name. */
const sl_q8_kernels *sl_q8_kernels_named(const char *name);

/* matmul_q8_0_forward and its scratch size (quant.h) with a given implementation, for tests and benchmarks
   (weight packed with k->group). */
size_t sl_q8_scratch_size(const sl_q8_kernels *k, int M, int K);
void sl_q8_product(const sl_q8_kernels *k, float *out, const float *inp, const sl_q8_packed *weight,
                   const float *bias, int M, int gelu, void *scratch, sl_pool *pool);
/* matmul_q8_0_forward_n with a given implementation, and GELU as matmul_q8_0_forward's. */
void sl_q8_products(const sl_q8_kernels *k, int n, float *const *out, const float *inp,
                    const sl_q8_packed *const *weight, const float *const *bias, int M, int gelu, void *scratch,
                    sl_pool *pool);

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

#endif
