/* The vectorised kernels against straightforward double-precision references: GELU and its derivative
   (their erf and exp approximations) over a dense sweep, and attention (the inference path and the
   training path that saves probabilities) on random q, k, v with padding keys, with and without threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm_bf16.h"
#include "kernels.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rand_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}
static float rand_uniform(void) { /* [-1, 1) */
    return (float)((rand_u32() >> 8) / 16777216.0) * 2.0f - 1.0f;
}

/* ---- GELU -------------------------------------------------------------------------------------- */

static double gelu_ref(double x) { return 0.5 * x * (1.0 + erf(x * M_SQRT1_2)); }
static double gelu_grad_ref(double x) {
    return 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}

/* Every float of [-10, 10] at a stride (and n not a multiple of 8, for the tail). erf may be off by 2e-7
   absolute (about 2 ulp of its values near 1), which GELU scales by x / 2; the products add an ulp. */
static void test_gelu(void) {
    const uint32_t stride = 997, top = 0x41200000u; /* 10.0f */
    const int64_t n = 2 * (int64_t)(top / stride) + 3;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    float *g = malloc((size_t)n * sizeof *g);
    if (!x || !y || !g) {
        CHECK(0, "no memory");
        return;
    }
    int64_t i = 0;
    for (uint32_t u = 0; u < top && i + 1 < n; u += stride) {
        float f;
        memcpy(&f, &u, sizeof f);
        x[i++] = f;
        x[i++] = -f;
    }
    while (i < n) x[i++] = 10.0f;
    memcpy(y, x, (size_t)n * sizeof *y);
    gelu_forward(y, y, n, NULL); /* in place, as the model does it */
    for (i = 0; i < n; i++) g[i] = 1.0f;
    gelu_backward(g, x, g, n, NULL);
    double worst = 0, worst_grad = 0;
    for (i = 0; i < n; i++) {
        const double ref = gelu_ref(x[i]);
        const double err = fabs(y[i] - ref) / (0.5 * fabs(x[i]) * 2e-7 + fabs(ref) * 1.2e-7 + 1e-38);
        const double gref = gelu_grad_ref(x[i]), gerr = fabs(g[i] - gref) / (2.5e-7 + fabs(gref) * 2.5e-7);
        worst = err > worst ? err : worst;
        worst_grad = gerr > worst_grad ? gerr : worst_grad;
    }
    printf("GELU: worst error %.2f of its bound, derivative %.2f\n", worst, worst_grad);
    CHECK(worst <= 1, "GELU error %.3g of its bound", worst);
    CHECK(worst_grad <= 1, "GELU derivative error %.3g of its bound", worst_grad);
    const float special[3] = {0.0f, INFINITY, -50.0f};
    float out[3];
    gelu_forward(out, special, 3, NULL);
    CHECK(out[0] == 0 && out[1] == INFINITY && out[2] == 0, "GELU(0, inf, -50) = %g %g %g", out[0], out[1],
          out[2]);
    free(x);
    free(y);
    free(g);
}

/* ---- attention --------------------------------------------------------------------------------- */

/* out (B,T,C) and outabs (B,T,C) = sum of p |v|, the scale of the rounding errors an output may carry. */
static void attention_ref(double *out, double *outabs, const float *q, const float *k, const float *v,
                          const uint8_t *mask, int B, int T, int C, int NH) {
    const int D = C / NH;
    double *p = malloc((size_t)T * sizeof *p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * C + h * D;
                double mx = -INFINITY, sum = 0;
                for (int u = 0; u < T; u++) {
                    const float *ku = k + ((size_t)b * T + u) * C + h * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) s += (double)qt[d] * ku[d];
                    p[u] = s / sqrt(D);
                    if (mask[b * T + u] && p[u] > mx) mx = p[u];
                }
                for (int u = 0; u < T; u++) sum += p[u] = mask[b * T + u] ? exp(p[u] - mx) : 0;
                const size_t row = ((size_t)b * T + t) * C + (size_t)h * D;
                double *o = out + row, *oa = outabs + row;
                for (int d = 0; d < D; d++) {
                    o[d] = oa[d] = 0;
                    for (int u = 0; u < T; u++) {
                        const double w = sum > 0 ? p[u] / sum : 0;
                        const double vu = v[((size_t)b * T + u) * C + (size_t)h * D + d];
                        o[d] += w * vu;
                        oa[d] += w * fabs(vu);
                    }
                }
            }
    free(p);
}

