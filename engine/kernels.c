#include "kernels.h"

#include <math.h>
#include <string.h>

#ifdef SL_USE_BLAS
#include <cblas.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* The 32-byte vectors below only pass between static inline functions: no ABI is crossed. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* GCC/clang vector extension: 8 floats. On x86 without AVX it becomes two SSE registers, on wasm two
   v128: the portable SIMD of this file. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

static inline float hsum8(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* On x86-64 the hot loops are compiled three times (baseline SSE2, x86-64-v3 = AVX2+FMA, x86-64-v4 = AVX-512) and
   the loader picks the best one for the processor at run time (function multi-versioning), so one portable
   binary runs at the machine's speed. Elsewhere (wasm) they are compiled once. */
#if defined(__x86_64__) && defined(__ELF__) && !defined(__SANITIZE_ADDRESS__)
#define SL_MULTIVERSION __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SL_MULTIVERSION
#endif

/* ---- dropout ----------------------------------------------------------------------------------- */

void dropout_forward(float *x, int64_t n, const sl_dropout *d) {
    if (!d || d->p <= 0) return;
    for (int64_t i = 0; i < n; i++) x[i] *= sl_dropout_scale(d, (uint64_t)i);
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
/* Native builds hand the large f32 products to OpenBLAS (about ten times our portable kernel here); its
   own threads follow the pool's size. The setting is global to OpenBLAS, so it is remembered here. */
static void blas_threads(sl_pool *pool) {
    static int current = -1;
    int n = sl_pool_n_threads(pool);
    if (n != current) openblas_set_num_threads(current = n);
}
#endif

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K,
                    sl_pool *pool) {
#ifdef SL_USE_BLAS
    if ((size_t)M * N * K >= 32768) {
        blas_threads(pool);
        if (bias)
            for (int m = 0; m < M; m++) memcpy(out + (size_t)m * N, bias, (size_t)N * sizeof *out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, weight, K, bias ? 1.0f : 0.0f,
                    out, N);
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

SL_MULTIVERSION static void accumulate_task(void *arg, int task, int thread) {
    (void)thread;
    const accumulate_ctx *x = arg;
    const int K = x->K, k0 = task * STRIP;
    if (k0 + STRIP <= K) {
        for (int r0 = 0; r0 < x->R; r0 += 4) {
            const int rr = x->R - r0 < 4 ? x->R - r0 : 4;
            v8f acc[4][2] = {{{0}}};
            for (int j = 0; j < x->J; j++) {
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
    } else { /* the last, partial strip */
        for (int r = 0; r < x->R; r++)
            for (int k = k0; k < K; k++) {
                float s = 0;
                for (int j = 0; j < x->J; j++) s += x->a[(size_t)r * x->a_r + (size_t)j * x->a_j] * x->b[(size_t)j * K + k];
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

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int M, int N, int K, sl_pool *pool) {
#ifdef SL_USE_BLAS
    blas_threads(pool);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, weight, K, 1.0f, dinp, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dweight, K);
#else
    if (dinp) accumulate(dinp, dout, (size_t)N, 1, weight, M, N, K, pool);  /* dinp[m,:] += dout[m,n] W[n,:] */
    accumulate(dweight, dout, 1, (size_t)N, inp, N, M, K, pool);            /* dW[n,:] += dout[m,n] inp[m,:] */
#endif
    if (dbias)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) dbias[n] += dout[(size_t)m * N + n];
}

/* ---- layer norm -------------------------------------------------------------------------------- */

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int M, int C, float eps) {
    for (int m = 0; m < M; m++) {
        const float *x = inp + (size_t)m * C;
        float *y = out + (size_t)m * C;
        double sum = 0;
        for (int i = 0; i < C; i++) sum += x[i];
        float mu = (float)(sum / C);
        double var = 0;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mu;
            var += (double)d * d;
        }
        float rs = 1.0f / sqrtf((float)(var / C) + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * weight[i] + bias[i];
        if (mean) mean[m] = mu;
        if (rstd) rstd[m] = rs;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int M, int C) {
    for (int m = 0; m < M; m++) {
        const float *dy = dout + (size_t)m * C, *x = inp + (size_t)m * C;
        float *dx = dinp + (size_t)m * C;
        const float mu = mean[m], rs = rstd[m];
        /* two reductions: mean of dnorm and of dnorm * norm */
        double dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mu) * rs, dnorm = weight[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += (double)dnorm * norm;
        }
        const float a = (float)(dnorm_mean / C), b = (float)(dnorm_norm_mean / C);
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mu) * rs, dnorm = weight[i] * dy[i];
            dbias[i] += dy[i];
            dweight[i] += norm * dy[i];
            dx[i] += (dnorm - a - norm * b) * rs;
        }
    }
}

/* ---- elementwise ------------------------------------------------------------------------------- */

void gelu_forward(float *out, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * (float)M_SQRT1_2));
}

void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)), pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}

void residual_forward(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
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

/* One task = one (batch row, head): for every query, scores against the real keys, softmax, weighted
   sum of values. Without saved probabilities only a row of T scores is ever materialised. */
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

void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const uint8_t *key_mask, int B, int T, int C, int NH, const sl_dropout *dropout,
                       float *scratch, sl_pool *pool) {
    attention_ctx c = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .key_mask = key_mask,
                       .B = B, .T = T, .C = C, .NH = NH, .dropout = dropout, .scratch = scratch};
    sl_pool_run(pool, B * NH, attention_task, &c);
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
    sl_pool_run(pool, B * NH, attention_backward_task, &c);
}
