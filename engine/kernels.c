#include "kernels.h"

#include "gemm_bf16.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef SL_USE_BLAS
#include <cblas.h>
#include <pthread.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* The 32-byte vectors below only pass between always-inlined functions (VEC_INLINE): no ABI is crossed. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* GCC/clang vector extension: 8 floats. On x86 without AVX it becomes two SSE registers, on wasm two
   v128: the portable SIMD of this file. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
/* Lane masks (all bits set = true), as comparisons of v8f give them, and lane-wise bit patterns. */
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

/* Always inlined: the functions that take or return vectors (a multi-versioned clone below passes them in
   AVX registers, an out-of-line baseline copy would expect them in memory), and those whose loops must run
   in the clone's instruction set. */
#define VEC_INLINE static inline __attribute__((always_inline))

VEC_INLINE float hsum8(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

VEC_INLINE v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

VEC_INLINE void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* m ? a : b per lane (C has no ?: on vectors). */
VEC_INLINE v8f select8(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }

/* On x86-64 the hot loops are compiled three times (baseline SSE2, x86-64-v3 = AVX2+FMA, x86-64-v4 = AVX-512) and
   the loader picks the best one for the processor at run time (function multi-versioning), so one portable
   binary runs at the machine's speed. Elsewhere (wasm) they are compiled once, and so under ASan and TSan, whose
   run time the resolvers would call before it starts. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) /* GCC */
#define SL_SANITIZED 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SL_SANITIZED 1
#endif
#endif
/* Only static functions are multiversioned: clang 14 names the dispatcher of an external one "f.ifunc", which
   other files cannot link to; an external entry point calls its static multiversioned body. */
#if defined(__x86_64__) && defined(__ELF__) && !defined(SL_SANITIZED)
#define SL_MULTIVERSION __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SL_MULTIVERSION
#endif

/* Explicit AVX-512 code where a kernel needs what the vector extension lacks (square roots, bf16 products):
   compiled for that target whatever the build's flags, run only where the processor has it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL_KERNELS_X86 1
#include <immintrin.h>
#define TARGET_AVX512 __attribute__((target("avx512f")))
static int cpu_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#endif

/* ---- dropout ----------------------------------------------------------------------------------- */

/* 8 lanes of 64 bits: sl_hash64 on each (vpmullq in the AVX-512 clone, the 32-bit pieces elsewhere). */
typedef uint64_t v8u64 __attribute__((vector_size(64), aligned(8)));

VEC_INLINE v8u64 hash64x8(v8u64 x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The dropout multipliers of elements i .. i + 7: sl_dropout_scale's in every lane. (float)(h >> 40) < p 2^24
   compares an integer below 2^24 with a float, which is the integer comparison with ceil(p 2^24). */
typedef struct {
    uint64_t seed, offset;
    v8i limit;
    float keep;
} dropout8;

VEC_INLINE dropout8 dropout8_init(const sl_dropout *d) {
    return (dropout8){d->seed, d->offset + 0x9e3779b97f4a7c15ull, (v8i){0} + (int32_t)ceilf(d->p * 16777216.0f),
                      1.0f / (1.0f - d->p)};
}

VEC_INLINE v8f dropout8_scale(const dropout8 *d, uint64_t i) {
    const v8u64 idx = (v8u64){0, 1, 2, 3, 4, 5, 6, 7} + (i + d->offset);
    const v8u64 h = hash64x8(d->seed ^ hash64x8(idx)) >> 40;
    const v8i u = __builtin_convertvector(h, v8i);
    return select8(u < d->limit, (v8f){0}, (v8f){0} + d->keep);
}

SL_MULTIVERSION static void dropout_span(float *x, int64_t n, const sl_dropout *d) {
    if (!d || d->p <= 0) return;
    const dropout8 d8 = dropout8_init(d);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(x + i, load8(x + i) * dropout8_scale(&d8, (uint64_t)i));
    for (; i < n; i++) x[i] *= sl_dropout_scale(d, (uint64_t)i);
}

/* ---- matmul ------------------------------------------------------------------------------------ */

typedef struct {
    float *out;
    const float *inp, *weight, *bias;
    int M, N, K;
    int n_tile; /* output columns per task */
} matmul_ctx;

/* 4 rows of inp x 2 rows of weight per step: 8 accumulators of 8 lanes, each loaded value used twice
   or four times. */
SL_MULTIVERSION static void matmul_task(void *arg, int task, int thread) {
    (void)thread;
    const matmul_ctx *c = arg;
    const int M = c->M, N = c->N, K = c->K;
    const int n0 = task * c->n_tile, n1 = n0 + c->n_tile < N ? n0 + c->n_tile : N;
    const int K8 = K & ~7;
    for (int m0 = 0; m0 < M; m0 += 4) {
        const int mr = M - m0 < 4 ? M - m0 : 4;
        for (int n = n0; n < n1; n += 2) {
            const int nr = n1 - n < 2 ? n1 - n : 2;
            v8f acc[4][2] = {{{0}}};
            const float *w0 = c->weight + (size_t)n * K;
            const float *w1 = c->weight + (size_t)(n + nr - 1) * K;
            const float *a[4];
            for (int r = 0; r < 4; r++) a[r] = c->inp + (size_t)(m0 + (r < mr ? r : mr - 1)) * K;
            for (int k = 0; k < K8; k += 8) {
                v8f b0 = load8(w0 + k), b1 = load8(w1 + k);
                for (int r = 0; r < 4; r++) {
                    v8f x = load8(a[r] + k);
                    acc[r][0] += x * b0;
                    acc[r][1] += x * b1;
                }
            }
            for (int r = 0; r < mr; r++) {
                for (int j = 0; j < nr; j++) {
                    const float *w = j ? w1 : w0;
                    float s = hsum8(acc[r][j]);
                    for (int k = K8; k < K; k++) s += a[r][k] * w[k];
                    if (c->bias) s += c->bias[n + j];
                    c->out[(size_t)(m0 + r) * N + n + j] = s;
                }
            }
        }
    }
}

#ifdef SL_USE_BLAS
/* Native builds hand the large f32 products to OpenBLAS (about ten times our portable kernel here), one
   thread of it per thread of the pool, each on its share of the rows of c: OpenBLAS's own threads would
   otherwise compete for the cores with the pool's, which spin a while after each run. */
typedef struct {
    enum CBLAS_TRANSPOSE ta, tb;
    int M, N, K;
    const float *a, *b;
    int lda, ldb;
    float beta;
    float *c;
    int ldc, parts;
} sgemm_ctx;

static void sgemm_task(void *arg, int i, int thread) {
    (void)thread;
    const sgemm_ctx *x = arg;
    const int r0 = (int)((long long)x->M * i / x->parts), r1 = (int)((long long)x->M * (i + 1) / x->parts);
    if (r1 <= r0) return;
    const float *a = x->ta == CblasNoTrans ? x->a + (size_t)r0 * x->lda : x->a + r0;
    cblas_sgemm(CblasRowMajor, x->ta, x->tb, r1 - r0, x->N, x->K, 1.0f, a, x->lda, x->b, x->ldb, x->beta,
                x->c + (size_t)r0 * x->ldc, x->ldc);
}

static void blas_one_thread(void) { openblas_set_num_threads(1); }

/* c (M,N) = a (M,K) . b (K,N) + beta c, a and b transposed as ta and tb say (row-major). */
static void sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc, sl_pool *pool) {
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* the setting is global to OpenBLAS; contexts of one model
                                                       may run on several threads */
    pthread_once(&once, blas_one_thread);
    const int parts = M >= 64 ? sl_pool_n_threads(pool) : 1;
    sgemm_ctx x = {ta, tb, M, N, K, a, b, lda, ldb, beta, c, ldc, parts};
    sl_pool_run(pool, parts, sgemm_task, &x);
}
#endif

/* bf16 where asked for and worth it: a product too small or too narrow (the classifier's 7 columns) stays f32. */
static int use_bf16(const sl_pool *pool, int M, int N, int K) {
    return sl_pool_precision(pool) == SL_PRECISION_BF16 && M >= 16 && N >= 16 && K >= 16 &&
           (double)M * N * K >= 1 << 20;
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K,
                    sl_pool *pool) {
    if (use_bf16(pool, M, N, K) &&
        sl_gemm_bf16(out, (size_t)N, inp, (size_t)K, 1, weight, 1, (size_t)K, bias, M, N, K, 0, pool))
        return;
#ifdef SL_USE_BLAS
    if ((size_t)M * N * K >= 32768) {
        if (bias)
            for (int m = 0; m < M; m++) memcpy(out + (size_t)m * N, bias, (size_t)N * sizeof *out);
        sgemm(CblasNoTrans, CblasTrans, M, N, K, inp, K, weight, K, bias ? 1.0f : 0.0f, out, N, pool);
        return;
    }
#endif
    /* Tiles of 32 output columns: a tile's weights (32 x K floats, 96 KiB for K = 768) stay in L2 while
       all M rows stream past them. */
    matmul_ctx c = {out, inp, weight, bias, M, N, K, 32};
    int n_tasks = (N + c.n_tile - 1) / c.n_tile;
    sl_pool_run(pool, n_tasks, matmul_task, &c);
}

#ifndef SL_USE_BLAS
/* C (R,K) += sum over j of A(r,j) * Bm (J,K) row j, with A(r,j) = a[r * a_r + j * a_j]: both halves of the
   matmul backward are this product. A task owns a strip of 16 columns of C; inside it, blocks of 4 rows of
   C accumulate in registers while the strip of Bm (J x 16 floats) stays in cache. */
typedef struct {
    float *c;
    const float *a, *b;
    int R, J, K;
    size_t a_r, a_j;
} accumulate_ctx;

#define STRIP 16
#define ACC_J 256

SL_MULTIVERSION static void accumulate_task(void *arg, int task, int thread) {
    (void)thread;
    const accumulate_ctx *x = arg;
    const int K = x->K, k0 = task * STRIP;
    if (k0 + STRIP <= K) {
        /* j in blocks of ACC_J, each block's sums added to c: chains of at most ACC_J products (a long J,
           the 32005 logits of the MLM head, in one chain would lose 5e-6 of the gradient's scale) */
        for (int r0 = 0; r0 < x->R; r0 += 4) {
            const int rr = x->R - r0 < 4 ? x->R - r0 : 4;
            for (int j0 = 0; j0 < x->J; j0 += ACC_J) {
                const int j1 = x->J - j0 < ACC_J ? x->J : j0 + ACC_J;
                v8f acc[4][2] = {{{0}}};
                for (int j = j0; j < j1; j++) {
                    const float *bj = x->b + (size_t)j * K + k0;
                    v8f b0 = load8(bj), b1 = load8(bj + 8);
                    for (int r = 0; r < rr; r++) {
                        float s = x->a[(size_t)(r0 + r) * x->a_r + (size_t)j * x->a_j];
                        acc[r][0] += s * b0;
                        acc[r][1] += s * b1;
                    }
                }
                for (int r = 0; r < rr; r++) {
                    float *cr = x->c + (size_t)(r0 + r) * K + k0;
                    store8(cr, load8(cr) + acc[r][0]);
                    store8(cr + 8, load8(cr + 8) + acc[r][1]);
                }
            }
        }
    } else { /* the last, partial strip */
        for (int r = 0; r < x->R; r++)
            for (int k = k0; k < K; k++)
                for (int j0 = 0; j0 < x->J; j0 += ACC_J) {
                    const int j1 = x->J - j0 < ACC_J ? x->J : j0 + ACC_J;
                    float s = 0;
                    for (int j = j0; j < j1; j++)
                        s += x->a[(size_t)r * x->a_r + (size_t)j * x->a_j] * x->b[(size_t)j * K + k];
                    x->c[(size_t)r * K + k] += s;
                }
    }
}

static void accumulate(float *c, const float *a, size_t a_r, size_t a_j, const float *b, int R, int J, int K,
                       sl_pool *pool) {
    accumulate_ctx x = {c, a, b, R, J, K, a_r, a_j};
    sl_pool_run(pool, (K + STRIP - 1) / STRIP, accumulate_task, &x);
}

#endif

/* dinp (M,K) += dout (M,N) . weight (N,K) and dweight (N,K) += dout^T . inp (M,K) in f32. */
static void backward_dinp_f32(float *dinp, const float *dout, const float *weight, int M, int N, int K,
                              sl_pool *pool) {
#ifdef SL_USE_BLAS
    sgemm(CblasNoTrans, CblasNoTrans, M, K, N, dout, N, weight, K, 1.0f, dinp, K, pool);
#else
    accumulate(dinp, dout, (size_t)N, 1, weight, M, N, K, pool); /* dinp[m,:] += dout[m,n] W[n,:] */
#endif
}

static void backward_dweight_f32(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                 sl_pool *pool) {
#ifdef SL_USE_BLAS
    sgemm(CblasTrans, CblasNoTrans, N, K, M, dout, N, inp, K, 1.0f, dweight, K, pool);
#else
    accumulate(dweight, dout, 1, (size_t)N, inp, N, M, K, pool); /* dW[n,:] += dout[m,n] inp[m,:] */
#endif
}

/* dbias (N) += the sum of dout's M rows: a task per 64 columns, each column summed in row order. */
typedef struct {
    float *dbias;
    const float *dout;
    int M, N;
} bias_grad_ctx;

SL_MULTIVERSION static void bias_grad_task(void *arg, int task, int thread) {
    (void)thread;
    const bias_grad_ctx *x = arg;
    const int n0 = task * 64, n1 = n0 + 64 < x->N ? n0 + 64 : x->N;
    int n = n0;
    if (n1 - n0 == 64) { /* 64 columns in 8 registers, each row read once */
        v8f s[8];
        for (int g = 0; g < 8; g++) s[g] = load8(x->dbias + n0 + 8 * g);
        for (int m = 0; m < x->M; m++)
            for (int g = 0; g < 8; g++) s[g] += load8(x->dout + (size_t)m * x->N + n0 + 8 * g);
        for (int g = 0; g < 8; g++) store8(x->dbias + n0 + 8 * g, s[g]);
        return;
    }
    for (; n + 8 <= n1; n += 8) {
        v8f s = load8(x->dbias + n);
        for (int m = 0; m < x->M; m++) s += load8(x->dout + (size_t)m * x->N + n);
        store8(x->dbias + n, s);
    }
    for (; n < n1; n++) {
        float s = x->dbias[n];
        for (int m = 0; m < x->M; m++) s += x->dout[(size_t)m * x->N + n];
        x->dbias[n] = s;
    }
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int M, int N, int K, sl_pool *pool) {
    const int bf16 = use_bf16(pool, M, N, K);
    if (dinp && !(bf16 && sl_gemm_bf16(dinp, (size_t)K, dout, (size_t)N, 1, weight, (size_t)K, 1, NULL, M, K, N, 1, pool)))
        backward_dinp_f32(dinp, dout, weight, M, N, K, pool);
    if (!(bf16 && sl_gemm_bf16(dweight, (size_t)K, dout, 1, (size_t)N, inp, (size_t)K, 1, NULL, N, K, M, 1, pool)))
        backward_dweight_f32(dweight, dout, inp, M, N, K, pool);
    if (dbias) {
        bias_grad_ctx x = {dbias, dout, M, N};
        sl_pool_run(pool, (N + 63) / 64, bias_grad_task, &x);
    }
}

/* ---- layer norm -------------------------------------------------------------------------------- */

/* Sums in double over 8 lanes (i mod 8), added at the end: vectorised, and as exact as one double sum. */
VEC_INLINE double sum8d(const float *x, float mu, int squares, int C) {
    double s[8] = {0};
    int i = 0;
    for (; i + 8 <= C; i += 8)
        for (int j = 0; j < 8; j++) {
            const double d = (double)(x[i + j] - mu);
            s[j] += squares ? d * d : d;
        }
    for (; i < C; i++) {
        const double d = (double)(x[i] - mu);
        s[0] += squares ? d * d : d;
    }
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

SL_MULTIVERSION static void layernorm_rows(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                           const float *bias, int M, int C, float eps) {
    for (int m = 0; m < M; m++) {
        const float *x = inp + (size_t)m * C;
        float *y = out + (size_t)m * C;
        float mu = (float)(sum8d(x, 0.0f, 0, C) / C);
        float rs = 1.0f / sqrtf((float)(sum8d(x, mu, 1, C) / C) + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * weight[i] + bias[i];
        if (mean) mean[m] = mu;
        if (rstd) rstd[m] = rs;
    }
}

/* Two reductions per row (means of dnorm and of dnorm * norm, in double over 8 lanes as sum8d), then the
   element-wise update, 8 lanes at a time. */
SL_MULTIVERSION static void layernorm_backward_rows(float *dinp, float *dweight, float *dbias, const float *dout,
                                                    const float *inp, const float *weight, const float *mean,
                                                    const float *rstd, int M, int C) {
    const int C8 = C & ~7;
    for (int m = 0; m < M; m++) {
        const float *dy = dout + (size_t)m * C, *x = inp + (size_t)m * C;
        float *dx = dinp + (size_t)m * C;
        const float mu = mean[m], rs = rstd[m];
        double s1[8] = {0}, s2[8] = {0};
        for (int i = 0; i < C8; i += 8) {
            const v8f norm = (load8(x + i) - mu) * rs, dnorm = load8(weight + i) * load8(dy + i);
            for (int j = 0; j < 8; j++) {
                s1[j] += dnorm[j];
                s2[j] += (double)dnorm[j] * norm[j];
            }
        }
        for (int i = C8; i < C; i++) {
            const float norm = (x[i] - mu) * rs, dnorm = weight[i] * dy[i];
            s1[0] += dnorm;
            s2[0] += (double)dnorm * norm;
        }
        const double dnorm_sum = ((s1[0] + s1[4]) + (s1[1] + s1[5])) + ((s1[2] + s1[6]) + (s1[3] + s1[7]));
        const double dnorm_norm_sum = ((s2[0] + s2[4]) + (s2[1] + s2[5])) + ((s2[2] + s2[6]) + (s2[3] + s2[7]));
        const float a = (float)(dnorm_sum / C), b = (float)(dnorm_norm_sum / C);
        for (int i = 0; i < C8; i += 8) {
            const v8f g = load8(dy + i), norm = (load8(x + i) - mu) * rs, dnorm = load8(weight + i) * g;
            store8(dbias + i, load8(dbias + i) + g);
            store8(dweight + i, load8(dweight + i) + norm * g);
            store8(dx + i, load8(dx + i) + (dnorm - a - norm * b) * rs);
        }
        for (int i = C8; i < C; i++) {
            const float norm = (x[i] - mu) * rs, dnorm = weight[i] * dy[i];
            dbias[i] += dy[i];
            dweight[i] += norm * dy[i];
            dx[i] += (dnorm - a - norm * b) * rs;
        }
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int M, int C) {
    layernorm_backward_rows(dinp, dweight, dbias, dout, inp, weight, mean, rstd, M, C);
}

/* ---- elementwise ------------------------------------------------------------------------------- */

/* exp(x) in 8 lanes for x <= 88, 0 below -87 (about where exp turns subnormal); measured over every float
   of [-87, 88] against exp() in double: max error 1.01 ulp.
   x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, the first short enough that n times it is exact),
   e^r by a polynomial 1 + r + r^2 P(r) (P of degree 4, near-minimax: relative error 3.1e-9), 2^n built
   in the exponent bits. n is rounded by the 1.5 * 2^23 trick: adding it leaves the integer in the
   mantissa, so t's bits minus those of 1.5 * 2^23 are n as an integer (no float-to-int conversion, which
   WebAssembly engines expand into a dozen x86 instructions: i32x4.trunc_sat_f32x4_s). */
VEC_INLINE v8f exp8(v8f x) {
    const v8i tiny = x < -87.0f;
    x = select8(tiny, (v8f){0} - 87.0f, x);
    const v8f t = x * 1.44269504f + 12582912.0f, n = t - 12582912.0f;
    const v8f r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    const v8f p3 = ((1.381461467e-3f * r + 8.368709870e-3f) * r + 4.166838734e-2f) * r + 1.666652069e-1f;
    const v8f p = (p3 * r + 4.999999345e-1f) * (r * r) + r + 1.0f;
    const v8f two_n = (v8f)(((v8i)t - 0x4B400000 + 127) << 23);
    return select8(tiny, (v8f){0}, p * two_n);
}

/* erf(x) in 8 lanes, without branches so that loops of it vectorise. Both pieces are computed and each
   lane takes one:
     |x| < 0.8:  x P(x^2), P of degree 5;
     |x| >= 0.8: 1 - exp(L(|x|)), L of degree 6 fitting log erfc on [0.8, 4]; |x| is clamped at 4, where
                 erf rounds to 1 (erfc(4) = 1.5e-8, a quarter of an ulp below 1): GELU is 0 below -4 sqrt 2.
   The coefficients are near-minimax fits (Lawson's reweighted least squares against erf in double):
   1.2e-9 and 2.4e-9 in erf. Measured in float over every float of [-10, 10] against erf() in double:
   max abs error 1.03e-7 (9.6e-8 with FMA), near x = 0.8 where an ulp of erf is 6e-8. */
VEC_INLINE v8f erf8(v8f x) {
    const v8i sign = (v8i)x & INT32_MIN;
    v8f a = (v8f)((v8i)x & INT32_MAX);
    a = select8(a < 4.0f, a, (v8f){0} + 4.0f);
    const v8f s = a * a;
    const v8f small = a * (((((-6.402868242e-4f * s + 5.061661909e-3f) * s - 2.680564763e-2f) * s +
                            1.128268326e-1f) * s - 3.761255150e-1f) * s + 1.128379147f);
    const v8f l3 = ((2.074618730e-4f * a - 3.153675458e-3f) * a + 2.265639298e-2f) * a - 1.047990635e-1f;
    const v8f log_erfc = ((l3 * a - 6.362216196e-1f) * a - 1.128229077f) * a - 6.594462019e-5f;
    const v8f y = select8(a < 0.8f, small, 1.0f - exp8(log_erfc));
    return (v8f)((v8i)y | sign);
}

/* The exact GELU in 8 lanes: x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2. */
VEC_INLINE v8f gelu8(v8f x) { return 0.5f * x * (1.0f + erf8(x * (float)M_SQRT1_2)); }

VEC_INLINE void gelu_row(float *out, const float *inp, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(out + i, gelu8(load8(inp + i)));
    if (i < n) { /* the last n % 8 through a padded vector */
        float x[8] = {0};
        memcpy(x, inp + i, (size_t)(n - i) * sizeof *x);
        store8(x, gelu8(load8(x)));
        memcpy(out + i, x, (size_t)(n - i) * sizeof *x);
    }
}

SL_MULTIVERSION static void gelu_span(float *out, const float *inp, int64_t n) { gelu_row(out, inp, n); }

/* GELU in place over a block of rows (row stride ld): the q8_0 products' epilogue, one call per task, so the
   loop's constants are set up once for all its rows (simd.c, sl_q8_products, has the measurement). */
SL_MULTIVERSION static void gelu_rows(float *x, size_t ld, int rows, int cols) {
    for (int r = 0; r < rows; r++) gelu_row(x + (size_t)r * ld, x + (size_t)r * ld, cols);
}

void gelu_block(float *x, size_t ld, int rows, int cols) { gelu_rows(x, ld, rows, cols); }

/* GELU'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi), with erf8 and exp8 (exp8 is 0 where
   -x^2 / 2 < -87, where phi is below 1e-38 anyway). */
VEC_INLINE v8f gelu_grad8(v8f x) {
    const v8f cdf = 0.5f * (1.0f + erf8(x * (float)M_SQRT1_2));
    return cdf + x * (0.3989422804014327f * exp8(-0.5f * x * x));
}

SL_MULTIVERSION static void gelu_grad_span(float *dinp, const float *inp, const float *dout, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(dinp + i, load8(dout + i) * gelu_grad8(load8(inp + i)));
    if (i < n) {
        float x[8] = {0}, g[8] = {0};
        memcpy(x, inp + i, (size_t)(n - i) * sizeof *x);
        memcpy(g, dout + i, (size_t)(n - i) * sizeof *g);
        store8(g, load8(g) * gelu_grad8(load8(x)));
        memcpy(dinp + i, g, (size_t)(n - i) * sizeof *g);
    }
}

static void residual_span(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- the element-wise kernels over the pool ------------------------------------------------------- */

/* Spans of ELEMENT_SPAN values (rows for layernorm_forward) are tasks; below two spans a call runs inline.
   Every element is computed as the serial loop computes it, so results do not depend on the threads. */
#define ELEMENT_SPAN 16384

typedef struct {
    int op;
    float *x;
    const float *a, *b, *c, *d;
    float *mean, *rstd;
    const sl_dropout *drop;
    int64_t n;
    int M, C;
    float eps;
} elementwise_ctx;

enum { OP_DROPOUT, OP_GELU, OP_GELU_GRAD, OP_RESIDUAL, OP_LAYERNORM };

static void elementwise_task(void *arg, int task, int thread) {
    (void)thread;
    const elementwise_ctx *e = arg;
    if (e->op == OP_LAYERNORM) {
        const int rows = ELEMENT_SPAN / e->C > 0 ? ELEMENT_SPAN / e->C : 1, m0 = task * rows,
                  m1 = m0 + rows < e->M ? m0 + rows : e->M;
        const size_t off = (size_t)m0 * e->C;
        layernorm_rows(e->x + off, e->mean ? e->mean + m0 : NULL, e->rstd ? e->rstd + m0 : NULL, e->a + off, e->b,
                       e->c, m1 - m0, e->C, e->eps);
        return;
    }
    const int64_t i0 = (int64_t)task * ELEMENT_SPAN, i1 = i0 + ELEMENT_SPAN < e->n ? i0 + ELEMENT_SPAN : e->n;
    switch (e->op) {
    case OP_DROPOUT: {
        sl_dropout d = *e->drop;
        d.offset += (uint64_t)i0; /* the mask of element i is the hash of its index in the whole array */
        dropout_span(e->x + i0, i1 - i0, &d);
        break;
    }
    case OP_GELU: gelu_span(e->x + i0, e->a + i0, i1 - i0); break;
    case OP_GELU_GRAD: gelu_grad_span(e->x + i0, e->a + i0, e->b + i0, i1 - i0); break;
    case OP_RESIDUAL: residual_span(e->x + i0, e->a + i0, i1 - i0); break;
    }
}

static void elementwise(const elementwise_ctx *e, sl_pool *pool) {
    int n_tasks;
    if (e->op == OP_LAYERNORM) {
        const int rows = ELEMENT_SPAN / e->C > 0 ? ELEMENT_SPAN / e->C : 1;
        n_tasks = (e->M + rows - 1) / rows;
    } else {
        n_tasks = (int)((e->n + ELEMENT_SPAN - 1) / ELEMENT_SPAN);
    }
    if (n_tasks < 2) pool = NULL;
    sl_pool_run(pool, n_tasks, elementwise_task, (void *)e);
}

void dropout_forward(float *x, int64_t n, const sl_dropout *d, sl_pool *pool) {
    if (!d || d->p <= 0) return;
    elementwise(&(elementwise_ctx){.op = OP_DROPOUT, .x = x, .drop = d, .n = n}, pool);
}

void gelu_forward(float *out, const float *inp, int64_t n, sl_pool *pool) {
    elementwise(&(elementwise_ctx){.op = OP_GELU, .x = out, .a = inp, .n = n}, pool);
}

void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n, sl_pool *pool) {
    elementwise(&(elementwise_ctx){.op = OP_GELU_GRAD, .x = dinp, .a = inp, .b = dout, .n = n}, pool);
}

void residual_forward(float *x, const float *y, int64_t n, sl_pool *pool) {
    elementwise(&(elementwise_ctx){.op = OP_RESIDUAL, .x = x, .a = y, .n = n}, pool);
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int M, int C, float eps, sl_pool *pool) {
    elementwise(&(elementwise_ctx){.op = OP_LAYERNORM, .x = out, .a = inp, .b = weight, .c = bias, .mean = mean,
                                   .rstd = rstd, .M = M, .C = C, .eps = eps},
                pool);
}

void softmax_forward(float *x, int M, int N) {
    for (int m = 0; m < M; m++) {
        float *r = x + (size_t)m * N;
        float mx = -INFINITY;
        for (int i = 0; i < N; i++) mx = r[i] > mx ? r[i] : mx;
        float sum = 0;
        for (int i = 0; i < N; i++) {
            r[i] = expf(r[i] - mx);
            sum += r[i];
        }
        for (int i = 0; i < N; i++) r[i] /= sum;
    }
}

/* ---- attention --------------------------------------------------------------------------------- */

typedef struct {
    float *out, *probs;
    float *dq, *dk, *dv;
    const float *dout, *saved;
    const float *q, *k, *v;
    const uint8_t *key_mask;
    int B, T, C, NH;
    const sl_dropout *dropout;
    float *scratch;
} attention_ctx;

/* a . b and y += s * x over n floats, 8 lanes at a time (inlined into the multi-versioned callers). */
static inline float dot(const float *a, const float *b, int n) {
    v8f acc = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) acc += load8(a + i) * load8(b + i);
    float s = hsum8(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy(float *y, float s, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) store8(y + i, load8(y + i) + s * load8(x + i));
    for (; i < n; i++) y[i] += s * x[i];
}

/* Training (and head sizes the inference path does not take): one task = one (batch row, head); for every
   query, scores against the real keys, softmax, weighted sum of values. Without saved probabilities only a
   row of T scores is ever materialised. */
SL_MULTIVERSION static void attention_task(void *arg, int task, int thread) {
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH;
    const int b = task / NH, h = task % NH;
    const float scale = 1.0f / sqrtf((float)D);
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    for (int t = 0; t < T; t++) {
        float *s = c->probs ? c->probs + (((size_t)b * NH + h) * T + t) * T : c->scratch + (size_t)thread * T;
        const float *qt = c->q + base + (size_t)t * C;
        float mx = -INFINITY;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) {
                s[u] = 0;
                continue;
            }
            s[u] = dot(qt, c->k + base + (size_t)u * C, D) * scale;
            mx = s[u] > mx ? s[u] : mx;
        }
        float *ot = c->out + base + (size_t)t * C;
        memset(ot, 0, (size_t)D * sizeof *ot);
        if (mx == -INFINITY) continue; /* no real key at all */
        float sum = 0;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            s[u] = expf(s[u] - mx);
            sum += s[u];
        }
        const float inv = 1.0f / sum;
        const uint64_t row = (((uint64_t)b * NH + h) * T + t) * T;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            s[u] *= inv;
            const float p = s[u] * sl_dropout_scale(c->dropout, row + u);
            const float *vu = c->v + base + (size_t)u * C;
            axpy(ot, p, vu, D);
        }
    }
}

