#include "simd.h"

/* Every implementation computes the same tile (see simd.h). Rows beyond nr and columns beyond nc repeat
   the last valid one, so the loops have fixed trip counts and keep their accumulators in registers; only
   the valid outputs are stored. */

/* ---- scalar C ----------------------------------------------------------------------------------- */

static void tile_scalar(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                        const sl_block_q8_0 *w, int nc, int nb) {
    const size_t K = (size_t)nb * SL_Q8_0_BLOCK;
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            const int8_t *xr = x + r * K;
            const sl_block_q8_0 *wc = w + (size_t)c * nb;
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int i = 0; i < SL_Q8_0_BLOCK; i++) dot += xr[b * SL_Q8_0_BLOCK + i] * wc[b].qs[i];
                sum += (float)dot * (dx[(size_t)r * nb + b] * sl_fp16_to_fp32(wc[b].d));
            }
            out[r * ldo + c] = sum;
        }
}

static const sl_q8_0_kernels kernels_scalar = {"scalar", 4, 2, tile_scalar};

/* ---- x86-64: AVX2, AVX-512, AVX-512 VNNI ------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL_SIMD_X86 1
#include <immintrin.h>

/* F16C (vcvtph2ps) is not tested for: every AVX2 processor has it (x86-64-v3 includes it). */
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))

/* Tile shapes: 16 accumulators fill half of AVX-512's 32 registers; AVX2 has 16 in all. */
enum { AVX2_R = 4, AVX2_C = 2, AVX512_R = 4, AVX512_C = 4 };

#define TILE_SETUP(R, C)                                                                                     \
    const size_t K = (size_t)nb * SL_Q8_0_BLOCK;                                                             \
    const int8_t *xr[R];                                                                                     \
    const float *dr[R];                                                                                      \
    const sl_block_q8_0 *wc[C];                                                                              \
    for (int r = 0; r < R; r++) {                                                                            \
        const int rr = r < nr ? r : nr - 1;                                                                  \
        xr[r] = x + rr * K;                                                                                  \
        dr[r] = dx + (size_t)rr * nb;                                                                        \
    }                                                                                                        \
    for (int c = 0; c < C; c++) wc[c] = w + (size_t)(c < nc ? c : nc - 1) * nb

/* AVX2: one block per 256-bit register. vpmaddubsw multiplies unsigned by signed bytes, so the weight's
   sign moves onto the activation: |w| * (x * sign(w)) = x * w, with pair sums of at most 2 * 128 * 127,
   inside int16 (x is in [-127, 127]). */
TARGET_AVX2 static void tile_avx2(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                                  const sl_block_q8_0 *w, int nc, int nb) {
    enum { R = AVX2_R, C = AVX2_C };
    TILE_SETUP(R, C);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i wq[C], wa[C];
        float dw[C];
        for (int c = 0; c < C; c++) {
            wq[c] = _mm256_loadu_si256((const __m256i *)(const void *)wc[c][b].qs);
            wa[c] = _mm256_abs_epi8(wq[c]);
            dw[c] = _cvtsh_ss(wc[c][b].d);
        }
        for (int r = 0; r < R; r++) {
            const __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)(xr[r] + b * SL_Q8_0_BLOCK));
            const float d = dr[r][b];
            for (int c = 0; c < C; c++) {
                __m256i p = _mm256_maddubs_epi16(wa[c], _mm256_sign_epi8(xq, wq[c]));
                __m256i dot = _mm256_madd_epi16(p, ones);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d * dw[c]), acc[r][c]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            out[r * ldo + c] = _mm_cvtss_f32(s);
        }
}

/* AVX-512: two blocks per 512-bit register (blocks b and b+1 in the low and high halves; a last odd block
   has zeros above), and their scales as a vector of two halves. */
#define TWO_BLOCKS(lo, hi, two)                                                                              \
    _mm512_inserti64x4(                                                                                      \
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(lo))),                     \
        (two) ? _mm256_loadu_si256((const __m256i *)(const void *)(hi)) : _mm256_setzero_si256(), 1)

/* The activations of a row are contiguous: blocks b and b+1 are one load. */
TARGET_AVX512 static inline __m512i two_x_blocks(const int8_t *p, int two) {
    return two ? _mm512_loadu_si512((const void *)p)
               : _mm512_inserti64x4(_mm512_setzero_si512(),
                                    _mm256_loadu_si256((const __m256i *)(const void *)p), 0);
}