/* Row 0 of the batch is all real tokens; row 1 has every fifth key and the last quarter padded, or (with
   all_pad) no real token at all, whose outputs must be 0. */
static void test_attention_case(int T, int NH, int D, int all_pad, sl_pool *pool3) {
    const int B = 2, C = NH * D;
    const size_t n = (size_t)B * T * C;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *out = malloc(n * sizeof *out), *out3 = malloc(n * sizeof *out3), *outp = malloc(n * sizeof *outp);
    float *probs = malloc((size_t)B * NH * T * T * sizeof *probs);
    float *scratch = malloc(3 * (size_t)T * sizeof *scratch);
    double *ref = malloc(n * sizeof *ref), *refabs = malloc(n * sizeof *refabs);
    uint8_t *mask = malloc((size_t)B * T);
    if (!q || !k || !v || !out || !out3 || !outp || !probs || !scratch || !ref || !refabs || !mask) {
        CHECK(0, "no memory");
        return;
    }
    for (size_t i = 0; i < n; i++) { /* scores of standard deviation 3: peaked softmax rows */
        q[i] = 3 * rand_uniform();
        k[i] = 3 * rand_uniform();
        v[i] = rand_uniform();
    }
    for (int t = 0; t < T; t++) {
        mask[t] = 1;
        mask[T + t] = !all_pad && t % 5 != 4 && t < T - T / 4;
    }
    attention_ref(ref, refabs, q, k, v, mask, B, T, C, NH);
    attention_forward(out, NULL, q, k, v, mask, B, T, C, NH, NULL, scratch, NULL);
    attention_forward(out3, NULL, q, k, v, mask, B, T, C, NH, NULL, scratch, pool3);
    attention_forward(outp, probs, q, k, v, mask, B, T, C, NH, NULL, scratch, pool3); /* the training path */
    double worst = 0, worst_p = 0;
    int differ = 0, nonzero_pad = 0;
    for (size_t i = 0; i < n; i++) {
        const double scale = refabs[i] > 0 ? refabs[i] : 1;
        const double e = fabs(out[i] - ref[i]) / scale, ep = fabs(outp[i] - ref[i]) / scale;
        worst = e > worst ? e : worst;
        worst_p = ep > worst_p ? ep : worst_p;
        differ += out3[i] != out[i];
        nonzero_pad += all_pad && i >= n / 2 && out[i] != 0;
    }
    printf("attention T=%d NH=%d D=%d%s: max error %.3g (training path %.3g) of sum p|v|\n", T, NH, D,
           all_pad ? " (row 1 all padding)" : "", worst, worst_p);
    /* the old per-pair code errs by up to 1.6e-6 here: the rounding of the scores, which exp amplifies */
    CHECK(worst <= 4e-6, "T=%d NH=%d D=%d: attention error %.3g", T, NH, D, worst);
    CHECK(worst_p <= 4e-6, "T=%d NH=%d D=%d: training-path attention error %.3g", T, NH, D, worst_p);
    CHECK(differ == 0, "T=%d NH=%d D=%d: %d outputs differ with 3 threads", T, NH, D, differ);
    CHECK(nonzero_pad == 0, "T=%d: %d outputs of a row without real keys are not 0", T, nonzero_pad);
    float *buffers[] = {q, k, v, out, out3, outp, probs, scratch};
    for (int i = 0; i < 8; i++) free(buffers[i]);
    free(ref);
    free(refabs);
    free(mask);
}

static void test_attention(void) {
    sl_pool *pool3 = sl_pool_create(3);
    CHECK(pool3 != NULL, "cannot start 3 threads");
    const int Ts[] = {1, 7, 33, 128};
    for (int i = 0; i < 4; i++) test_attention_case(Ts[i], 4, 16, 0, pool3);
    test_attention_case(7, 4, 16, 1, pool3);
    test_attention_case(130, 12, 64, 0, pool3); /* the base model's heads, 3 key chunks, the last partial */
    test_attention_case(33, 2, 24, 0, pool3);   /* a head size the inference path leaves to the general one */
    sl_pool_free(pool3);
}

/* ---- dropout and the attention backward pass --------------------------------------------------- */