/* Inference (no saved probabilities, no dropout), a matrix-product shape: a task is a block of ATT_Q
   queries of one (batch row, head), one query per lane of a v8f. Keys come in chunks of ATT_KEYS; a
   chunk's scores (keys x queries) are a small register-blocked product, then an online softmax (a running
   max m and sum l per query, as in FlashAttention) rescales what the output rows hold and adds the chunk's
   exp(score - m) v. The output rows are the accumulator; all else is on the stack (6 KiB), whatever T.
   Needs D a multiple of 16 (the value product's width) and at most ATT_DMAX. */
#define ATT_Q 8      /* queries per task: the lanes of a v8f */
#define ATT_KEYS 64  /* keys per chunk */
#define ATT_KSTEP 4  /* keys per step of the score product: 8 accumulators, 16 registers in SSE or wasm */
#define ATT_DMAX 128 /* head size bound of the transposed query block */

/* qt (D) lane r = q row r * scale for the rn queries of the block (rows C apart), 0 in the other lanes. */
VEC_INLINE void attention_queries(v8f *qt, const float *q, int C, int D, int rn, float scale) {
    for (int d = 0; d < D; d++)
        for (int r = 0; r < ATT_Q; r++) qt[d][r] = r < rn ? q[(size_t)r * C + d] * scale : 0.0f;
}