/* Lanes 0-7 = lane 0 of v, lanes 8-15 = lane 1. */
TARGET_AVX512 static inline __m512 spread_two(__m128 v) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v));
}

/* The activation scales d[0], d[1] (d[1] only when two) and the fp16 weight scales a, b. */
TARGET_AVX512 static inline __m512 two_x_scales(const float *d, int two) {
    return spread_two(two ? _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)d))
                          : _mm_load_ss(d));
}
TARGET_AVX512 static inline __m512 two_w_scales(uint16_t a, uint16_t b) {
    return spread_two(_mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | (uint32_t)b << 16))));
}

/* AVX-512 without VNNI: the AVX2 scheme on twice the width; there is no 512-bit vpsignb, so the sign is
   applied by a masked subtraction from zero. */
TARGET_AVX512 static void tile_avx512(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                                      const sl_block_q8_0 *w, int nc, int nb) {
    enum { R = AVX512_R, C = AVX512_C };
    TILE_SETUP(R, C);
    const __m512i ones = _mm512_set1_epi16(1), zero = _mm512_setzero_si512();
    __m512 acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        __m512i wa[C];
        __mmask64 neg[C];
        __m512 dw[C];
        for (int c = 0; c < C; c++) {
            const __m512i wq = TWO_BLOCKS(wc[c][b].qs, wc[c][b + two].qs, two);
            wa[c] = _mm512_abs_epi8(wq);
            neg[c] = _mm512_movepi8_mask(wq);
            dw[c] = two_w_scales(wc[c][b].d, two ? wc[c][b + 1].d : 0);
        }
        for (int r = 0; r < R; r++) {
            const __m512i xq = two_x_blocks(xr[r] + b * SL_Q8_0_BLOCK, two);
            const __m512 d = two_x_scales(dr[r] + b, two);
            for (int c = 0; c < C; c++) {
                __m512i p = _mm512_maddubs_epi16(wa[c], _mm512_mask_sub_epi8(xq, neg[c], zero, xq));
                __m512i dot = _mm512_madd_epi16(p, ones);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, dw[c]), acc[r][c]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) out[r * ldo + c] = _mm512_reduce_add_ps(acc[r][c]);
}

/* AVX-512 VNNI: vpdpbusd sums four unsigned x signed byte products into int32 lanes, with no int16 step.
   The activations are made unsigned by adding 128 (x ^ 0x80): sum (x + 128) w = sum x w + 128 sum w, and
   the accumulator starts at -128 sum w (one more vpdpbusd of 0x80 bytes by the weights, per weight block),
   so the lanes hold exactly sum x w. */
TARGET_VNNI static void tile_avx512vnni(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                                        const sl_block_q8_0 *w, int nc, int nb) {
    enum { R = AVX512_R, C = AVX512_C };
    TILE_SETUP(R, C);
    const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    __m512 acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        __m512i wq[C], start[C];
        __m512 dw[C];
        for (int c = 0; c < C; c++) {
            wq[c] = TWO_BLOCKS(wc[c][b].qs, wc[c][b + two].qs, two);
            start[c] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wq[c]));
            dw[c] = two_w_scales(wc[c][b].d, two ? wc[c][b + 1].d : 0);
        }
        for (int r = 0; r < R; r++) {
            const __m512i xu = _mm512_xor_si512(two_x_blocks(xr[r] + b * SL_Q8_0_BLOCK, two), bias);
            const __m512 d = two_x_scales(dr[r] + b, two);
            for (int c = 0; c < C; c++) {
                __m512i dot = _mm512_dpbusd_epi32(start[c], xu, wq[c]);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, dw[c]), acc[r][c]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) out[r * ldo + c] = _mm512_reduce_add_ps(acc[r][c]);
}

static const sl_q8_0_kernels kernels_avx2 = {"avx2", AVX2_R, AVX2_C, tile_avx2};
static const sl_q8_0_kernels kernels_avx512 = {"avx512", AVX512_R, AVX512_C, tile_avx512};
static const sl_q8_0_kernels kernels_avx512vnni = {"avx512vnni", AVX512_R, AVX512_C, tile_avx512vnni};
#endif

/* ---- WebAssembly simd128 ------------------------------------------------------------------------- */

