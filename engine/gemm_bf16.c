#include "gemm_bf16.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int sl_gemm_bf16_available(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

/* AMX: the processor's AMX-TILE and AMX-BF16 (CPUID leaf 7: EDX bits 24 and 22) and Linux's permission to use
   the tile data registers (arch_prctl ARCH_REQ_XCOMP_PERM, once for the process; refused by kernels before
   5.16 and by hypervisors that do not pass the state through). */
#define TARGET_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

static int amx_allowed(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    unsigned a, b, c, d;
    if (!sl_gemm_bf16_available() || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d >> 24 & 1) ||
        !(d >> 22 & 1))
        return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static atomic_int amx_state = -1; /* -1 not asked yet, 0 no, 1 yes */
static atomic_int avx512_chosen;  /* sl_gemm_bf16_select("avx512") on a processor with AMX */

static int amx_usable(void) {
    int s = atomic_load_explicit(&amx_state, memory_order_acquire);
    if (s < 0) atomic_store_explicit(&amx_state, s = amx_allowed(), memory_order_release); /* idempotent */
    return s && !atomic_load_explicit(&avx512_chosen, memory_order_relaxed);
}

const char *sl_gemm_bf16_kernel(void) {
    return !sl_gemm_bf16_available() ? NULL : amx_usable() ? "amx" : "avx512";
}

int sl_gemm_bf16_select(const char *name) {
    if (!sl_gemm_bf16_available()) return name ? -1 : 0;
    const int avx512 = name && !strcmp(name, "avx512");
    if (name && !avx512 && strcmp(name, "amx")) return -1;
    atomic_store_explicit(&avx512_chosen, 0, memory_order_relaxed);
    if (name && !avx512 && !amx_usable()) return -1;
    atomic_store_explicit(&avx512_chosen, avx512, memory_order_relaxed);
    return 0;
}

/* Packed operands: 32-bit words holding a pair of bf16 values (k = 2p in the low half, 2p + 1 in the high
   half), as vdpbf16ps reads them. A is packed whole (KP = ceil(K / 2) pairs a row): where its k are
   contiguous, by rows (row m, pair p at word m * KP + p: a plain conversion), otherwise in panels of MR rows
   (panel i, pair p, row r at word (i * KP + p) * MR + r: two rows of 16 floats per conversion). B is packed by each task for its NR columns and KCP pairs at a
   time: pair p, column j at word p * NR + j. Rows and columns past M, N and the pair past an odd K are 0. */
enum { MR = 8, NR = 32, KCP = 128 };

/* 16 lanes x 32 floats of a source whose lanes each hold a contiguous run of k (lane l at src + l * stride,
   k < kn valid): words (p, l) for the 16 pairs, stored at dst[p * W + l]. Each lane is converted by one
   vcvtne2ps2bf16; the 16 x 16 words are then written by columns. */
TARGET_BF16 static void pack_kcontig16(uint32_t *dst, size_t W, const float *src, size_t stride, int lanes, int kn) {
    uint32_t t[16][16];
    const __mmask16 m0 = kn >= 16 ? 0xffff : (__mmask16)((1u << (kn > 0 ? kn : 0)) - 1);
    const __mmask16 m1 = kn >= 32 ? 0xffff : kn > 16 ? (__mmask16)((1u << (kn - 16)) - 1) : 0;
    for (int l = 0; l < 16; l++) {
        __m512i w = _mm512_setzero_si512();
        if (l < lanes) {
            const float *s = src + (size_t)l * stride;
            w = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, s + 16), _mm512_maskz_loadu_ps(m0, s));
        }
        _mm512_storeu_si512(t[l], w);
    }
    const int np = (kn + 1) / 2 < 16 ? (kn + 1) / 2 : 16;
    for (int p = 0; p < np; p++)
        for (int l = 0; l < 16; l++) dst[(size_t)p * W + l] = t[l][p];
}