/* s (un rounded up to ATT_KSTEP, ATT_Q) row j lane r = qt_r . k_j: each loaded query vector serves
   ATT_KSTEP keys, each key element is broadcast to the ATT_Q queries. Two partial sums per key (even and
   odd dimensions) halve the chains' length, which keeps the rounding at that of the 8-lane dot product of
   the general path, and double the independent chains. Rows past un repeat the last key. */
VEC_INLINE void attention_scores(float *s, const v8f *qt, const float *k, int C, int D, int un) {
    for (int j = 0; j < un; j += ATT_KSTEP) {
        const float *kr[ATT_KSTEP];
        for (int i = 0; i < ATT_KSTEP; i++) kr[i] = k + (size_t)(j + i < un ? j + i : un - 1) * C;
        v8f acc[2][ATT_KSTEP] = {{{0}}};
        for (int d = 0; d < D; d += 2)
            for (int i = 0; i < ATT_KSTEP; i++) {
                acc[0][i] += qt[d] * kr[i][d];
                acc[1][i] += qt[d + 1] * kr[i][d + 1];
            }
        for (int i = 0; i < ATT_KSTEP; i++) store8(s + (j + i) * ATT_Q, acc[0][i] + acc[1][i]);
    }
}

/* Folds a chunk of scores s (un, ATT_Q) into the running max m and sum l: s becomes exp(s - m), 0 for
   padding keys, and *shrink = exp(m_before - m_after) is the factor for what came before (0 the first
   time, as m starts at -inf). Returns 0 when the chunk holds no real key (nothing changed). */