/* The vector mask equals sl_dropout_scale element by element (odd n, an offset, several rates). */
static void test_dropout(void) {
    const int64_t n = 4099;
    float *x = malloc(n * sizeof *x);
    const float ps[3] = {0.1f, 0.5f, 0.9f};
    int differ = 0;
    double dropped = 0;
    for (int k = 0; k < 3; k++) {
        const sl_dropout d = {ps[k], 0x1234567ull + (uint64_t)k, 1000 * (uint64_t)k};
        for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
        dropout_forward(x, n, &d, NULL);
        for (int64_t i = 0; i < n; i++) {
            differ += x[i] != sl_dropout_scale(&d, (uint64_t)i);
            dropped += x[i] == 0;
        }
    }
    printf("dropout: %d of %lld multipliers differ from sl_dropout_scale, %.3f dropped (0.5 expected)\n", differ,
           (long long)(3 * n), dropped / (3 * n));
    CHECK(differ == 0, "dropout: %d multipliers differ", differ);
    CHECK(fabs(dropped / (3 * n) - 0.5) < 0.02, "dropout: %.3f dropped", dropped / (3 * n));
    free(x);
}

/* Forward (with dropout) and backward in double: out, and dq, dk, dv from dout. */
static void attention_grad_ref(double *out, double *dq, double *dk, double *dv, const float *q, const float *k,
                               const float *v, const float *dout, const uint8_t *mask, int B, int T, int C, int NH,
                               const sl_dropout *drop) {
    const int D = C / NH;
    const double scale = 1 / sqrt(D);
    double *p = malloc((size_t)T * T * sizeof *p), *dp = malloc((size_t)T * sizeof *dp);
    const size_t n = (size_t)B * T * C;
    for (size_t i = 0; i < n; i++) out[i] = dq[i] = dk[i] = dv[i] = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
#define AT(x, t, d) x[((size_t)b * T + (t)) * C + (size_t)h * D + (d)]
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int u = 0; u < T; u++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) s += (double)AT(q, t, d) * AT(k, u, d);
                    p[t * T + u] = s * scale;
                    if (mask[b * T + u] && p[t * T + u] > mx) mx = p[t * T + u];
                }
                for (int u = 0; u < T; u++) sum += p[t * T + u] = mask[b * T + u] ? exp(p[t * T + u] - mx) : 0;
                for (int u = 0; u < T; u++) p[t * T + u] = sum > 0 ? p[t * T + u] / sum : 0;
            }
            const uint64_t first = ((uint64_t)b * NH + h) * T * T;
            for (int t = 0; t < T; t++) {
                double rowdot = 0;
                for (int u = 0; u < T; u++) {
                    const double keep = sl_dropout_scale(drop, first + (uint64_t)t * T + u);
                    double dpd = 0;
                    for (int d = 0; d < D; d++) {
                        AT(out, t, d) += p[t * T + u] * keep * AT(v, u, d);
                        AT(dv, u, d) += p[t * T + u] * keep * AT(dout, t, d);
                        dpd += (double)AT(dout, t, d) * AT(v, u, d);
                    }
                    dp[u] = dpd * keep;
                    rowdot += p[t * T + u] * dp[u];
                }
                for (int u = 0; u < T; u++) {
                    const double ds = p[t * T + u] * (dp[u] - rowdot) * scale;
                    for (int d = 0; d < D; d++) {
                        AT(dq, t, d) += ds * AT(k, u, d);
                        AT(dk, u, d) += ds * AT(q, t, d);
                    }
                }
            }
#undef AT
        }
    free(p);
    free(dp);
}

/* The training path against the double reference, with attention dropout and padding keys (row 1: every
   fifth key and the last quarter), with 1 and 2 threads (which must agree bit for bit). Errors are
   measured against the largest magnitude of each gradient. */
