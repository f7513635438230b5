#include "simd.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "kernels.h"
#include "surligne.h" /* sl_q8_kernel_name is public */

/* Every kernel computes the same tile (see simd.h). Rows beyond nr repeat the last valid one, so the
   loops have fixed trip counts and keep their accumulators in registers; only valid outputs are stored. */

static inline size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static inline const int8_t *panel_block(const sl_q8_packed *w, int p, int b) {
    return w->qs + ((size_t)p * w->nb + b) * SL_Q8P_BLOCK_BYTES;
}
static inline size_t panel_index(const sl_q8_packed *w, int p, int b) {
    return ((size_t)p * w->nb + b) * SL_Q8P_COLS;
}

/* ---- activation formats ---------------------------------------------------------------------------- */

/* "i8": the int8 values (K bytes), then the block scales (K/32 floats), then -128 times the sum of each
   block's values (K/32 int32: what the unsigned-times-signed products of the VNNI kernel add too much). */
static size_t i8_size(int K) { return round64((size_t)K) + round64((size_t)K / SL_Q8_0_BLOCK * 8); }
static inline const float *i8_scales(const uint8_t *row, int K) {
    return (const float *)(const void *)(row + round64((size_t)K));
}

static void i8_quantize(uint8_t *row, const float *x, int K) {
    int8_t *q = (int8_t *)row;
    float *d = (float *)(void *)(row + round64((size_t)K));
    int32_t *corr = (int32_t *)(void *)(d + K / SL_Q8_0_BLOCK);
    sl_quantize_row_q8_act(x, q, d, K);
    for (int b = 0; b < K / SL_Q8_0_BLOCK; b++) {
        int32_t s = 0;
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) s += q[b * SL_Q8_0_BLOCK + i];
        corr[b] = -128 * s;
    }
}

/* "i16": the values widened to int16 (2K bytes), then the block scales: for kernels whose only integer
   dot product is int16 (AVX2's vpmaddwd, simd128's i32x4.dot_i16x8_s); widening once per row here saves
   doing it in every tile. */
static size_t i16_size(int K) { return round64((size_t)K * 2) + round64((size_t)K / SL_Q8_0_BLOCK * 4); }
static inline const float *i16_scales(const uint8_t *row, int K) {
    return (const float *)(const void *)(row + round64((size_t)K * 2));
}

/* The values and scales of the tile's R rows (rows beyond nr repeat the last). */
static inline void i16_rows(const int16_t **x, const float **dx, int R, const uint8_t *act, size_t act_stride,
                            int nr, int K) {
    for (int r = 0; r < R; r++) {
        const uint8_t *row = act + (size_t)(r < nr ? r : nr - 1) * act_stride;
        x[r] = (const int16_t *)(const void *)row;
        dx[r] = i16_scales(row, K);
    }
}

/* ---- scalar C ----------------------------------------------------------------------------------- */

/* Both scalar kernels: the integer sums of a block for the 16 columns of a panel, reading its bytes in order,
   then per column sum += dot * (dw * dx) over the blocks. "i8" rows hold signed bytes; "u7" rows hold
   u = q + 64, so their sums start from -64 times the column's weight sum: the same integer, the same floats
   as the relaxed-SIMD kernel's. */
static inline void tile_scalar_rows(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                                    const sl_q8_packed *w, int p0, int np, const float *bias, int u7) {
    const int nb = w->nb, G = w->group;
    for (int r = 0; r < nr; r++) {
        const uint8_t *row = act + (size_t)r * act_stride;
        const float *dx = i8_scales(row, w->K); /* the same place in a "u7" row */
        for (int p = p0; p < p0 + np; p++) {
            float sum[SL_Q8P_COLS] = {0};
            for (int b = 0; b < nb; b++) {
                const int8_t *wb = panel_block(w, p, b);
                const size_t ci = panel_index(w, p, b);
                int32_t dot[SL_Q8P_COLS];
                for (int c = 0; c < SL_Q8P_COLS; c++) dot[c] = u7 ? -64 * w->wsum[ci + (size_t)c] : 0;
                /* the block's bytes in order: G inputs of each of the 16 columns, 32 / G times */
                for (int g = 0; g < SL_Q8_0_BLOCK / G; g++)
                    for (int c = 0; c < SL_Q8P_COLS; c++)
                        for (int k = 0; k < G; k++) {
                            const uint8_t a = row[b * SL_Q8_0_BLOCK + G * g + k];
                            dot[c] += (u7 ? (int)a : (int)(int8_t)a) * wb[SL_Q8P_COLS * G * g + G * c + k];
                        }
                for (int c = 0; c < SL_Q8P_COLS; c++) sum[c] += (float)dot[c] * (w->d[ci + (size_t)c] * dx[b]);
            }
            for (int c = 0; c < SL_Q8P_COLS && p * SL_Q8P_COLS + c < w->N; c++) {
                const int n = p * SL_Q8P_COLS + c;
                out[(size_t)r * ldo + (size_t)n] = sum[c] + (bias ? bias[n] : 0.0f);
            }
        }
    }
}