VEC_INLINE int attention_softmax_chunk(float *s, const uint8_t *mask, int un, v8f *m, v8f *l, v8f *shrink) {
    v8f mx = *m;
    int real = 0;
    for (int j = 0; j < un; j++)
        if (mask[j]) {
            const v8f sj = load8(s + j * ATT_Q);
            mx = select8(sj > mx, sj, mx);
            real = 1;
        }
    if (!real) return 0;
    v8f sum = {0};
    for (int j = 0; j < un; j++) {
        const v8f e = mask[j] ? exp8(load8(s + j * ATT_Q) - mx) : (v8f){0};
        store8(s + j * ATT_Q, e);
        sum += e;
    }
    *shrink = exp8(*m - mx);
    *l = *l * *shrink + sum;
    *m = mx;
    return 1;
}

/* o row r (D) = o row r * shrink_r + sum over j < un of p (j, r) v_j, for the rn rows of the block:
   4 rows x 16 columns per pass over the chunk, each loaded value row serving 4 queries. */
VEC_INLINE void attention_values(float *o, const float *p, v8f shrink, const float *v, int C, int D, int rn,
                                int un) {
    for (int r0 = 0; r0 < rn; r0 += 4) {
        const int rr = rn - r0 < 4 ? rn - r0 : 4;
        for (int d = 0; d < D; d += 16) {
            v8f acc[4][2] = {{{0}}};
            for (int j = 0; j < un; j++) {
                const v8f v0 = load8(v + (size_t)j * C + d), v1 = load8(v + (size_t)j * C + d + 8);
                const float *pj = p + j * ATT_Q + r0;
                for (int r = 0; r < 4; r++) {
                    acc[r][0] += pj[r] * v0;
                    acc[r][1] += pj[r] * v1;
                }
            }
            for (int r = 0; r < rr; r++) {
                float *row = o + (size_t)(r0 + r) * C + d;
                store8(row, load8(row) * shrink[r0 + r] + acc[r][0]);
                store8(row + 8, load8(row + 8) * shrink[r0 + r] + acc[r][1]);
            }
        }
    }
}