static void test_attention_backward_case(int T, int NH, int D, sl_pool *pool2) {
    const int B = 2, C = NH * D;
    const size_t n = (size_t)B * T * C, np = (size_t)B * NH * T * T;
    float *f = malloc((11 * n + 2 * np + 2 * (size_t)T) * sizeof *f);
    double *r = malloc(4 * n * sizeof *r);
    uint8_t *mask = malloc((size_t)B * T);
    float *q = f, *k = q + n, *v = k + n, *dout = v + n, *out = dout + n, *dq = out + n, *dk = dq + n, *dv = dk + n;
    float *dq2 = dv + n, *dk2 = dq2 + n, *dv2 = dk2 + n, *probs = dv2 + n, *probs2 = probs + np, *scratch = probs2 + np;
    for (size_t i = 0; i < n; i++) {
        q[i] = 2 * rand_uniform();
        k[i] = 2 * rand_uniform();
        v[i] = rand_uniform();
        dout[i] = rand_uniform();
    }
    for (int t = 0; t < T; t++) {
        mask[t] = 1;
        mask[T + t] = t % 5 != 4 && t < T - T / 4;
    }
    const sl_dropout drop = {0.2f, 0xabcdefull, 77};
    attention_grad_ref(r, r + n, r + 2 * n, r + 3 * n, q, k, v, dout, mask, B, T, C, NH, &drop);
    attention_forward(out, probs, q, k, v, mask, B, T, C, NH, &drop, scratch, NULL);
    attention_backward(dq, dk, dv, dout, probs, q, k, v, mask, B, T, C, NH, &drop, scratch, NULL);
    attention_forward(out, probs2, q, k, v, mask, B, T, C, NH, &drop, scratch, pool2);
    attention_backward(dq2, dk2, dv2, dout, probs2, q, k, v, mask, B, T, C, NH, &drop, scratch, pool2);
    const float *got[4] = {out, dq, dk, dv};
    const char *names[4] = {"out", "dq", "dk", "dv"};
    double worst = 0;
    for (int g = 0; g < 4; g++) {
        double scale = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(r[g * n + i]));
            diff = fmax(diff, fabs(got[g][i] - r[g * n + i]));
        }
        CHECK(diff <= 1e-5 * scale, "attention T=%d NH=%d D=%d: %s max error %.3g of %.3g", T, NH, D, names[g], diff,
              scale);
        worst = fmax(worst, diff / scale);
    }
    const int same = !memcmp(dq, dq2, n * sizeof *dq) && !memcmp(dk, dk2, n * sizeof *dk) &&
                     !memcmp(dv, dv2, n * sizeof *dv) && !memcmp(probs, probs2, np * sizeof *probs);
    printf("attention backward T=%d NH=%d D=%d, dropout 0.2: max error %.3g of the largest gradient\n", T, NH, D, worst);
    CHECK(same, "attention backward T=%d NH=%d D=%d: 1 and 2 threads differ", T, NH, D);
    free(f);
    free(r);
    free(mask);
}

static void test_attention_backward(void) {
    sl_pool *pool2 = sl_pool_create(2);
    CHECK(pool2 != NULL, "cannot start 2 threads");
    test_attention_backward_case(1, 2, 16, pool2);
    test_attention_backward_case(7, 3, 8, pool2);
    test_attention_backward_case(37, 2, 24, pool2);
    test_attention_backward_case(128, 4, 64, pool2);
    sl_pool_free(pool2);
}

/* ---- bf16 products ---------------------------------------------------------------------------- */

static double bf16_round(float x) { /* to nearest, ties to even (finite, normal x) */
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

/* One product of sl_gemm_bf16 against double sums: of the bf16-rounded operands (what the kernel computes,
   up to f32 rounding: |error| <= K 2^-23 sum |a b| (+ |c| 2^-24 for the accumulation into c)), and of the
   f32 operands (bf16's rounding: <= 2^-7 sum |a b|, about 2^-8 for each operand). 1 and 2 threads agree bit
   for bit. */
static void test_bf16_case(int form, int M, int N, int K, sl_pool *pool2) {
    /* the three forms of a Linear layer: out = inp W^T (+ bias), dinp += dout W, dW += dout^T inp */
    const size_t na = (size_t)M * K, nb = (size_t)N * K, nc = (size_t)M * N;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *bias = malloc((size_t)N * sizeof *bias);
    float *c1 = malloc(nc * sizeof *c1), *c2 = malloc(nc * sizeof *c2), *c0 = malloc(nc * sizeof *c0);
    for (size_t i = 0; i < na; i++) a[i] = rand_uniform();
    for (size_t i = 0; i < nb; i++) b[i] = rand_uniform();
    for (int i = 0; i < N; i++) bias[i] = rand_uniform();
    for (size_t i = 0; i < nc; i++) c0[i] = form ? rand_uniform() : 0;
    /* a's and b's strides (m, k) and (k, n) in each form; a stored (M,K) or (K,M), b (N,K) or (K,N) */
    size_t a_m, a_k, b_k, b_n;
    if (form == 0) a_m = K, a_k = 1, b_k = 1, b_n = K;
    else if (form == 1) a_m = K, a_k = 1, b_k = N, b_n = 1;
    else a_m = 1, a_k = M, b_k = N, b_n = 1;
    const float *bs = form == 0 ? bias : NULL;
    memcpy(c1, c0, nc * sizeof *c1);
    memcpy(c2, c0, nc * sizeof *c2);
    int ok1 = sl_gemm_bf16(c1, N, a, a_m, a_k, b, b_k, b_n, bs, M, N, K, form != 0, NULL);
    int ok2 = sl_gemm_bf16(c2, N, a, a_m, a_k, b, b_k, b_n, bs, M, N, K, form != 0, pool2);
    CHECK(ok1 && ok2, "sl_gemm_bf16 did not run");
    double worst_exact = 0, worst_f32 = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s16 = 0, s32 = 0, sabs = 0;
            for (int k = 0; k < K; k++) {
                const float x = a[m * a_m + k * a_k], y = b[k * b_k + n * b_n];
                s16 += bf16_round(x) * bf16_round(y);
                s32 += (double)x * y;
                sabs += fabs((double)x * y);
            }
            const double base = c0[(size_t)m * N + n] + (bs ? bs[n] : 0), got = c1[(size_t)m * N + n];
            const double e16 = fabs(got - (base + s16)) / (K * 0x1p-23 * sabs + fabs(base) * 0x1p-23 + 1e-30);
            const double e32 = fabs(got - (base + s32)) / (0x1p-7 * sabs + fabs(base) * 0x1p-23 + 1e-30);
            worst_exact = fmax(worst_exact, e16);
            worst_f32 = fmax(worst_f32, e32);
        }
    const int same = !memcmp(c1, c2, nc * sizeof *c1);
    const char *names[3] = {"out = inp W^T + b", "dinp += dout W", "dW += dout^T inp"};
    printf("bf16 %-17s M=%d N=%d K=%d: error %.2f of the bound with bf16 operands, %.3f of bf16's bound\n",
           names[form], M, N, K, worst_exact, worst_f32);
    CHECK(worst_exact <= 1, "bf16 form %d %dx%dx%d: %.3g of the bound", form, M, N, K, worst_exact);
    CHECK(worst_f32 <= 1, "bf16 form %d %dx%dx%d: %.3g of bf16's bound", form, M, N, K, worst_f32);
    CHECK(same, "bf16 form %d %dx%dx%d: 1 and 2 threads differ", form, M, N, K);
    free(a);
    free(b);
    free(bias);
    free(c0);
    free(c1);
    free(c2);
}