static void tile_scalar(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                        const sl_q8_packed *w, int p0, int np, const float *bias) {
    tile_scalar_rows(out, ldo, act, act_stride, nr, w, p0, np, bias, 0);
}

static const sl_q8_kernels kernels_scalar = {"scalar", 4, 1, 4, i8_size, i8_quantize, tile_scalar};

/* "u7": 7-bit activations offset to unsigned, u = q + 64 in [1, 127] with q = round(x / d7) in [-63, 63]
   and d7 = max|x| / 63 per block (K bytes), then the block scales d7 (K/32 floats): the format of the
   relaxed-SIMD kernel, whose byte dot product is deterministic only with one operand in [0, 127]. */
static size_t u7_size(int K) { return round64((size_t)K) + round64((size_t)K / SL_Q8_0_BLOCK * 4); }

static void u7_quantize(uint8_t *row, const float *x, int K) {
    int8_t *q = (int8_t *)row;
    sl_quantize_row_act(x, q, (float *)(void *)(row + round64((size_t)K)), K, 63);
    for (int i = 0; i < K; i++) row[i] = (uint8_t)(q[i] + 64);
}

/* The relaxed-SIMD kernel's arithmetic in C, bit for bit: what the browser computes, natively
   (sl_q8_kernel_select("scalar-u7")), and the reference its tests compare with. */
static void tile_scalar_u7(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                           const sl_q8_packed *w, int p0, int np, const float *bias) {
    tile_scalar_rows(out, ldo, act, act_stride, nr, w, p0, np, bias, 1);
}

static const sl_q8_kernels kernels_scalar_u7 = {"scalar-u7", 4, 1, 4, u7_size, u7_quantize, tile_scalar_u7};

/* ---- x86-64: AVX2, AVX-512 VNNI ----------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL_SIMD_X86 1
#include <immintrin.h>

#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))
#define INLINE inline __attribute__((always_inline))

static inline int32_t load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline int64_t load_i64(const void *p) {
    int64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* "i16" rows (AVX2's activations; the wasm build has a vector copy of it, i16_quantize_wasm) */
static void i16_quantize(uint8_t *row, const float *x, int K) {
    int16_t *q = (int16_t *)(void *)row;
    float *d = (float *)(void *)(row + round64((size_t)K * 2));
    for (int b = 0; b < K / SL_Q8_0_BLOCK; b++) {
        int8_t q8[SL_Q8_0_BLOCK];
        sl_quantize_row_q8_act(x + b * SL_Q8_0_BLOCK, q8, d + b, SL_Q8_0_BLOCK);
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) q[b * SL_Q8_0_BLOCK + i] = q8[i];
    }
}

/* AVX2: half a panel (8 columns) at a time, 4 rows. The 16 bytes of 4 columns x 4 inputs widen to int16
   and vpmaddwd them with the row's 4 inputs broadcast: lanes hold (column, inputs 0-1) and (column,
   inputs 2-3); vphaddd of two such accumulators and a lane permutation give the 8 columns in order. */
