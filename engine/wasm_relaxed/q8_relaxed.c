/* The q8_0 product with WebAssembly relaxed SIMD: a module of its own, compiled by clang (19 or later)
   and linked by wasm-ld alone, that imports the engine's memory and exports two functions.

   Why a separate module: the engine is linked by emcc 3.1.6, whose binaryen (108) predates the final
   relaxed-SIMD opcodes and decodes them as the old ones; this module never goes through binaryen. The
   engine reaches it through an imported JS function (web/q8_relaxed_library.js), which instantiates it
   once per thread against the engine's memory. So the code below must not touch memory of its own: no
   data, no stack (checked at build time by engine/wasm_relaxed/embed.mjs); every array here has a fixed
   size and is only indexed in fully unrolled loops, so clang keeps it in locals.

   The arithmetic: the relaxed byte dot products multiply signed bytes by "7-bit" bytes; their result is
   deterministic only when the second operand is in [0, 127] (x86 engines lower them to pmaddubsw, which
   reads that operand unsigned; ARM ones to sdot or smull). So the weights (q8_0, [-127, 127]) are the
   first operand and the activations the second, quantised to 7 bits and offset (format "u7", simd.c):
   u = q + 64 in [1, 127] with q = round(x / d7), d7 = max|x| / 63. Then sum w u = sum w q + 64 sum w, so
   a block's accumulator starts at -64 times the column's weight sum (packed with the weights) and ends at
   sum w q, exactly. No sum can overflow: a pair of products is within 2 * 128 * 127 < 32768, a block's
   sum within 32 * 127 * 127.

   Weights: the packed layout of simd.h; the 16 bytes at 64g + 16j of a panel block are 4 inputs
   (32b + 4g ..) of 4 columns (4j ..), so against the row's 4 inputs splatted, the 4 lanes of a dot product
   are the 4 columns directly.

   Two tiles, the same integers and the same float operations in the same order (so the same bits), with
   the instruction that is fastest depending on the processor (web/q8_relaxed_library.js measures which):
     tile      i32x4.relaxed_dot_i8x16_i7x16_add: one instruction where there is a byte dot product (ARM
               sdot, x86 AVX-VNNI vpdpbusd); five in V8 on x86 without AVX-VNNI (pmaddubsw, pmaddwd by a
               vector of ones made anew each time, paddd);
     tile16    i16x8.relaxed_dot_i8x16_i7x16 then i32x4.dot_i16x8_s by a constant vector of ones and an add:
               three instructions on x86 (pmaddubsw, pmaddwd, paddd).
   Both are 4 rows x 8 columns, the loop over the 8 groups of a block rolled (unrolled, clang orders the
   sums row by row with every weight vector live, and V8 spills). Measured in Chromium 156 on a Zen 4
   without AVX-VNNI, 128 x 768 x 768 with quantisation, one thread: tile16 37, tile 33, simd128 31 GMAC/s
   (unrolled: 30 and 26, 4 x 4 for tile16). */
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define UNROLL _Pragma("clang loop unroll(full)")

enum { COLS = 16, BLOCK_BYTES = 512, MAX_R = 4, MAX_J = 2 };

/* acc + the 4 column sums of w (4 columns x 4 bytes) times u (4 bytes, repeated) */
static inline v128_t dot32(v128_t w, v128_t u, v128_t acc) {
    return wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w, u, acc);
}
static inline v128_t dot16(v128_t w, v128_t u, v128_t acc) {
    /* |a pair| <= 2 * 128 * 127 < 32768: pmaddubsw does not saturate */
    const v128_t pairs = wasm_i16x8_relaxed_dot_i8x16_i7x16(w, u);
    return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(pairs, wasm_i16x8_splat(1)));
}

/* out[r * ldo + c] = bias[c] + sum over blocks b of dx[r][b] dw[c][b] (sum_i w u - 64 wsum[c][b]), for
   r < nr (any number of rows) and the columns c < N of panels p0 .. p0 + np - 1; bias may be 0. act: rows of
   u7 activations, act_stride bytes apart: K bytes of u (K rounded up to 64), then the K/32 float scales.
   qs, d, wsum, N, nb: the fields of sl_q8_packed. Micro-tiles of R rows x 4J columns (R, J constants). */