SL_MULTIVERSION static void attention_inference_task(void *arg, int task, int thread) {
    (void)thread;
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH, n_blocks = (T + ATT_Q - 1) / ATT_Q;
    const int b = task / n_blocks / NH, h = task / n_blocks % NH, t0 = task % n_blocks * ATT_Q;
    const int rn = T - t0 < ATT_Q ? T - t0 : ATT_Q;
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    float *o = c->out + base + (size_t)t0 * C;
    int keys = T; /* trailing padding is skipped whole */
    while (keys > 0 && !mask[keys - 1]) keys--;
    v8f qt[ATT_DMAX];
    float s[ATT_KEYS * ATT_Q];
    attention_queries(qt, c->q + base + (size_t)t0 * C, C, D, rn, 1.0f / sqrtf((float)D));
    for (int r = 0; r < rn; r++) memset(o + (size_t)r * C, 0, (size_t)D * sizeof *o);
    v8f m = (v8f){0} - INFINITY, l = {0}, shrink;
    for (int u0 = 0; u0 < keys; u0 += ATT_KEYS) {
        const int un = keys - u0 < ATT_KEYS ? keys - u0 : ATT_KEYS;
        attention_scores(s, qt, c->k + base + (size_t)u0 * C, C, D, un);
        if (attention_softmax_chunk(s, mask + u0, un, &m, &l, &shrink))
            attention_values(o, s, shrink, c->v + base + (size_t)u0 * C, C, D, rn, un);
    }
    for (int r = 0; r < rn; r++) { /* l = 0: no real key at all, the row stays 0 */
        const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
        for (int d = 0; d < D; d += 16) {
            float *row = o + (size_t)r * C + d;
            store8(row, load8(row) * inv);
            store8(row + 8, load8(row + 8) * inv);
        }
    }
}