enum { AVX2_R = 4 };
TARGET_AVX2 static void tile_avx2(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                                  const sl_q8_packed *w, int p0, int np, const float *bias) {
    enum { R = AVX2_R };
    const int nb = w->nb, K = w->K;
    const int16_t *x[R];
    const float *dx[R];
    i16_rows(x, dx, R, act, act_stride, nr, K);
    for (int p = p0; p < p0 + np; p++)
        for (int h = 0; h < 2; h++) {
            const int n0 = p * SL_Q8P_COLS + 8 * h;
            if (n0 >= w->N) break;
            __m256 facc[R];
            for (int r = 0; r < R; r++) facc[r] = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++) {
                const int8_t *wb = panel_block(w, p, b) + 32 * h;
                __m256i acc0[R], acc1[R];
                for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm256_setzero_si256();
                for (int g = 0; g < 8; g++) {
                    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * g)));
                    const __m256i w1 =
                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * g + 16)));
                    for (int r = 0; r < R; r++) {
                        const __m256i xs = _mm256_set1_epi64x(load_i64(x[r] + b * SL_Q8_0_BLOCK + 4 * g));
                        acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(w0, xs));
                        acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(w1, xs));
                    }
                }
                const __m256 ws = _mm256_loadu_ps(w->d + panel_index(w, p, b) + 8 * (size_t)h);
                for (int r = 0; r < R; r++) {
                    const __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc0[r], acc1[r]), 0xd8);
                    facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws, _mm256_set1_ps(dx[r][b])),
                                              facc[r]);
                }
            }
            const int nc = w->N - n0 < 8 ? w->N - n0 : 8;
            for (int r = 0; r < nr; r++) {
                float v[8];
                _mm256_storeu_ps(v, facc[r]);
                for (int c = 0; c < nc; c++) out[(size_t)r * ldo + (size_t)(n0 + c)] = v[c] + (bias ? bias[n0 + c] : 0.0f);
            }
        }
}

/* AVX-512 VNNI: vpdpbusd sums four unsigned x signed byte products into each int32 lane. One 64-byte load
   is 4 inputs of the panel's 16 columns; the row's 4 inputs are a broadcast operand. The weights are made
   unsigned by flipping their sign bit (w + 128): sum (w + 128) x = sum w x + 128 sum x, so each block's
   accumulator starts at the row's -128 sum x (kept with the activations) and holds exactly sum w x.
   4 rows x J panels: 4J integer and 4J float accumulators, J weight registers (J <= 3: 27 of the 32). */
enum { VNNI_R = 4, VNNI_J = 3 };
TARGET_VNNI static INLINE void vnni_tile(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                                         const sl_q8_packed *w, int p0, const float *bias, const int J) {
    enum { R = VNNI_R };
    const int nb = w->nb, K = w->K;
    const int8_t *x[R];
    const float *dx[R];
    const int32_t *corr[R];
    for (int r = 0; r < R; r++) {
        const uint8_t *row = act + (size_t)(r < nr ? r : nr - 1) * act_stride;
        x[r] = (const int8_t *)row;
        dx[r] = i8_scales(row, K);
        corr[r] = (const int32_t *)(const void *)(dx[r] + nb);
    }
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 facc[R][VNNI_J];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < J; j++) facc[r][j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512i acc[R][VNNI_J];
        for (int r = 0; r < R; r++) {
            const __m512i c = _mm512_set1_epi32(corr[r][b]);
            for (int j = 0; j < J; j++) acc[r][j] = c;
        }
        const int8_t *wb[VNNI_J];
        for (int j = 0; j < J; j++) wb[j] = panel_block(w, p0 + j, b);
        for (int g = 0; g < 8; g++) {
            __m512i wv[VNNI_J];
            for (int j = 0; j < J; j++) wv[j] = _mm512_xor_si512(_mm512_loadu_si512(wb[j] + 64 * g), flip);
            for (int r = 0; r < R; r++) {
                const __m512i xs = _mm512_set1_epi32(load_i32(x[r] + b * SL_Q8_0_BLOCK + 4 * g));
                for (int j = 0; j < J; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], wv[j], xs);
            }
        }
        __m512 ws[VNNI_J];
        for (int j = 0; j < J; j++) ws[j] = _mm512_loadu_ps(w->d + panel_index(w, p0 + j, b));
        for (int r = 0; r < R; r++) {
            const __m512 s = _mm512_set1_ps(dx[r][b]);
            for (int j = 0; j < J; j++)
                facc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][j]), _mm512_mul_ps(ws[j], s), facc[r][j]);
        }
    }
    for (int j = 0; j < J; j++) {
        const int n0 = (p0 + j) * SL_Q8P_COLS, nc = w->N - n0 < SL_Q8P_COLS ? w->N - n0 : SL_Q8P_COLS;
        const __mmask16 m = (__mmask16)((1u << nc) - 1);
        const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + n0) : _mm512_setzero_ps();
        for (int r = 0; r < nr; r++)
            _mm512_mask_storeu_ps(out + (size_t)r * ldo + (size_t)n0, m, _mm512_add_ps(facc[r][j], bv));
    }
}