#ifdef __wasm_simd128__
#include <wasm_simd128.h>

/* No byte dot product in simd128: bytes widen to int16 and i32x4.dot_i16x8_s sums pairs of products
   (at most 2 * 128 * 127, exact). No FMA in the base set: multiply, then add. A 2 x 2 tile: the widened
   weights (8 vectors), activations (4) and accumulators (4) fit the 16 registers engines map v128 to. */
enum { WASM_R = 2, WASM_C = 2 };
static void tile_wasm(float *out, size_t ldo, const int8_t *x, const float *dx, int nr,
                      const sl_block_q8_0 *w, int nc, int nb) {
    enum { R = WASM_R, C = WASM_C };
    const size_t K = (size_t)nb * SL_Q8_0_BLOCK;
    const int8_t *xr[R];
    const float *dr[R];
    const sl_block_q8_0 *wc[C];
    for (int r = 0; r < R; r++) {
        const int rr = r < nr ? r : nr - 1;
        xr[r] = x + rr * K;
        dr[r] = dx + (size_t)rr * nb;
    }
    for (int c = 0; c < C; c++) wc[c] = w + (size_t)(c < nc ? c : nc - 1) * nb;
    v128_t acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = wasm_f32x4_splat(0.0f);
    for (int b = 0; b < nb; b++) {
        v128_t we[C][4];
        float dw[C];
        for (int c = 0; c < C; c++) {
            const v128_t w0 = wasm_v128_load(wc[c][b].qs), w1 = wasm_v128_load(wc[c][b].qs + 16);
            we[c][0] = wasm_i16x8_extend_low_i8x16(w0);
            we[c][1] = wasm_i16x8_extend_high_i8x16(w0);
            we[c][2] = wasm_i16x8_extend_low_i8x16(w1);
            we[c][3] = wasm_i16x8_extend_high_i8x16(w1);
            dw[c] = sl_fp16_to_fp32(wc[c][b].d);
        }
        for (int r = 0; r < R; r++) {
            const int8_t *xb = xr[r] + b * SL_Q8_0_BLOCK;
            const v128_t x0 = wasm_v128_load(xb), x1 = wasm_v128_load(xb + 16);
            const v128_t xe0 = wasm_i16x8_extend_low_i8x16(x0), xe1 = wasm_i16x8_extend_high_i8x16(x0);
            const v128_t xe2 = wasm_i16x8_extend_low_i8x16(x1), xe3 = wasm_i16x8_extend_high_i8x16(x1);
            const float d = dr[r][b];
            for (int c = 0; c < C; c++) {
                v128_t dot = wasm_i32x4_add(
                    wasm_i32x4_add(wasm_i32x4_dot_i16x8(xe0, we[c][0]), wasm_i32x4_dot_i16x8(xe1, we[c][1])),
                    wasm_i32x4_add(wasm_i32x4_dot_i16x8(xe2, we[c][2]), wasm_i32x4_dot_i16x8(xe3, we[c][3])));
                acc[r][c] = wasm_f32x4_add(
                    acc[r][c], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dot), wasm_f32x4_splat(d * dw[c])));
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            const v128_t a = acc[r][c];
            out[r * ldo + c] = (wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 2)) +
                               (wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 3));
        }
}

static const sl_q8_0_kernels kernels_wasm = {"wasm-simd128", WASM_R, WASM_C, tile_wasm};
#endif

/* ---- choice --------------------------------------------------------------------------------------- */

int sl_q8_0_kernels_available(const sl_q8_0_kernels **list, int max) {
    const sl_q8_0_kernels *all[8];
    int n = 0;
    all[n++] = &kernels_scalar;
#ifdef SL_SIMD_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        all[n++] = &kernels_avx2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl")) {
            all[n++] = &kernels_avx512;
            if (__builtin_cpu_supports("avx512vnni")) all[n++] = &kernels_avx512vnni;
        }
    }
#endif
#ifdef __wasm_simd128__
    all[n++] = &kernels_wasm;
#endif
    for (int i = 0; i < n && i < max; i++) list[i] = all[i];
    return n < max ? n : max;
}

const sl_q8_0_kernels *sl_q8_0_kernels_best(void) {
    const sl_q8_0_kernels *list[8];
    return list[sl_q8_0_kernels_available(list, 8) - 1];
}