/* Training: a task is one (batch row, head), whose products are small matrix products over a work area
   of its thread (attention_work_floats): the scores straight into probs, softmax by rows, then
   out = dropout(P) V; the backward pass is five such products. */

#define SP_ROWS 6
/* c (R,N) = alpha * sum over j < J of A(r,j) b (J,N) row j, A(r,j) = a[r * a_r + j * a_j], rows of b and c
   ldb and ldc apart. Tiles of 6 rows x 16 columns in 12 accumulators (each loaded b vector serves 6 rows,
   each broadcast element of A 16 columns; 8 accumulators would only just cover the FMA latency); narrower column tails through a zero-padded copy. */
VEC_INLINE void small_product(float *c, int ldc, const float *a, int a_r, int a_j, const float *b, int ldb, int R,
                              int J, int N, float alpha) {
    for (int n0 = 0; n0 < N; n0 += 16) {
        const int nn = N - n0 < 16 ? N - n0 : 16;
        for (int r0 = 0; r0 < R; r0 += SP_ROWS) {
            const int rr = R - r0 < SP_ROWS ? R - r0 : SP_ROWS;
            const float *ar[SP_ROWS];
            for (int r = 0; r < SP_ROWS; r++) ar[r] = a + (size_t)(r0 + (r < rr ? r : rr - 1)) * a_r;
            v8f acc[SP_ROWS][2] = {{{0}}};
            if (nn == 16) {
                for (int j = 0; j < J; j++) {
                    const float *bj = b + (size_t)j * ldb + n0;
                    const v8f b0 = load8(bj), b1 = load8(bj + 8);
                    for (int r = 0; r < SP_ROWS; r++) {
                        const float x = ar[r][(size_t)j * a_j];
                        acc[r][0] += x * b0;
                        acc[r][1] += x * b1;
                    }
                }
            } else {
                for (int j = 0; j < J; j++) {
                    float bj[16] = {0};
                    memcpy(bj, b + (size_t)j * ldb + n0, (size_t)nn * sizeof *bj);
                    const v8f b0 = load8(bj), b1 = load8(bj + 8);
                    for (int r = 0; r < SP_ROWS; r++) {
                        const float x = ar[r][(size_t)j * a_j];
                        acc[r][0] += x * b0;
                        acc[r][1] += x * b1;
                    }
                }
            }
            for (int r = 0; r < rr; r++) {
                float *cr = c + (size_t)(r0 + r) * ldc + n0;
                if (nn == 16) {
                    store8(cr, alpha * acc[r][0]);
                    store8(cr + 8, alpha * acc[r][1]);
                } else {
                    float t[16];
                    store8(t, alpha * acc[r][0]);
                    store8(t + 8, alpha * acc[r][1]);
                    memcpy(cr, t, (size_t)nn * sizeof *t);
                }
            }
        }
    }
}

/* dst (D, T) = the T rows of D floats of src, C apart, transposed. */
VEC_INLINE void transpose_head(float *dst, const float *src, int T, int C, int D) {
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) dst[(size_t)d * T + t] = src[(size_t)t * C + d];
}

