/* The int8 dot products of the q8_0 matrix product, once per instruction set, behind one small interface.

   The unit of work is a tile: up to `rows` rows of quantised activations against up to `cols` rows of q8_0
   weights (each implementation has its shape, at most SL_Q8_TILE_MAX x SL_Q8_TILE_MAX, as its registers
   allow), over nb blocks of 32:

       out[r * ldo + c] = sum over b < nb of  dx[r * nb + b] * fp16(w[c * nb + b].d)
                                            * sum over i < 32 of x[r * 32 nb + 32 b + i] * w[c * nb + b].qs[i]

   for r < nr, c < nc. The integer sums are exact in every implementation (activations in [-127, 127],
   weights any int8); the float accumulation order differs between them (per block on the scalar path,
   per lane on the vector paths), so float results agree to rounding.

   Implementations: scalar C (everywhere); on x86-64 AVX2+FMA, AVX-512 (BW) and AVX-512 VNNI, compiled with
   target attributes and chosen at run time from the processor's features, so one binary runs everywhere;
   WebAssembly simd128 when compiled with -msimd128. */
#ifndef SL_SIMD_H
#define SL_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

#define SL_Q8_TILE_MAX 4

typedef void (*sl_q8_0_tile_fn)(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                                const sl_block_q8_0 *w, int nc, int nb);

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512", "avx512vnni", "wasm-simd128" */
    int rows, cols;   /* the tile's largest nr and nc */
    sl_q8_0_tile_fn tile;
} sl_q8_0_kernels;

/* The fastest implementation this processor runs. */
const sl_q8_0_kernels *sl_q8_0_kernels_best(void);
/* Every implementation this processor runs, best last (scalar first); returns the count (<= 8). For tests
   and benchmarks. */
int sl_q8_0_kernels_available(const sl_q8_0_kernels **list, int max);

#endif