/* Odd sizes (partial row panels, column panels, an odd K, K over several blocks of pairs), each form. */
static void test_bf16(void) {
    if (!sl_gemm_bf16_available()) {
        printf("bf16 products: this processor has no AVX-512 BF16 (the f32 products are used)\n");
        return;
    }
    sl_pool *pool2 = sl_pool_create(2);
    /* K = 2085: 1,043 pairs, three of the AMX kernel's blocks of 512 */
    const int sizes[][3] = {{1, 1, 1},     {7, 33, 5},    {17, 45, 300},
                            {64, 96, 256}, {37, 70, 517}, {33, 40, 2085}};
    const char *kernels[] = {"avx512", "amx"};
    for (int k = 0; k < 2; k++) {
        if (sl_gemm_bf16_select(kernels[k])) {
            printf("bf16 products: this processor does not run the '%s' kernel\n", kernels[k]);
            continue;
        }
        CHECK(!strcmp(sl_gemm_bf16_kernel(), kernels[k]), "bf16 kernel %s chosen, %s in use", kernels[k],
              sl_gemm_bf16_kernel());
        printf("bf16 products on the '%s' kernel:\n", kernels[k]);
        for (int form = 0; form < 3; form++)
            for (int i = 0; i < 6; i++) test_bf16_case(form, sizes[i][0], sizes[i][1], sizes[i][2], pool2);
    }
    sl_gemm_bf16_select(NULL);
    sl_pool_free(pool2);
}

/* ---- layer norm backward ----------------------------------------------------------------------- */