/* row (n) *= the dropout multipliers of elements first .. first + n - 1. */
VEC_INLINE void dropout_row(float *dst, const float *src, int n, const sl_dropout *d, uint64_t first) {
    if (!d || d->p <= 0) {
        if (dst != src) memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    const dropout8 d8 = dropout8_init(d);
    int i = 0;
    for (; i + 8 <= n; i += 8) store8(dst + i, load8(src + i) * dropout8_scale(&d8, first + (uint64_t)i));
    for (; i < n; i++) dst[i] = src[i] * sl_dropout_scale(d, first + (uint64_t)i);
}

/* Keys past the last real one take no part (trailing padding). */
static int real_keys(const uint8_t *mask, int T) {
    int keys = T;
    while (keys > 0 && !mask[keys - 1]) keys--;
    return keys;
}

/* The per-thread work area of the training path: Pd, and dS or (without saved probabilities) P (T,T), and a
   transposed head (D,T). */
static size_t attention_work_floats(int T, int D) { return 2 * (size_t)T * T + (size_t)D * T; }

SL_MULTIVERSION static void attention_train_task(void *arg, int task, int thread) {
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH;
    const int b = task / NH, h = task % NH;
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    float *pd = c->scratch + (size_t)thread * attention_work_floats(T, D), *kt = pd + 2 * (size_t)T * T;
    float *P = c->probs ? c->probs + ((size_t)b * NH + h) * T * T : pd + (size_t)T * T;
    const int keys = real_keys(mask, T);
    /* scores of the real keys, scaled; softmax over each row (padding keys 0) */
    transpose_head(kt, c->k + base, keys, C, D);
    if (keys > 0) small_product(P, T, c->q + base, C, 1, kt, keys, T, D, keys, 1.0f / sqrtf((float)D));
    for (int t = 0; t < T; t++) {
        float *s = P + (size_t)t * T;
        float mx = -INFINITY;
        for (int u = 0; u < keys; u++)
            if (mask[u]) mx = s[u] > mx ? s[u] : mx;
        if (mx == -INFINITY) { /* no real key at all */
            memset(s, 0, (size_t)T * sizeof *s);
            continue;
        }
        v8f sum8 = {0};
        int u = 0;
        for (; u + 8 <= keys; u += 8) {
            v8i real;
            for (int i = 0; i < 8; i++) real[i] = mask[u + i] ? -1 : 0;
            const v8f e = select8(real, exp8(load8(s + u) - mx), (v8f){0});
            store8(s + u, e);
            sum8 += e;
        }
        float sum = hsum8(sum8);
        for (; u < keys; u++) sum += s[u] = mask[u] ? expf(s[u] - mx) : 0.0f;
        const float inv = 1.0f / sum;
        for (u = 0; u < keys; u++) s[u] *= inv;
        for (; u < T; u++) s[u] = 0;
        dropout_row(pd + (size_t)t * T, s, keys, c->dropout, (((uint64_t)b * NH + h) * T + t) * T);
    }
    /* out = Pd V */
    if (keys > 0) small_product(c->out + base, C, pd, T, 1, c->v + base, C, T, keys, D, 1.0f);
    else
        for (int t = 0; t < T; t++) memset(c->out + base + (size_t)t * C, 0, (size_t)D * sizeof(float));
}

/* With P the saved softmax and Pd = dropout(P): dv = Pd^T dout;  dPd = dout v^T;  dP = dPd * mask;
   dS = P (dP - rowsum(P dP)) scale;  dq = dS k;  dk = dS^T q. */
SL_MULTIVERSION static void attention_train_backward_task(void *arg, int task, int thread) {
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH;
    const int b = task / NH, h = task % NH;
    const float scale = 1.0f / sqrtf((float)D);
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    const float *P = c->saved + ((size_t)b * NH + h) * T * T;
    float *pd = c->scratch + (size_t)thread * attention_work_floats(T, D), *ds = pd + (size_t)T * T,
          *vt = ds + (size_t)T * T;
    const int keys = real_keys(mask, T);
    const uint64_t first = ((uint64_t)b * NH + h) * T * T;
    for (int u = keys; u < T; u++) { /* keys after the last real one get no gradient */
        memset(c->dk + base + (size_t)u * C, 0, (size_t)D * sizeof(float));
        memset(c->dv + base + (size_t)u * C, 0, (size_t)D * sizeof(float));
    }
    if (keys == 0) {
        for (int t = 0; t < T; t++) memset(c->dq + base + (size_t)t * C, 0, (size_t)D * sizeof(float));
        return;
    }
    for (int t = 0; t < T; t++) dropout_row(pd + (size_t)t * keys, P + (size_t)t * T, keys, c->dropout, first + (uint64_t)t * T);
    small_product(c->dv + base, C, pd, 1, keys, c->dout + base, C, keys, T, D, 1.0f);
    transpose_head(vt, c->v + base, keys, C, D);
    small_product(ds, keys, c->dout + base, C, 1, vt, keys, T, D, keys, 1.0f);
    for (int t = 0; t < T; t++) {
        const float *p = P + (size_t)t * T;
        float *g = ds + (size_t)t * keys;
        if (c->dropout && c->dropout->p > 0) {
            /* the mask again, read from Pd where P is not 0 (P > 0 times 1 / (1 - p) is not 0); where P is 0,
               dS and the row's sum take nothing from the element whatever its multiplier */
            const float keep = 1.0f / (1.0f - c->dropout->p);
            const float *pdt = pd + (size_t)t * keys;
            int u = 0;
            for (; u + 8 <= keys; u += 8)
                store8(g + u, select8(load8(pdt + u) != 0.0f, load8(g + u) * keep, (v8f){0}));
            for (; u < keys; u++) g[u] = pdt[u] != 0.0f ? g[u] * keep : 0.0f;
        }
        v8f dot8 = {0};
        int u = 0;
        for (; u + 8 <= keys; u += 8) dot8 += load8(p + u) * load8(g + u);
        float dot = hsum8(dot8);
        for (; u < keys; u++) dot += p[u] * g[u];
        for (u = 0; u + 8 <= keys; u += 8) store8(g + u, load8(p + u) * (load8(g + u) - dot) * scale);
        for (; u < keys; u++) g[u] = p[u] * (g[u] - dot) * scale;
    }
    small_product(c->dq + base, C, ds, keys, 1, c->k + base, C, T, keys, D, 1.0f);
    small_product(c->dk + base, C, ds, 1, keys, c->q + base, C, keys, T, D, 1.0f);
}

void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const uint8_t *key_mask, int B, int T, int C, int NH, const sl_dropout *dropout,
                       float *scratch, sl_pool *pool) {
    attention_ctx c = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .key_mask = key_mask,
                       .B = B, .T = T, .C = C, .NH = NH, .dropout = dropout, .scratch = scratch};
    const int D = C / NH;
    if (!probs && !(dropout && dropout->p > 0) && D % 16 == 0 && D <= ATT_DMAX) {
        sl_pool_run(pool, B * NH * ((T + ATT_Q - 1) / ATT_Q), attention_inference_task, &c);
        return;
    }
    /* training (and head sizes the inference path does not take): the work areas, the pool's scratch memory
       (a failed allocation falls back on the row-by-row code) */
    const size_t bytes = (size_t)sl_pool_n_threads(pool) * attention_work_floats(T, D) * sizeof(float);
    float *owned = pool ? NULL : malloc(bytes), *work = pool ? sl_pool_scratch(pool, bytes) : owned;
    if (work) {
        c.scratch = work;
        sl_pool_run(pool, B * NH, attention_train_task, &c);
        free(owned);
    } else {
        sl_pool_run(pool, B * NH, attention_task, &c);
    }
}

/* The backward of one (batch row, head): with P the saved softmax and Pd = dropout(P),
   dv_u = sum_t Pd_tu dout_t;  dPd_tu = dout_t . v_u;  dP = dPd * mask;
   dS_tu = P_tu (dP_tu - sum_u' P_tu' dP_tu');  dq_t = scale sum_u dS_tu k_u;  dk_u = scale sum_t dS_tu q_t.
   A task writes only its own head's columns of dq, dk, dv: no two tasks touch the same bytes. */
SL_MULTIVERSION static void attention_backward_task(void *arg, int task, int thread) {
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH;
    const int b = task / NH, h = task % NH;
    const float scale = 1.0f / sqrtf((float)D);
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    float *dp = c->scratch + (size_t)thread * T;
    for (int t = 0; t < T; t++) {
        memset(c->dq + base + (size_t)t * C, 0, (size_t)D * sizeof(float));
        memset(c->dk + base + (size_t)t * C, 0, (size_t)D * sizeof(float));
        memset(c->dv + base + (size_t)t * C, 0, (size_t)D * sizeof(float));
    }
    for (int t = 0; t < T; t++) {
        const float *p = c->saved + (((size_t)b * NH + h) * T + t) * T;
        const float *dot_ = c->dout + base + (size_t)t * C, *qt = c->q + base + (size_t)t * C;
        const uint64_t row = (((uint64_t)b * NH + h) * T + t) * T;
        float sum = 0;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) {
                dp[u] = 0;
                continue;
            }
            const float keep = sl_dropout_scale(c->dropout, row + u);
            const float *vu = c->v + base + (size_t)u * C;
            float *dvu = c->dv + base + (size_t)u * C;
            const float pd = p[u] * keep;
            axpy(dvu, pd, dot_, D);
            dp[u] = dot(dot_, vu, D) * keep;
            sum += p[u] * dp[u];
        }
        float *dqt = c->dq + base + (size_t)t * C;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            const float ds = p[u] * (dp[u] - sum) * scale;
            const float *ku = c->k + base + (size_t)u * C;
            float *dku = c->dk + base + (size_t)u * C;
            axpy(dqt, ds, ku, D);
            axpy(dku, ds, qt, D);
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                        const float *k, const float *v, const uint8_t *key_mask, int B, int T, int C, int NH,
                        const sl_dropout *dropout, float *scratch, sl_pool *pool) {
    attention_ctx c = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .saved = probs, .q = q, .k = k, .v = v,
                       .key_mask = key_mask, .B = B, .T = T, .C = C, .NH = NH, .dropout = dropout,
                       .scratch = scratch};
    const size_t bytes = (size_t)sl_pool_n_threads(pool) * attention_work_floats(T, C / NH) * sizeof(float);
    float *owned = pool ? NULL : malloc(bytes), *work = pool ? sl_pool_scratch(pool, bytes) : owned;
    if (work) {
        c.scratch = work;
        sl_pool_run(pool, B * NH, attention_train_backward_task, &c);
        free(owned);
    } else {
        sl_pool_run(pool, B * NH, attention_backward_task, &c);
    }
}