/* One row of K floats (contiguous) as KP words: pairs side by side, as one conversion gives them. */
TARGET_BF16 static void pack_row(uint32_t *dst, const float *x, int K) {
    for (int k = 0; k < K; k += 32) {
        const int kn = K - k;
        const __mmask16 m0 = kn >= 16 ? 0xffff : (__mmask16)((1u << kn) - 1);
        const __mmask16 m1 = kn >= 32 ? 0xffff : kn > 16 ? (__mmask16)((1u << (kn - 16)) - 1) : 0;
        const __m512i w =
            (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, x + k + 16), _mm512_maskz_loadu_ps(m0, x + k));
        const int np = (kn + 1) / 2 < 16 ? (kn + 1) / 2 : 16;
        _mm512_mask_storeu_epi32(dst + k / 2, (__mmask16)((1u << np) - 1), w);
    }
}

/* 16 lanes of a source whose lanes are contiguous for each k (lane l, k at src + k * stride + l): pairs
   p < np (k < kn valid) at dst[p * W + l]. Two rows of 16 floats become 16 words by one conversion and one
   permutation of 16-bit elements (x0[l], x1[l] side by side). */
TARGET_BF16 static void pack_kstrided16(uint32_t *dst, size_t W, const float *src, size_t stride, int lanes, int kn) {
    const __mmask16 lm = lanes >= 16 ? 0xffff : (__mmask16)((1u << lanes) - 1);
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                         5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int p = 0; 2 * p < kn; p++) {
        const __m512 x0 = _mm512_maskz_loadu_ps(lm, src + (size_t)(2 * p) * stride);
        const __m512 x1 = 2 * p + 1 < kn ? _mm512_maskz_loadu_ps(lm, src + (size_t)(2 * p + 1) * stride) : _mm512_setzero_ps();
        const __m512i w = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
        if (W != 8) {
            _mm512_storeu_si512(dst + (size_t)p * W, w);
        } else { /* W = 8: the two halves go to consecutive panels (the caller's layout) */
            _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)p * W), _mm512_castsi512_si256(w));
            _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)p * W + (size_t)W * (size_t)((kn + 1) / 2)),
                                _mm512_extracti64x4_epi64(w, 1));
        }
    }
}

/* A panel of `lanes` (<= W, W = MR or NR) lanes and pairs [p0, p0 + np) of an operand X(lane, k) =
   x[lane * s_lane + k * s_k], at dst[p * W + l] (pairs counted from p0). */
TARGET_BF16 static void pack_panel(uint32_t *dst, int W, const float *x, size_t s_lane, size_t s_k, int lanes, int p0,
                                   int np, int K) {
    for (int l0 = 0; l0 < W; l0 += 16) {
        const int ln = lanes - l0 < 16 ? (lanes - l0 > 0 ? lanes - l0 : 0) : 16, w16 = W - l0 < 16 ? W - l0 : 16;
        if (ln == 0) { /* padding lanes */
            for (int p = 0; p < np; p++) memset(dst + (size_t)p * W + l0, 0, (size_t)w16 * sizeof *dst);
            continue;
        }
        const float *xl = x + (size_t)l0 * s_lane;
        if (s_k == 1) {
            for (int p = 0; p < np; p += 16) {
                uint32_t *d = dst + (size_t)p * W + l0;
                const int k = 2 * (p0 + p), kn = K - k < 2 * (np - p) ? K - k : 2 * (np - p);
                if (w16 == 16) {
                    pack_kcontig16(d, (size_t)W, xl + k, s_lane, ln, kn);
                } else { /* W = 8: through a 16-wide copy */
                    uint32_t t[16 * 16];
                    pack_kcontig16(t, 16, xl + k, s_lane, ln, kn);
                    for (int q = 0; q < 16 && 2 * q < kn; q++) memcpy(d + (size_t)q * W, t + q * 16, (size_t)w16 * 4);
                }
            }
        } else if (s_lane == 1 && w16 == 16) {
            pack_kstrided16(dst + l0, (size_t)W, xl + (size_t)(2 * p0) * s_k, s_k, ln,
                            K - 2 * p0 < 2 * np ? K - 2 * p0 : 2 * np);
        } else { /* any strides, one value at a time */
            for (int p = 0; p < np; p++)
                for (int l = 0; l < w16; l++) {
                    const int k = 2 * (p0 + p);
                    float v[2] = {0, 0};
                    for (int h = 0; h < 2; h++)
                        if (l < ln && k + h < K) v[h] = xl[(size_t)l * s_lane + (size_t)(k + h) * s_k];
                    const __m128i w = (__m128i)_mm_cvtne2ps_pbh(_mm_setzero_ps(), _mm_loadu_ps((const float[4]){v[0], v[1], 0, 0}));
                    dst[(size_t)p * W + l0 + l] = (uint32_t)_mm_cvtsi128_si32(w);
                }
        }
    }
}