/* Against double sums (C = 37: the scalar tail; 256: the model's), the gradients accumulated (+=). */
static void test_layernorm_backward_case(int M, int C) {
    const size_t n = (size_t)M * C;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *dx = malloc(n * sizeof *dx),
          *y = malloc(n * sizeof *y), *w = malloc(C * sizeof *w), *bias = malloc(C * sizeof *bias),
          *dw = malloc(C * sizeof *dw), *db = malloc(C * sizeof *db), *mean = malloc(M * sizeof *mean),
          *rstd = malloc(M * sizeof *rstd);
    for (size_t i = 0; i < n; i++) x[i] = 3 * rand_uniform() + 1, dy[i] = rand_uniform(), dx[i] = rand_uniform();
    for (int i = 0; i < C; i++) w[i] = 1 + 0.5f * rand_uniform(), bias[i] = rand_uniform(), dw[i] = db[i] = 0.25f;
    double *rdx = malloc(n * sizeof *rdx), *rdw = calloc(C, sizeof *rdw), *rdb = calloc(C, sizeof *rdb);
    layernorm_forward(y, mean, rstd, x, w, bias, M, C, 1e-5f, NULL);
    for (int m = 0; m < M; m++) {
        double mu = 0, var = 0, a = 0, b = 0;
        for (int i = 0; i < C; i++) mu += x[m * C + i];
        mu /= C;
        for (int i = 0; i < C; i++) var += (x[m * C + i] - mu) * (x[m * C + i] - mu);
        const double rs = 1 / sqrt(var / C + 1e-5);
        for (int i = 0; i < C; i++) {
            const double norm = (x[m * C + i] - mu) * rs, dnorm = (double)w[i] * dy[m * C + i];
            a += dnorm / C;
            b += dnorm * norm / C;
        }
        for (int i = 0; i < C; i++) {
            const double norm = (x[m * C + i] - mu) * rs, dnorm = (double)w[i] * dy[m * C + i];
            rdx[m * C + i] = dx[m * C + i] + (dnorm - a - norm * b) * rs;
            rdw[i] += norm * dy[m * C + i];
            rdb[i] += dy[m * C + i];
        }
    }
    layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, M, C);
    double ex = 0, ew = 0;
    for (size_t i = 0; i < n; i++) ex = fmax(ex, fabs(dx[i] - rdx[i]) / (1 + fabs(rdx[i])));
    for (int i = 0; i < C; i++)
        ew = fmax(ew, fmax(fabs(dw[i] - 0.25 - rdw[i]), fabs(db[i] - 0.25 - rdb[i])) / (M + fabs(rdw[i])));
    printf("layernorm backward M=%d C=%d: dinp error %.2g, dweight/dbias error %.2g (relative)\n", M, C, ex, ew);
    CHECK(ex <= 1e-5 && ew <= 1e-6, "layernorm backward M=%d C=%d: %.3g %.3g", M, C, ex, ew);
    float *fb[] = {x, dy, dx, y, w, bias, dw, db, mean, rstd};
    for (int i = 0; i < 10; i++) free(fb[i]);
    free(rdx);
    free(rdw);
    free(rdb);
}

/* ---- matmul forward and backward ---------------------------------------------------------------- */

/* matmul_forward and matmul_backward (dinp, dweight, dbias accumulated) against double sums, odd sizes,
   without a pool, with 2 threads, and with 2 threads in bf16 (where the processor has it). Errors are
   relative to the sum of |products| of each output: f32 within 1e-5 (a sum of up to 700 products in
   blocks), bf16 within 2^-7. */