/* The "i8" format as i8_quantize writes it, bit for bit (the same max, scale, reciprocal and products;
   vcvtps2dq rounds half to even as the scalar 1.5 * 2^23 trick does), 32 inputs per step. */
TARGET_VNNI static void i8_quantize_avx512(uint8_t *row, const float *x, int K) {
    int8_t *q = (int8_t *)row;
    float *d = (float *)(void *)(row + round64((size_t)K));
    int32_t *corr = (int32_t *)(void *)(d + K / SL_Q8_0_BLOCK);
    for (int b = 0; b < K / SL_Q8_0_BLOCK; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + b * SL_Q8_0_BLOCK), v1 = _mm512_loadu_ps(x + b * SL_Q8_0_BLOCK + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float db = amax / 127.0f, id = db != 0 ? 1.0f / db : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)(void *)(q + b * SL_Q8_0_BLOCK), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(void *)(q + b * SL_Q8_0_BLOCK + 16), _mm512_cvtsepi32_epi8(q1));
        d[b] = db;
        /* the sum of the bytes stored (saturated): a non-finite input (a model with inf weights) converts to
           INT_MIN, and 32 of those unsaturated would overflow the sum */
        const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
        const __m512i s0 = _mm512_min_epi32(_mm512_max_epi32(q0, lo), hi),
                      s1 = _mm512_min_epi32(_mm512_max_epi32(q1, lo), hi);
        corr[b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
    }
}

TARGET_VNNI static void tile_avx512vnni(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                                        const sl_q8_packed *w, int p0, int np, const float *bias) {
    if (np == 3) vnni_tile(out, ldo, act, act_stride, nr, w, p0, bias, 3);
    else if (np == 2) vnni_tile(out, ldo, act, act_stride, nr, w, p0, bias, 2);
    else vnni_tile(out, ldo, act, act_stride, nr, w, p0, bias, 1);
}

static const sl_q8_kernels kernels_avx2 = {"avx2", AVX2_R, 1, 4, i16_size, i16_quantize, tile_avx2};
static const sl_q8_kernels kernels_avx512vnni = {"avx512vnni", VNNI_R, VNNI_J, 4, i8_size, i8_quantize_avx512,
                                                 tile_avx512vnni};
#endif

/* ---- WebAssembly simd128 ------------------------------------------------------------------------- */

#ifdef __wasm_simd128__
#include <wasm_simd128.h>

/* No byte dot product in simd128: i32x4.dot_i16x8_s of int16 pairs. The weights are packed in pairs
   (group 2): 16 bytes are inputs 2h, 2h + 1 of 8 columns, widened to int16 in two halves of 4 columns,
   and the dot product of a half with the row's inputs 2h, 2h + 1 (int16 already, one 32-bit splat) adds
   each column's two products in the column's lane: no lanes to add up at the end of a block. Half a panel
   (8 columns) at a time, 4 rows: 8 integer accumulators and 3 operands in registers (of the 16 engines
   map v128 to), the 8 float ones beside. Measured with the 128 x 768 x 768 product, one thread, Node 20 /
   Chromium 156: this tile 29 / 31 GMAC/s; with i16x8.load8x8_s per half instead of one load and two
   widenings 31 / 22 (Chromium's V8 compiles that load badly); 4 rows x 4 columns 25 in Node; the 16 pairs
   unrolled 15 (clang then orders the sums row by row and keeps 16 weight vectors live: spills); group 4's
   4 x 4 tile, which adds lane pairs at the end of each block, 26 / 22. */