/* c (mr rows, nr <= NR columns) = [c +] sums (rows NR floats apart) [+ bias], as each kernel ends */
TARGET_BF16 static inline __attribute__((always_inline)) void
store_block(float *c, size_t ldc, const float *sums, int mr, int nr, int add, const float *bias) {
    const __mmask16 k0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(k1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * ldc;
        __m512 y0 = _mm512_add_ps(_mm512_loadu_ps(sums + r * NR), bias0);
        __m512 y1 = _mm512_add_ps(_mm512_loadu_ps(sums + r * NR + 16), bias1);
        if (add) {
            y0 = _mm512_add_ps(_mm512_maskz_loadu_ps(k0, cr), y0);
            y1 = _mm512_add_ps(_mm512_maskz_loadu_ps(k1, cr + 16), y1);
        }
        _mm512_mask_storeu_ps(cr, k0, y0);
        _mm512_mask_storeu_ps(cr + 16, k1, y1);
    }
}

/* c (mr <= MR, nr <= NR) = [c +] the product of A's rows (pair p of row r at ap[r * a_rs + p * a_ps]) and a
   B panel over np pairs [+ bias]. Inlined into two kernels with constant A strides. */
TARGET_BF16 static inline __attribute__((always_inline)) void tile(float *c, size_t ldc, const uint32_t *ap,
                                                                   size_t a_rs, size_t a_ps, const uint32_t *bp,
                                                                   int np, int mr, int nr, int add,
                                                                   const float *bias) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int p = 0; p < np; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR),
                       b1 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR + 16);
        for (int r = 0; r < MR; r++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32((int)ap[(size_t)r * a_rs + (size_t)p * a_ps]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
        }
    }
    float sums[MR * NR] __attribute__((aligned(64)));
    for (int r = 0; r < MR; r++) {
        _mm512_store_ps(sums + r * NR, acc[r][0]);
        _mm512_store_ps(sums + r * NR + 16, acc[r][1]);
    }
    store_block(c, ldc, sums, mr, nr, add, bias);
}

/* A in panels (pairs of a row MR words apart) */
TARGET_BF16 static void kernel_panel(float *c, size_t ldc, const uint32_t *ap, const uint32_t *bp, int np, int mr,
                                     int nr, int add, const float *bias) {
    tile(c, ldc, ap, 1, MR, bp, np, mr, nr, add, bias);
}

/* A by rows (rows a_rs words apart, pairs side by side) */
TARGET_BF16 static void kernel_rows(float *c, size_t ldc, const uint32_t *ap, size_t a_rs, const uint32_t *bp, int np,
                                    int mr, int nr, int add, const float *bias) {
    tile(c, ldc, ap, a_rs, 1, bp, np, mr, nr, add, bias);
}