static void test_matmul_case(int M, int N, int K, sl_pool *pool2) {
    const size_t nx = (size_t)M * K, nw = (size_t)N * K, ny = (size_t)M * N;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *bias = malloc(N * sizeof *bias),
          *dy = malloc(ny * sizeof *dy), *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx),
          *dw = malloc(nw * sizeof *dw), *db = malloc(N * sizeof *db);
    double *ry = malloc(ny * sizeof *ry), *ay = malloc(ny * sizeof *ay), *rdx = malloc(nx * sizeof *rdx),
           *adx = malloc(nx * sizeof *adx), *rdw = malloc(nw * sizeof *rdw), *adw = malloc(nw * sizeof *adw);
    for (size_t i = 0; i < nx; i++) x[i] = rand_uniform();
    for (size_t i = 0; i < nw; i++) w[i] = rand_uniform();
    for (size_t i = 0; i < ny; i++) dy[i] = rand_uniform();
    for (int i = 0; i < N; i++) bias[i] = rand_uniform();
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias[n], a = fabs(bias[n]);
            for (int k = 0; k < K; k++) s += (double)x[m * K + k] * w[n * K + k], a += fabs((double)x[m * K + k] * w[n * K + k]);
            ry[m * N + n] = s, ay[m * N + n] = a;
        }
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            double s = 0.5, a = 0.5;
            for (int n = 0; n < N; n++) s += (double)dy[m * N + n] * w[n * K + k], a += fabs((double)dy[m * N + n] * w[n * K + k]);
            rdx[m * K + k] = s, adx[m * K + k] = a;
        }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double s = 0.5, a = 0.5;
            for (int m = 0; m < M; m++) s += (double)dy[m * N + n] * x[m * K + k], a += fabs((double)dy[m * N + n] * x[m * K + k]);
            rdw[n * K + k] = s, adw[n * K + k] = a;
        }
    for (int run = 0; run < 3; run++) {
        sl_pool *pool = run == 0 ? NULL : pool2;
        if (run == 2) {
            if (!sl_gemm_bf16_available()) break;
            sl_pool_set_precision(pool2, SL_PRECISION_BF16);
        }
        for (size_t i = 0; i < nx; i++) dx[i] = 0.5f;
        for (size_t i = 0; i < nw; i++) dw[i] = 0.5f;
        for (int i = 0; i < N; i++) db[i] = 0.5f;
        matmul_forward(y, x, w, bias, M, N, K, pool);
        matmul_backward(dx, dw, db, dy, x, w, M, N, K, pool);
        double ey = 0, ex = 0, ew = 0, eb = 0;
        for (size_t i = 0; i < ny; i++) ey = fmax(ey, fabs(y[i] - ry[i]) / ay[i]);
        for (size_t i = 0; i < nx; i++) ex = fmax(ex, fabs(dx[i] - rdx[i]) / adx[i]);
        for (size_t i = 0; i < nw; i++) ew = fmax(ew, fabs(dw[i] - rdw[i]) / adw[i]);
        for (int n = 0; n < N; n++) {
            double s = 0.5, a = 0.5;
            for (int m = 0; m < M; m++) s += dy[m * N + n], a += fabs(dy[m * N + n]);
            eb = fmax(eb, fabs(db[n] - s) / a);
        }
        const double tol = run == 2 ? 0x1p-7 : 1e-5;
        const char *how[3] = {"1 thread", "2 threads", "2 threads bf16"};
        printf("matmul M=%d N=%d K=%d %s: errors out %.2g dinp %.2g dweight %.2g dbias %.2g\n", M, N, K, how[run], ey,
               ex, ew, eb);
        CHECK(ey <= tol && ex <= tol && ew <= tol && eb <= 1e-6, "matmul M=%d N=%d K=%d %s: %.3g %.3g %.3g %.3g", M, N,
              K, how[run], ey, ex, ew, eb);
    }
    sl_pool_set_precision(pool2, SL_PRECISION_F32);
    float *fb[] = {x, w, bias, dy, y, dx, dw, db};
    for (int i = 0; i < 8; i++) free(fb[i]);
    double *db2[] = {ry, ay, rdx, adx, rdw, adw};
    for (int i = 0; i < 6; i++) free(db2[i]);
}

static void test_matmul(void) {
    sl_pool *pool2 = sl_pool_create(2);
    test_matmul_case(3, 5, 7, pool2);
    test_matmul_case(37, 45, 300, pool2);
    test_matmul_case(130, 700, 66, pool2); /* dinp sums 700 products: blocks of the f32 kernel */
    sl_pool_free(pool2);
}

/* ---- AdamW and the gradient norm -------------------------------------------------------------- */

/* adamw_update equals torch's float32 formula written plainly, bit for bit (n odd: the vector tail). */
static void test_adamw(void) {
    const int64_t n = 1000 + 13;
    float *p = malloc(n * sizeof *p), *m = malloc(n * sizeof *m), *v = malloc(n * sizeof *v),
          *g = malloc(n * sizeof *g), *rp = malloc(n * sizeof *rp), *rm = malloc(n * sizeof *rm),
          *rv = malloc(n * sizeof *rv);
    for (int64_t i = 0; i < n; i++) {
        rp[i] = p[i] = rand_uniform();
        rm[i] = m[i] = 0.01f * rand_uniform();
        rv[i] = v[i] = 1e-4f * fabsf(rand_uniform());
        g[i] = 0.1f * rand_uniform();
    }
    const sl_adamw a = {.clip = 0.75f, .decay = 0.99999f, .b1 = 0.9f, .one_minus_b1 = 0.1f, .b2 = 0.999f,
                        .one_minus_b2 = 0.001f, .step_size = -1e-3f, .bc2_sqrt = 0.0447f, .eps = 1e-8f};
    int differ = 0;
    for (int decayed = 0; decayed <= 1; decayed++) {
        adamw_update(p, m, v, g, n, &a, decayed);
        for (int64_t i = 0; i < n; i++) {
            volatile float gi = g[i] * a.clip, pi = rp[i];
            if (decayed) pi = pi * a.decay;
            volatile float t1 = rm[i] * a.b1, t2 = gi * a.one_minus_b1, mi = t1 + t2;
            volatile float gg = gi * gi, t3 = rv[i] * a.b2, t4 = a.one_minus_b2 * gg, vi = t3 + t4;
            volatile float num = a.step_size * mi, den = sqrtf(vi) / a.bc2_sqrt + a.eps;
            rm[i] = mi, rv[i] = vi, rp[i] = pi + num / den;
            differ += p[i] != rp[i] || m[i] != rm[i] || v[i] != rv[i];
        }
    }
    CHECK(differ == 0, "AdamW: %d of %lld elements differ from the plain formula", differ, (long long)n);
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)p[i] * p[i];
    const double s = sum_squares(p, n, NULL);
    CHECK(fabs(s - ss) <= 1e-12 * ss, "sum of squares %.17g vs %.17g", s, ss);
    printf("AdamW: %lld elements, %d differ from the plain formula\n", (long long)n, differ);
    /* the sum of squares over several blocks: 1 and 2 threads the same, and the double sum */
    const int64_t big = 3 * 65536 + 5;
    float *x = malloc(big * sizeof *x);
    double ref = 0;
    for (int64_t i = 0; i < big; i++) x[i] = rand_uniform(), ref += (double)x[i] * x[i];
    sl_pool *pool2 = sl_pool_create(2);
    const double s1 = sum_squares(x, big, NULL), s2 = sum_squares(x, big, pool2);
    CHECK(s1 == s2 && fabs(s1 - ref) <= 1e-12 * ref, "sum of squares: %.17g (2 threads %.17g), double %.17g", s1, s2,
          ref);
    sl_pool_free(pool2);
    free(x);
    float *buffers[] = {p, m, v, g, rp, rm, rv};
    for (int i = 0; i < 7; i++) free(buffers[i]);
}