/* ---- AdamW ------------------------------------------------------------------------------------- */

static void adamw_scalar(float *param, float *m, float *v, const float *grad, int64_t n, const sl_adamw *a,
                         int decayed) {
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] * a->clip;
        float p = param[i];
        if (decayed) p *= a->decay;
        const float mi = m[i] * a->b1 + g * a->one_minus_b1;
        const float vi = v[i] * a->b2 + a->one_minus_b2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        param[i] = p + (a->step_size * mi) / (sqrtf(vi) / a->bc2_sqrt + a->eps);
    }
}

#ifdef SL_KERNELS_X86
/* The same operations, 16 lanes at a time: IEEE multiplication, addition, division and square root round
   alike in every lane and in the scalar code, so the result is the scalar loop's bit for bit. The
   intrinsics are written one operation at a time and the function is compiled without contraction. */
TARGET_AVX512 __attribute__((optimize("fp-contract=off"))) static void adamw_avx512(
    float *param, float *m, float *v, const float *grad, int64_t n, const sl_adamw *a, int decayed) {
    const __m512 clip = _mm512_set1_ps(a->clip), decay = _mm512_set1_ps(decayed ? a->decay : 1.0f),
                 b1 = _mm512_set1_ps(a->b1), c1 = _mm512_set1_ps(a->one_minus_b1), b2 = _mm512_set1_ps(a->b2),
                 c2 = _mm512_set1_ps(a->one_minus_b2), step = _mm512_set1_ps(a->step_size),
                 bc2 = _mm512_set1_ps(a->bc2_sqrt), eps = _mm512_set1_ps(a->eps);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_mul_ps(_mm512_loadu_ps(grad + i), clip);
        const __m512 p = _mm512_mul_ps(_mm512_loadu_ps(param + i), decay); /* x 1 when not decayed: exact */
        const __m512 mi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m + i), b1), _mm512_mul_ps(g, c1));
        const __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), b2), _mm512_mul_ps(c2, _mm512_mul_ps(g, g)));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        const __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        _mm512_storeu_ps(param + i, _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(step, mi), den)));
    }
    adamw_scalar(param + i, m + i, v + i, grad + i, n - i, a, decayed);
}
#endif

void adamw_update(float *param, float *m, float *v, const float *grad, int64_t n, const sl_adamw *a, int decayed) {
#ifdef SL_KERNELS_X86
    if (cpu_avx512()) {
        adamw_avx512(param, m, v, grad, n, a, decayed);
        return;
    }
#endif
    adamw_scalar(param, m, v, grad, n, a, decayed);
}

SL_MULTIVERSION static double sum_squares_block(const float *x, int64_t n) {
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += (double)x[i + j] * x[i + j];
    for (; i < n; i++) s[0] += (double)x[i] * x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

#define SQ_BLOCK (1 << 16)

typedef struct {
    const float *x;
    int64_t n;
    double *partial; /* per block */
} sum_squares_ctx;

static void sum_squares_task(void *arg, int task, int thread) {
    (void)thread;
    const sum_squares_ctx *c = arg;
    const int64_t i0 = (int64_t)task * SQ_BLOCK, n = c->n - i0 < SQ_BLOCK ? c->n - i0 : SQ_BLOCK;
    c->partial[task] = sum_squares_block(c->x + i0, n);
}

double sum_squares(const float *x, int64_t n, sl_pool *pool) {
    const int64_t blocks = (n + SQ_BLOCK - 1) / SQ_BLOCK;
    double on_stack[1024]; /* 67M values; more on the heap */
    double *partial = blocks <= 1024 ? on_stack : malloc((size_t)blocks * sizeof *partial);
    if (blocks <= 1 || !partial) return sum_squares_block(x, n);
    sum_squares_ctx c = {x, n, partial};
    sl_pool_run(pool, (int)blocks, sum_squares_task, &c);
    double s = 0;
    for (int64_t b = 0; b < blocks; b++) s += partial[b];
    if (partial != on_stack) free(partial);
    return s;
}

/* ---- cross-entropy ------------------------------------------------------------------------------ */

/* One row: the max in 8 lanes, then exp8(z - max) summed in 8 float lanes per block of 256 values and the
   blocks in double (32005 logits: no sum runs long in float). The loss is log(sum) - (z[y] - max). */
SL_MULTIVERSION static float crossentropy_row_mv(float *d, const float *z, int n, int y, float scale, int *argmax) {
    v8f mx8 = (v8f){0} - INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8f v = load8(z + i);
        mx8 = select8(v > mx8, v, mx8);
    }
    float mx = -INFINITY;
    for (int k = 0; k < 8; k++) mx = mx8[k] > mx ? mx8[k] : mx;
    for (; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    int best = 0;
    while (best < n - 1 && z[best] != mx) best++;
    if (argmax) *argmax = best;
    const float zy = z[y];
    double sum = 0;
    i = 0;
    while (i + 8 <= n) {
        v8f acc = {0};
        const int end = i + 256 < n ? i + 256 : n;
        for (; i + 8 <= end; i += 8) {
            const v8f e = exp8(load8(z + i) - mx);
            if (d) store8(d + i, e);
            acc += e;
        }
        sum += (double)hsum8(acc);
    }
    if (i < n) { /* the last n % 8 values, padded with lanes whose exp8 is 0 */
        float tail[8];
        for (int k = 0; k < 8; k++) tail[k] = i + k < n ? z[i + k] - mx : -100.0f;
        const v8f e = exp8(load8(tail));
        store8(tail, e);
        for (int k = 0; i + k < n; k++) {
            if (d) d[i + k] = tail[k];
            sum += tail[k];
        }
    }
    if (d) {
        const float k = (float)(scale / sum);
        for (i = 0; i + 8 <= n; i += 8) store8(d + i, load8(d + i) * k);
        for (; i < n; i++) d[i] *= k;
        d[y] -= scale;
    }
    return (float)(log(sum) - ((double)zy - mx));
}

float crossentropy_row(float *d, const float *z, int n, int y, float scale, int *argmax) {
    return crossentropy_row_mv(d, z, n, y, scale, argmax);
}