typedef struct {
    float *c;
    size_t ldc;
    const float *a, *b, *bias;
    size_t a_m, a_k, b_k, b_n;
    int M, N, K, KP, accumulate;
    int a_rows;              /* A packed by rows (KP words each) rather than in panels */
    uint32_t *apack, *bpack; /* bpack: KCP * NR words per thread */
} gemm_ctx;

static void pack_a_task(void *arg, int i, int thread) {
    (void)thread;
    const gemm_ctx *g = arg;
    const int m0 = i * MR, mr = g->M - m0 < MR ? g->M - m0 : MR;
    uint32_t *dst = g->apack + (size_t)i * g->KP * MR;
    if (g->a_rows) { /* rows past M are zeros */
        for (int r = 0; r < MR; r++)
            if (r < mr) pack_row(dst + (size_t)r * g->KP, g->a + (size_t)(m0 + r) * g->a_m, g->K);
            else memset(dst + (size_t)r * g->KP, 0, (size_t)g->KP * sizeof *dst);
        return;
    }
    pack_panel(dst, MR, g->a + (size_t)m0 * g->a_m, g->a_m, g->a_k, mr, 0, g->KP, g->K);
}

/* A's panels two at a time where A is contiguous along m (pack_kstrided16 writes 16 rows = 2 panels). */
static void pack_a2_task(void *arg, int i, int thread) {
    (void)thread;
    const gemm_ctx *g = arg;
    const int m0 = i * 2 * MR, mr = g->M - m0 < 2 * MR ? g->M - m0 : 2 * MR;
    pack_kstrided16(g->apack + (size_t)i * 2 * g->KP * MR, MR, g->a + m0, g->a_k, mr, g->K);
}

/* Task j: columns [j NR, j NR + NR) of c, every row, K in blocks of KCP pairs. */
static void gemm_task(void *arg, int j, int thread) {
    const gemm_ctx *g = arg;
    const int n0 = j * NR, nr = g->N - n0 < NR ? g->N - n0 : NR;
    uint32_t *bp = g->bpack + (size_t)thread * KCP * NR;
    for (int p0 = 0; p0 < g->KP; p0 += KCP) {
        const int np = g->KP - p0 < KCP ? g->KP - p0 : KCP;
        pack_panel(bp, NR, g->b + (size_t)n0 * g->b_n, g->b_n, g->b_k, nr, p0, np, g->K);
        const int add = g->accumulate || p0 > 0;
        const float *bias = add || !g->bias ? NULL : g->bias + n0;
        for (int m0 = 0; m0 < g->M; m0 += MR) {
            float *c = g->c + (size_t)m0 * g->ldc + n0;
            const int mr = g->M - m0 < MR ? g->M - m0 : MR;
            if (g->a_rows)
                kernel_rows(c, g->ldc, g->apack + (size_t)m0 * g->KP + p0, (size_t)g->KP, bp, np, mr, nr, add, bias);
            else
                kernel_panel(c, g->ldc, g->apack + ((size_t)(m0 / MR) * g->KP + p0) * MR, bp, np, mr, nr, add, bias);
        }
    }
}

/* ---- AMX ---- */

/* Tiles of 16 rows x 64 bytes: tdpbf16ps multiplies a tile of A (16 rows x 16 pairs) by a tile of B (16 pairs
   x 16 columns, the layout of the B panels above) into a tile of 16 x 16 f32 sums, 8,192 multiply-adds an
   instruction. Each block of 2 x 2 tiles of c (AMX_M rows x NR columns) holds its sums in tiles 0-3 over
   AMX_KCP pairs at a time (tiles 4-5: A, 6-7: B), then adds them to c as tile() does. A is packed by rows,
   akp words a row (KP rounded up to 16, the padding 0), rows past M 0 to a multiple of AMX_M; B by each task
   for its NR columns, AMX_KCP pairs at a time (pairs past K 0 to a multiple of 16). */
enum { AMX_M = 32, AMX_KCP = 512 };

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