/* The element-wise kernels split over a pool (spans of 16384 values, rows for layernorm) give the inline
   results bit for bit, the dropout masks included (each span hashes its elements' indices in the array). */
static void test_elementwise_pool(void) {
    const int64_t n = 3 * 16384 + 4099;
    const int C = 96, M = (int)(n / C);
    sl_pool *pool = sl_pool_create(2);
    float *x = malloc((size_t)n * sizeof *x), *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    float *w = malloc((size_t)C * sizeof *w), *bias = malloc((size_t)C * sizeof *bias);
    float *m1 = malloc((size_t)M * sizeof *m1), *m2 = malloc((size_t)M * sizeof *m2), *r1 = malloc((size_t)M * sizeof *r1),
          *r2 = malloc((size_t)M * sizeof *r2);
    uint64_t h = 7;
    for (int64_t i = 0; i < n; i++) {
        h = sl_hash64(h + 1);
        x[i] = (float)((double)(h >> 11) / 9007199254740992.0 * 8 - 4);
    }
    for (int i = 0; i < C; i++) w[i] = 1.0f + 0.01f * i, bias[i] = 0.1f * (i % 7);
    const sl_dropout d = {0.1f, 99, 12345};
    int same = 1;
    for (int op = 0; op < 5; op++) {
        memcpy(a, x, (size_t)n * sizeof *a);
        memcpy(b, x, (size_t)n * sizeof *b);
        float *outs[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            sl_pool *p = k ? pool : NULL;
            float *o = outs[k];
            switch (op) {
            case 0: dropout_forward(o, n, &d, p); break;
            case 1: gelu_forward(o, x, n, p); break;
            case 2: gelu_backward(o, x, o, n, p); break;
            case 3: residual_forward(o, x, n, p); break;
            case 4: layernorm_forward(o, k ? m2 : m1, k ? r2 : r1, x, w, bias, M, C, 1e-5f, p); break;
            }
        }
        same &= !memcmp(a, b, (size_t)n * sizeof *a);
        if (op == 4) same &= !memcmp(m1, m2, (size_t)M * sizeof *m1) && !memcmp(r1, r2, (size_t)M * sizeof *r1);
        if (op == 0) /* element i kept or dropped as sl_dropout_scale says */
            for (int64_t i = 0; i < n; i += 997) same &= a[i] == x[i] * sl_dropout_scale(&d, (uint64_t)i);
    }
    CHECK(same, "element-wise kernels over 2 threads differ from the inline ones");
    free(x), free(a), free(b), free(w), free(bias), free(m1), free(m2), free(r1), free(r2);
    sl_pool_free(pool);
}

int main(void) {
    test_gelu();
    test_attention();
    test_dropout();
    test_attention_backward();
    test_layernorm_backward_case(5, 37);
    test_layernorm_backward_case(33, 256);
    test_matmul();
    test_adamw();
    test_bf16();
    test_elementwise_pool();
    return check_report("test_kernels");
}
