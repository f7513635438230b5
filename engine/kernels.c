#include "kernels.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* The 32-byte vectors below only pass between static inline functions: no ABI is crossed. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* GCC/clang vector extension: 8 floats. On x86 without AVX it becomes two SSE registers, on wasm two
   v128; the portable SIMD of this file (the hand-tuned paths live behind simd.h). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

static inline float hsum8(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
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
static void matmul_task(void *arg, int task, int thread) {
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

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K,
                    sl_pool *pool) {
    /* Tiles of 32 output columns: a tile's weights (32 x K floats, 96 KiB for K = 768) stay in L2 while
       all M rows stream past them. */
    matmul_ctx c = {out, inp, weight, bias, M, N, K, 32};
    int n_tasks = (N + c.n_tile - 1) / c.n_tile;
    sl_pool_run(pool, n_tasks, matmul_task, &c);
}

/* ---- elementwise ------------------------------------------------------------------------------- */

void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int C,
                       float eps) {
    for (int m = 0; m < M; m++) {
        const float *x = inp + (size_t)m * C;
        float *y = out + (size_t)m * C;
        double sum = 0;
        for (int i = 0; i < C; i++) sum += x[i];
        float mean = (float)(sum / C);
        double var = 0;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mean;
            var += (double)d * d;
        }
        float rstd = 1.0f / sqrtf((float)(var / C) + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
    }
}

void gelu_forward(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
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
    float *out;
    const float *q, *k, *v;
    const uint8_t *key_mask;
    int B, T, C, NH;
    float *scratch;
} attention_ctx;

/* One task = one (batch row, head): for every query, scores against the real keys, softmax, weighted
   sum of values. Only a row of T scores is ever materialised. */
static void attention_task(void *arg, int task, int thread) {
    const attention_ctx *c = arg;
    const int T = c->T, C = c->C, NH = c->NH, D = C / NH;
    const int b = task / NH, h = task % NH;
    const float scale = 1.0f / sqrtf((float)D);
    float *s = c->scratch + (size_t)thread * T;
    const uint8_t *mask = c->key_mask + (size_t)b * T;
    const size_t base = (size_t)b * T * C + (size_t)h * D;
    for (int t = 0; t < T; t++) {
        const float *qt = c->q + base + (size_t)t * C;
        float mx = -INFINITY;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            const float *ku = c->k + base + (size_t)u * C;
            float dot = 0;
            for (int d = 0; d < D; d++) dot += qt[d] * ku[d];
            s[u] = dot * scale;
            mx = s[u] > mx ? s[u] : mx;
        }
        float *ot = c->out + base + (size_t)t * C;
        memset(ot, 0, (size_t)D * sizeof *ot);
        if (mx == -INFINITY) continue; /* no real key at all: a row of padding only */
        float sum = 0;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            s[u] = expf(s[u] - mx);
            sum += s[u];
        }
        const float inv = 1.0f / sum;
        for (int u = 0; u < T; u++) {
            if (!mask[u]) continue;
            const float p = s[u] * inv;
            const float *vu = c->v + base + (size_t)u * C;
            for (int d = 0; d < D; d++) ot[d] += p * vu[d];
        }
    }
}

void attention_forward(float *out, const float *q, const float *k, const float *v, const uint8_t *key_mask,
                       int B, int T, int C, int NH, float *scratch, sl_pool *pool) {
    attention_ctx c = {out, q, k, v, key_mask, B, T, C, NH, scratch};
    sl_pool_run(pool, B * NH, attention_task, &c);
}