TARGET_AMX static void amx_begin(void) {
    amx_config cfg = {.palette = 1};
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
}

TARGET_AMX static void amx_end(void) {
    _tile_release();
}

/* tmp (AMX_M x NR) = rows of A (ap, a_rs words apart) times a B panel, over np16 pairs (a multiple of 16) */
TARGET_AMX static void amx_block(float *tmp, const uint32_t *ap, size_t a_rs, const uint32_t *bp, int np16) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int p = 0; p < np16; p += 16) {
        _tile_loadd(4, ap + p, a_rs * 4);
        _tile_loadd(5, ap + 16 * a_rs + p, a_rs * 4);
        _tile_loadd(6, bp + (size_t)p * NR, NR * 4);
        _tile_loadd(7, bp + (size_t)p * NR + 16, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, tmp, NR * 4);
    _tile_stored(1, tmp + 16, NR * 4);
    _tile_stored(2, tmp + 16 * NR, NR * 4);
    _tile_stored(3, tmp + 16 * NR + 16, NR * 4);
}

typedef struct {
    const gemm_ctx *g;
    size_t akp; /* words a packed row of A */
} amx_ctx;

/* Rows [16 i, 16 i + 16) of A, by rows: converted by pack_row where k is contiguous, else by
   pack_kstrided16 (16 rows, 16 pairs at a time, pairs by rows) and turned by rows through a 16 x 16 copy. */
static void amx_pack_a_task(void *arg, int i, int thread) {
    (void)thread;
    const amx_ctx *x = arg;
    const gemm_ctx *g = x->g;
    const int m0 = 16 * i, mr = g->M - m0 < 16 ? (g->M - m0 > 0 ? g->M - m0 : 0) : 16;
    uint32_t *dst = g->apack + (size_t)m0 * x->akp;
    memset(dst, 0, 16 * x->akp * sizeof *dst);
    if (g->a_rows) {
        for (int r = 0; r < mr; r++)
            pack_row(dst + (size_t)r * x->akp, g->a + (size_t)(m0 + r) * g->a_m, g->K);
        return;
    }
    for (int p0 = 0; p0 < g->KP && mr > 0; p0 += 16) {
        uint32_t t[16 * 16] = {0};
        const int kn = g->K - 2 * p0 < 32 ? g->K - 2 * p0 : 32;
        pack_kstrided16(t, 16, g->a + m0 + (size_t)(2 * p0) * g->a_k, g->a_k, mr, kn);
        for (int r = 0; r < mr; r++)
            for (int p = 0; p < 16; p++) dst[(size_t)r * x->akp + p0 + p] = t[p * 16 + r];
    }
}

TARGET_AMX static void amx_gemm_task(void *arg, int j, int thread) {
    const amx_ctx *x = arg;
    const gemm_ctx *g = x->g;
    const int n0 = j * NR, nr = g->N - n0 < NR ? g->N - n0 : NR;
    uint32_t *bp = g->bpack + (size_t)thread * AMX_KCP * NR;
    float tmp[AMX_M * NR] __attribute__((aligned(64)));
    amx_begin();
    for (int p0 = 0; p0 < g->KP; p0 += AMX_KCP) {
        const int np = g->KP - p0 < AMX_KCP ? g->KP - p0 : AMX_KCP, np16 = (np + 15) / 16 * 16;
        pack_panel(bp, NR, g->b + (size_t)n0 * g->b_n, g->b_n, g->b_k, nr, p0, np, g->K);
        memset(bp + (size_t)np * NR, 0, (size_t)(np16 - np) * NR * sizeof *bp);
        const int add = g->accumulate || p0 > 0;
        const float *bias = add || !g->bias ? NULL : g->bias + n0;
        for (int m0 = 0; m0 < g->M; m0 += AMX_M) {
            const int mr = g->M - m0 < AMX_M ? g->M - m0 : AMX_M;
            amx_block(tmp, g->apack + (size_t)m0 * x->akp + p0, x->akp, bp, np16);
            store_block(g->c + (size_t)m0 * g->ldc + n0, g->ldc, tmp, mr, nr, add, bias);
        }
    }
    amx_end();
}