enum { WASM_R = 4, WASM_C = 2 }; /* C: the two halves of a 16-byte load */
static void tile_wasm(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                      const sl_q8_packed *w, int p0, int np, const float *bias) {
    enum { R = WASM_R, C = WASM_C };
    const int nb = w->nb, K = w->K;
    const int16_t *x[R];
    const float *dx[R];
    i16_rows(x, dx, R, act, act_stride, nr, K);
    for (int p = p0; p < p0 + np; p++)
        for (int q = 0; q < 4; q += C) {
            const int n0 = p * SL_Q8P_COLS + 4 * q;
            if (n0 >= w->N) break;
            v128_t facc[R][C];
            for (int r = 0; r < R; r++)
                for (int j = 0; j < C; j++) facc[r][j] = wasm_f32x4_splat(0.0f);
            const int8_t *wb = panel_block(w, p, 0) + 8 * q;
            const float *ws = w->d + panel_index(w, p, 0) + 4 * (size_t)q;
            for (int b = 0; b < nb; b++, wb += SL_Q8P_BLOCK_BYTES, ws += SL_Q8P_COLS) {
                v128_t acc[R][C];
                for (int r = 0; r < R; r++)
                    for (int j = 0; j < C; j++) acc[r][j] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
                for (int h = 0; h < SL_Q8_0_BLOCK / 2; h++) {
                    v128_t wv[C];
                    const v128_t wraw = wasm_v128_load(wb + 32 * h);
                    wv[0] = wasm_i16x8_extend_low_i8x16(wraw);
                    wv[1] = wasm_i16x8_extend_high_i8x16(wraw);
                    for (int r = 0; r < R; r++) {
                        const v128_t xs = wasm_v128_load32_splat(x[r] + b * SL_Q8_0_BLOCK + 2 * h);
                        for (int j = 0; j < C; j++)
                            acc[r][j] = wasm_i32x4_add(acc[r][j], wasm_i32x4_dot_i16x8(wv[j], xs));
                    }
                }
                for (int j = 0; j < C; j++) {
                    const v128_t wsv = wasm_v128_load(ws + 4 * j);
                    for (int r = 0; r < R; r++)
                        facc[r][j] = wasm_f32x4_add(facc[r][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[r][j]),
                                                                               wasm_f32x4_mul(wsv, wasm_f32x4_splat(dx[r][b]))));
                }
            }
            for (int j = 0; j < C; j++) {
                const int c0 = n0 + 4 * j, nc = w->N - c0 < 4 ? w->N - c0 : 4;
                if (nc <= 0) break;
                const v128_t bv = bias && nc == 4 ? wasm_v128_load(bias + c0) : wasm_f32x4_splat(0.0f);
                for (int r = 0; r < nr; r++) {
                    if (nc == 4) {
                        wasm_v128_store(out + (size_t)r * ldo + (size_t)c0, wasm_f32x4_add(facc[r][j], bv));
                        continue;
                    }
                    float v[4];
                    wasm_v128_store(v, facc[r][j]);
                    for (int c = 0; c < nc; c++) out[(size_t)r * ldo + (size_t)(c0 + c)] = v[c] + (bias ? bias[c0 + c] : 0.0f);
                }
            }
        }
}

/* round(v) as int32 lanes, half to even, for |v| < 2^22: adding 1.5 * 2^23 leaves the rounded integer in
   the low bits of the mantissa (as the scalar quantiser does), read as an integer without a conversion
   (V8 expands i32x4.trunc_sat_f32x4_s into about ten x86 instructions). */
static inline v128_t round_i32_wasm(v128_t v) {
    return wasm_i32x4_sub(wasm_f32x4_add(v, wasm_f32x4_splat(12582912.0f)), wasm_i32x4_splat(0x4B400000));
}

/* The 32 values of a block into v, and their largest magnitude (exact: max does not round). */
static inline float block_scale_wasm(v128_t v[8], const float *xb) {
    v128_t m = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < 8; i++) {
        v[i] = wasm_v128_load(xb + 4 * i);
        m = wasm_f32x4_max(m, wasm_f32x4_abs(v[i]));
    }
    m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
    m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(m, 0);
}