static inline __attribute__((always_inline)) void tile_rj(float *out, int ldo, const uint8_t *act,
                                                          int act_stride, int nr, const int8_t *qs,
                                                          const float *d, const int32_t *wsum, int N, int nb,
                                                          int p0, int np, const float *bias, const int R,
                                                          const int J, const int wide) {
    const int K = nb * 32, scales = (K + 63) & ~63;
    for (int r0 = 0; r0 < nr; r0 += R) {
        /* rows beyond nr repeat the last one: fixed trip counts, accumulators in registers */
        const uint8_t *x[MAX_R];
        UNROLL for (int r = 0; r < R; r++) x[r] = act + (r0 + r < nr ? r0 + r : nr - 1) * act_stride;
        const int rows = nr - r0 < R ? nr - r0 : R;
        for (int p = p0; p < p0 + np; p++)
            for (int j0 = 0; j0 < 4; j0 += J) {
                const int n0 = p * COLS + 4 * j0;
                if (n0 >= N) break;
                v128_t facc[MAX_R][MAX_J];
                UNROLL for (int r = 0; r < R; r++)
                    UNROLL for (int j = 0; j < J; j++) facc[r][j] = wasm_f32x4_splat(0.0f);
                for (int b = 0; b < nb; b++) {
                    const int ci = (p * nb + b) * COLS + 4 * j0;
                    const int8_t *wb = qs + (p * nb + b) * BLOCK_BYTES + 16 * j0;
                    v128_t acc[MAX_R][MAX_J];
                    UNROLL for (int j = 0; j < J; j++) {
                        const v128_t w64 = wasm_i32x4_shl(wasm_v128_load(wsum + ci + 4 * j), 6);
                        const v128_t init = wasm_i32x4_neg(w64); /* -64 wsum */
                        UNROLL for (int r = 0; r < R; r++) acc[r][j] = init;
                    }
#pragma clang loop unroll(disable)
                    for (int g = 0; g < 8; g++) {
                        v128_t wv[MAX_J];
                        UNROLL for (int j = 0; j < J; j++) wv[j] = wasm_v128_load(wb + 64 * g + 16 * j);
                        UNROLL for (int r = 0; r < R; r++) {
                            const v128_t u = wasm_v128_load32_splat(x[r] + 32 * b + 4 * g);
                            UNROLL for (int j = 0; j < J; j++)
                                acc[r][j] = wide ? dot32(wv[j], u, acc[r][j]) : dot16(wv[j], u, acc[r][j]);
                        }
                    }
                    UNROLL for (int r = 0; r < R; r++) {
                        const v128_t dx = wasm_v128_load32_splat(x[r] + scales + 4 * b);
                        UNROLL for (int j = 0; j < J; j++) {
                            const v128_t s = wasm_f32x4_mul(wasm_v128_load(d + ci + 4 * j), dx);
                            const v128_t sum = wasm_f32x4_convert_i32x4(acc[r][j]);
                            facc[r][j] = wasm_f32x4_add(facc[r][j], wasm_f32x4_mul(sum, s));
                        }
                    }
                }
                UNROLL for (int j = 0; j < J; j++) {
                    const int n = n0 + 4 * j;
                    if (n >= N) continue; /* not break: the loops must unroll, facc stay in locals */
                    const v128_t bv = !bias ? wasm_f32x4_splat(0.0f)
                                      : N - n >= 4 ? wasm_v128_load(bias + n)
                                                   : wasm_f32x4_make(bias[n], N - n > 1 ? bias[n + 1] : 0.0f,
                                                                     N - n > 2 ? bias[n + 2] : 0.0f, 0.0f);
                    UNROLL for (int r = 0; r < R; r++) {
                        if (r >= rows) continue;
                        float *o = out + (r0 + r) * ldo + n;
                        const v128_t v = wasm_f32x4_add(facc[r][j], bv);
                        if (N - n >= 4) {
                            wasm_v128_store(o, v);
                        } else {
                            o[0] = wasm_f32x4_extract_lane(v, 0);
                            if (N - n > 1) o[1] = wasm_f32x4_extract_lane(v, 1);
                            if (N - n > 2) o[2] = wasm_f32x4_extract_lane(v, 2);
                        }
                    }
                }
            }
    }
}

/* 4 x 8 (8 integer accumulators, 2 weight vectors and an activation splat in registers; ARM has 32). */
EXPORT("tile")
void tile(float *out, int ldo, const uint8_t *act, int act_stride, int nr, const int8_t *qs, const float *d,
          const int32_t *wsum, int N, int nb, int p0, int np, const float *bias) {
    tile_rj(out, ldo, act, act_stride, nr, qs, d, wsum, N, nb, p0, np, bias, 4, 2, 1);
}

EXPORT("tile16")
void tile16(float *out, int ldo, const uint8_t *act, int act_stride, int nr, const int8_t *qs, const float *d,
            const int32_t *wsum, int N, int nb, int p0, int np, const float *bias) {
    tile_rj(out, ldo, act, act_stride, nr, qs, d, wsum, N, nb, p0, np, bias, 4, 2, 0);
}