/* The AMX product where A is contiguous along k or along m (the three forms of a Linear layer); 0 when not
   done (other strides, no memory). */
static int gemm_amx(gemm_ctx *g, sl_pool *pool) {
    if (g->a_k != 1 && g->a_m != 1) return 0;
    const size_t akp = (size_t)(g->KP + 15) / 16 * 16, rows = (size_t)(g->M + AMX_M - 1) / AMX_M * AMX_M;
    const size_t a_words = rows * akp, b_words = (size_t)sl_pool_n_threads(pool) * AMX_KCP * NR;
    const size_t bytes = ((a_words + b_words) * 4 + 63) / 64 * 64;
    uint32_t *owned = pool ? NULL : aligned_alloc(64, bytes),
             *mem = pool ? sl_pool_scratch(pool, bytes) : owned;
    if (!mem) return 0;
    g->a_rows = g->a_k == 1;
    g->apack = mem;
    g->bpack = mem + a_words;
    amx_ctx x = {g, akp};
    sl_pool_run(pool, (int)(rows / 16), amx_pack_a_task, &x);
    sl_pool_run(pool, (g->N + NR - 1) / NR, amx_gemm_task, &x);
    free(owned);
    return 1;
}

int sl_gemm_bf16(float *c, size_t ldc, const float *a, size_t a_m, size_t a_k, const float *b, size_t b_k, size_t b_n,
                 const float *bias, int M, int N, int K, int accumulate, sl_pool *pool) {
    if (!sl_gemm_bf16_available() || M < 1 || N < 1 || K < 1) return 0;
    const int KP = (K + 1) / 2, n_mpanels = (M + 2 * MR - 1) / (2 * MR) * 2; /* an even count: see pack_a2_task */
    if (amx_usable()) {
        gemm_ctx g = {c, ldc, a, b, bias, a_m, a_k, b_k, b_n, M, N, K, KP, accumulate, 0, NULL, NULL};
        if (gemm_amx(&g, pool)) return 1;
    }
    const size_t a_words = (size_t)n_mpanels * KP * MR, b_words = (size_t)sl_pool_n_threads(pool) * KCP * NR;
    const size_t bytes = ((a_words + b_words) * 4 + 63) / 64 * 64;
    uint32_t *owned = pool ? NULL : aligned_alloc(64, bytes), *mem = pool ? sl_pool_scratch(pool, bytes) : owned;
    if (!mem) return 0;
    gemm_ctx g = {c, ldc, a, b, bias, a_m, a_k, b_k, b_n, M, N, K, KP, accumulate, a_k == 1, mem, mem + a_words};
    if (a_m == 1 && a_k != 1)
        sl_pool_run(pool, n_mpanels / 2, pack_a2_task, &g);
    else
        sl_pool_run(pool, (M + MR - 1) / MR, pack_a_task, &g);
    sl_pool_run(pool, (N + NR - 1) / NR, gemm_task, &g);
    free(owned);
    return 1;
}

#else

int sl_gemm_bf16_available(void) { return 0; }

const char *sl_gemm_bf16_kernel(void) {
    return NULL;
}

int sl_gemm_bf16_select(const char *name) {
    return name ? -1 : 0;
}

int sl_gemm_bf16(float *c, size_t ldc, const float *a, size_t a_m, size_t a_k, const float *b, size_t b_k, size_t b_n,
                 const float *bias, int M, int N, int K, int accumulate, sl_pool *pool) {
    (void)c, (void)ldc, (void)a, (void)a_m, (void)a_k, (void)b, (void)b_k, (void)b_n, (void)bias, (void)M, (void)N,
        (void)K, (void)accumulate, (void)pool;
    return 0;
}

#endif