/* The "i16" format as the x86 build's i16_quantize writes it, bit for bit (the same max, scale, reciprocal
   and rounding), a block per step. */
static void i16_quantize_wasm(uint8_t *row, const float *x, int K) {
    int16_t *q = (int16_t *)(void *)row;
    float *d = (float *)(void *)(row + round64((size_t)K * 2));
    for (int b = 0; b < K / SL_Q8_0_BLOCK; b++) {
        v128_t v[8];
        const float db = block_scale_wasm(v, x + b * SL_Q8_0_BLOCK) / 127.0f, id = db != 0 ? 1.0f / db : 0.0f;
        const v128_t vid = wasm_f32x4_splat(id);
        d[b] = db;
        for (int i = 0; i < 8; i += 2) {
            const v128_t q0 = round_i32_wasm(wasm_f32x4_mul(v[i], vid));
            const v128_t q1 = round_i32_wasm(wasm_f32x4_mul(v[i + 1], vid));
            wasm_v128_store(q + b * SL_Q8_0_BLOCK + 4 * i, wasm_i16x8_narrow_i32x4(q0, q1));
        }
    }
}

static const sl_q8_kernels kernels_wasm = {"wasm-simd128", WASM_R, 1, 2, i16_size, i16_quantize_wasm, tile_wasm};
#endif

#if defined(__wasm_simd128__) && defined(SL_WASM_RELAXED) /* CMake option SURLIGNE_WASM_RELAXED */

/* ---- WebAssembly relaxed SIMD ---------------------------------------------------------------------- */

/* "u7" rows (u7_quantize above), a block per step */
static void u7_quantize_wasm(uint8_t *row, const float *x, int K) {
    float *d = (float *)(void *)(row + round64((size_t)K));
    for (int b = 0; b < K / SL_Q8_0_BLOCK; b++) {
        v128_t v[8];
        const float d7 = block_scale_wasm(v, x + b * SL_Q8_0_BLOCK) / 63.0f, id = d7 != 0 ? 1.0f / d7 : 0.0f;
        const v128_t vid = wasm_f32x4_splat(id), offset = wasm_i32x4_splat(64);
        d[b] = d7;
        v128_t h[4]; /* round half to even, as sl_quantize_row_q8_act; + 64 */
        for (int i = 0; i < 8; i += 2)
            h[i / 2] = wasm_i16x8_narrow_i32x4(
                wasm_i32x4_add(round_i32_wasm(wasm_f32x4_mul(v[i], vid)), offset),
                wasm_i32x4_add(round_i32_wasm(wasm_f32x4_mul(v[i + 1], vid)), offset));
        wasm_v128_store(row + b * SL_Q8_0_BLOCK, wasm_u8x16_narrow_i16x8(h[0], h[1]));
        wasm_v128_store(row + b * SL_Q8_0_BLOCK + 16, wasm_u8x16_narrow_i16x8(h[2], h[3]));
    }
}

/* The kernel is a wasm module of its own (engine/wasm_relaxed/q8_relaxed.c: the engine's toolchain,
   emcc 3.1.6, cannot emit or even carry the final relaxed opcodes), reached through these two imports of
   web/q8_relaxed_library.js. sl_relaxed_available() is 1 where the module validates and passes its
   self-test (current Chromium; not Node 20, nor browsers without relaxed SIMD), checked once per thread. */
extern int sl_relaxed_available(void);
extern void sl_relaxed_tile(float *out, int ldo, const uint8_t *act, int act_stride, int nr, const int8_t *qs,
                            const float *d, const int32_t *wsum, int N, int nb, int p0, int np,
                            const float *bias);

/* A whole run of rows per call (the module loops over its 4-row micro-tiles), so the trip through JS is
   paid once per 64 rows x 3 panels. */
static void tile_wasm_relaxed(float *out, size_t ldo, const uint8_t *act, size_t act_stride, int nr,
                              const sl_q8_packed *w, int p0, int np, const float *bias) {
    sl_relaxed_tile(out, (int)ldo, act, (int)act_stride, nr, w->qs, w->d, w->wsum, w->N, w->nb, p0, np, bias);
}

static const sl_q8_kernels kernels_wasm_relaxed = {"wasm-relaxed", 64, 3, 4, u7_size, u7_quantize_wasm,
                                                   tile_wasm_relaxed};
#endif

/* ---- choice --------------------------------------------------------------------------------------- */

int sl_q8_kernels_available(const sl_q8_kernels **list, int max) {
    const sl_q8_kernels *all[8];
    int n = 0;
    all[n++] = &kernels_scalar;
#ifdef SL_SIMD_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        all[n++] = &kernels_avx2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
            all[n++] = &kernels_avx512vnni;
    }
#endif
#ifdef __wasm_simd128__
    all[n++] = &kernels_wasm;
#endif
#if defined(__wasm_simd128__) && defined(SL_WASM_RELAXED)
    if (sl_relaxed_available()) all[n++] = &kernels_wasm_relaxed;
#endif
    for (int i = 0; i < n && i < max; i++) list[i] = all[i];
    return n < max ? n : max;
}

/* Every product asks (in wasm, sl_relaxed_available() is a call into JS): the answer is kept. Threads that
   race to set it first set the same value. */
static _Atomic(const sl_q8_kernels *) chosen;

const char *sl_q8_kernel_name(void) { return sl_q8_kernels_best()->name; }

const sl_q8_kernels *sl_q8_kernels_best(void) {
    const sl_q8_kernels *k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        const sl_q8_kernels *list[8];
        k = list[sl_q8_kernels_available(list, 8) - 1];
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

const sl_q8_kernels *sl_q8_kernels_named(const char *name) {
    if (!strcmp(name, kernels_scalar_u7.name)) return &kernels_scalar_u7;
    const sl_q8_kernels *list[8];
    for (int i = 0, n = sl_q8_kernels_available(list, 8); i < n; i++)
        if (!strcmp(name, list[i]->name)) return list[i];
    return NULL;
}

int sl_q8_kernel_select(const char *name) {
    const sl_q8_kernels *k = NULL;
    if (name && !(k = sl_q8_kernels_named(name))) return -1;
    atomic_store_explicit(&chosen, k, memory_order_relaxed);
    return 0;
}

/* ---- the product --------------------------------------------------------------------------------- */

/* Scratch: M quantised rows in the kernel's format, 64-byte aligned (+ 64 bytes to align the start). */
size_t sl_q8_scratch_size(const sl_q8_kernels *k, int M, int K) { return (size_t)M * k->act_size(K) + 64; }

size_t matmul_q8_0_scratch_size(int M, int K) { return sl_q8_scratch_size(sl_q8_kernels_best(), M, K); }

#define QUANT_ROWS 16 /* rows of inp per quantisation task (and of GELU's, when it is not fused) */
#define MAX_PRODUCTS 4

enum { GELU_NONE, GELU_PER_TASK, GELU_BY_ROWS };

typedef struct {
    int n;                       /* products of the same activations */
    float *out[MAX_PRODUCTS];
    const float *bias[MAX_PRODUCTS];
    const sl_q8_packed *w[MAX_PRODUCTS];
    int first_task[MAX_PRODUCTS + 1]; /* product i has tasks first_task[i] .. first_task[i + 1] - 1 */
    const float *inp;
    uint8_t *act;
    size_t stride;
    int M, K, gelu; /* GELU_* */
    const sl_q8_kernels *kernels;
} q8_matmul_ctx;

static void quantize_task(void *arg, int task, int thread) {
    (void)thread;
    const q8_matmul_ctx *c = arg;
    const int K = c->K, m1 = (task + 1) * QUANT_ROWS < c->M ? (task + 1) * QUANT_ROWS : c->M;
    for (int m = task * QUANT_ROWS; m < m1; m++)
        c->kernels->quantize(c->act + (size_t)m * c->stride, c->inp + (size_t)m * K, K);
}

/* One task: the kernel's widest run of panels (e.g. 3 x 16 columns) of one product against every row of
   inp, tile by tile: the panels' weights (48 x K bytes) stay in L2 while the rows stream past. */
static void product_task(void *arg, int task, int thread) {
    (void)thread;
    const q8_matmul_ctx *c = arg;
    int i = 0;
    while (task >= c->first_task[i + 1]) i++;
    const sl_q8_packed *w = c->w[i];
    float *out = c->out[i];
    const int P = c->kernels->panels, R = c->kernels->rows, N = w->N;
    const int p0 = (task - c->first_task[i]) * P, np = w->n_panels - p0 < P ? w->n_panels - p0 : P;
    const int n0 = p0 * SL_Q8P_COLS, n1 = (p0 + np) * SL_Q8P_COLS < N ? (p0 + np) * SL_Q8P_COLS : N;
    for (int m = 0; m < c->M; m += R) {
        const int mr = c->M - m < R ? c->M - m : R;
        c->kernels->tile(out + (size_t)m * N, (size_t)N, c->act + (size_t)m * c->stride, c->stride, mr, w, p0, np,
                         c->bias[i]);
    }
    if (c->gelu == GELU_PER_TASK) gelu_block(out + n0, (size_t)N, c->M, n1 - n0);
}

/* GELU of QUANT_ROWS rows of every output, after the products (where it is not fused into them) */
static void gelu_task(void *arg, int task, int thread) {
    (void)thread;
    const q8_matmul_ctx *c = arg;
    const int m0 = task * QUANT_ROWS, m1 = m0 + QUANT_ROWS < c->M ? m0 + QUANT_ROWS : c->M;
    for (int i = 0; i < c->n; i++) {
        float *rows = c->out[i] + (size_t)m0 * c->w[i]->N;
        gelu_forward(rows, rows, (int64_t)(m1 - m0) * c->w[i]->N, NULL); /* inside a task */
    }
}

void sl_q8_products(const sl_q8_kernels *k, int n, float *const *out, const float *inp,
                    const sl_q8_packed *const *weight, const float *const *bias, int M, int gelu, void *scratch,
                    sl_pool *pool) {
    assert(n >= 1 && n <= MAX_PRODUCTS);
    q8_matmul_ctx c = {.n = n, .inp = inp, .M = M, .K = weight[0]->K, .kernels = k};
    c.act = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    c.stride = k->act_size(c.K);
    /* GELU at the end of each task, over its columns of every row while they are in cache, where a task's
       rows are long enough (48 columns natively; per tile of 4 rows it took 1.6x the time, perf on Zen 4);
       on the 16 of simd128 per tile cost more than the cache saved (Node: 3-5% slower, not measured per task):
       by rows afterwards */
    c.gelu = !gelu ? GELU_NONE : k->panels * SL_Q8P_COLS >= 32 ? GELU_PER_TASK : GELU_BY_ROWS;
    for (int i = 0; i < n; i++) {
        assert(weight[i]->K == c.K && k->group == weight[i]->group); /* packed for this kernel (model.c packs
                                                                         for sl_q8_kernels_best) */
        c.out[i] = out[i];
        c.w[i] = weight[i];
        c.bias[i] = bias ? bias[i] : NULL;
        c.first_task[i + 1] = c.first_task[i] + (weight[i]->n_panels + k->panels - 1) / k->panels;
    }
    sl_pool_run(pool, (M + QUANT_ROWS - 1) / QUANT_ROWS, quantize_task, &c);
    sl_pool_run(pool, c.first_task[n], product_task, &c);
    if (c.gelu == GELU_BY_ROWS) sl_pool_run(pool, (M + QUANT_ROWS - 1) / QUANT_ROWS, gelu_task, &c);
}

void sl_q8_product(const sl_q8_kernels *k, float *out, const float *inp, const sl_q8_packed *weight,
                   const float *bias, int M, int gelu, void *scratch, sl_pool *pool) {
    sl_q8_products(k, 1, &out, inp, &weight, &bias, M, gelu, scratch, pool);
}

void matmul_q8_0_forward(float *out, const float *inp, const sl_q8_packed *weight, const float *bias, int M,
                         int gelu, void *scratch, sl_pool *pool) {
    sl_q8_products(sl_q8_kernels_best(), 1, &out, inp, &weight, &bias, M, gelu, scratch, pool);
}

void matmul_q8_0_forward_n(int n, float *const *out, const float *inp, const sl_q8_packed *const *weight,
                           const float *const *bias, int M, void *scratch, sl_pool *pool) {
    sl_q8_products(sl_q8_kernels_best(), n, out, inp, weight, bias, M, 0, scratch, pool);
}
