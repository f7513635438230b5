/* The compute kernels of the encoder and their backward passes, f32, in the llm.c manner: free functions
   on raw float buffers, the shape of each buffer written beside it. Row-major; a Linear weight is (N, K)
   as PyTorch stores it. Backward functions accumulate (+=) into parameter gradients and into the gradient
   of their input unless said otherwise, so residual branches simply add. */
#ifndef SL_KERNELS_H
#define SL_KERNELS_H

#include <stdint.h>
#include "threads.h"

/* Dropout whose mask is a hash of (seed, element index): the same mask in forward and backward, whatever
   the thread count, with nothing stored. p = 0 disables it. */
typedef struct {
    float p;
    uint64_t seed;
    uint64_t offset; /* added to every element index: a process holding rows [r0, ...) of a data-parallel
                        batch passes r0 * elements-per-row, so its masks are the single-process run's */
} sl_dropout;

static inline uint64_t sl_hash64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The multiplier of element i: 0 (dropped) or 1 / (1 - p) (kept). */
static inline float sl_dropout_scale(const sl_dropout *d, uint64_t i) {
    if (!d || d->p <= 0) return 1.0f;
    uint64_t h = sl_hash64(d->seed ^ sl_hash64(i + d->offset + 0x9e3779b97f4a7c15ull));
    return (float)(h >> 40) < d->p * 16777216.0f ? 0.0f : 1.0f / (1.0f - d->p);
}

/* The element-wise kernels below take the pool to split long arrays over its threads (pool NULL: inline, as
   inside another kernel's task); each element is computed alike whatever the split. */

/* x (n) *= the dropout mask. Backward is the same operation on the gradient. */
void dropout_forward(float *x, int64_t n, const sl_dropout *d, sl_pool *pool);

/* The arithmetic of matmul_forward and matmul_backward, set on the pool they run with
   (sl_pool_set_precision): f32 (OpenBLAS in native builds, our kernels otherwise), or bf16 operands with f32
   sums (gemm_bf16.h) where the processor has AVX-512 BF16 and the product is large enough to gain by it; f32
   elsewhere. AUTO is not a pool's precision but a trainer's option (train.h: sl_trainer_precision). */
enum { SL_PRECISION_F32 = 0, SL_PRECISION_BF16 = 1, SL_PRECISION_AUTO = 2 };

/* out (M,N) = inp (M,K) . weight (N,K)^T + bias (N) (bias may be NULL). Threads split the output. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K,
                    sl_pool *pool);
/* dinp (M,K) += dout (M,N) . weight (N,K);  dweight (N,K) += dout^T . inp (M,K);  dbias (N) += sum of dout
   rows. dinp and dbias may be NULL. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int M, int N, int K, sl_pool *pool);

/* out (M,C) = (inp - mean) * rstd * weight + bias, per row; mean, rstd (M) are saved when not NULL.
   out may equal inp. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int M, int C, float eps, sl_pool *pool);
/* dinp (M,C) +=, dweight (C) +=, dbias (C) += from dout (M,C), the forward input and saved mean/rstd. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int M, int C);

/* out (n) = inp * Phi(inp), the exact (erf) GELU; out may equal inp. */
void gelu_forward(float *out, const float *inp, int64_t n, sl_pool *pool);
/* in place over rows x cols of a row-major block of row stride ld, on the calling thread */
void gelu_block(float *x, size_t ld, int rows, int cols);
/* dinp (n) = dout * GELU'(inp) (overwrites dinp; dinp may equal dout). */
void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n, sl_pool *pool);

/* x (n) += y (n) */
void residual_forward(float *x, const float *y, int64_t n, sl_pool *pool);

/* Cross-entropy of one row of logits z (n) against class y: returns -log softmax(z)[y]; *argmax (may be
   NULL) the most likely class; d (n; may equal z; NULL: the loss only) = scale * (softmax(z) - onehot(y)),
   the gradient of scale * loss. */
float crossentropy_row(float *d, const float *z, int n, int y, float scale, int *argmax);

/* Softmax over each row of x (M,N), in place. */
void softmax_forward(float *x, int M, int N);

/* Multi-head self-attention for a batch.
   out (B,T,C) = dropout(softmax(q k^T / sqrt(D) + mask)) v per head, C = NH * D; q, k, v (B,T,C);
   key_mask (B,T): 1 for a real token, 0 for padding (padded keys get no weight).
   probs (B,NH,T,T): when not NULL, the softmax (before dropout) is saved there for the backward pass.
   scratch: n_threads * T floats. dropout may be NULL; element index of the mask: ((b*NH + h)*T + t)*T + u. */
void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const uint8_t *key_mask, int B, int T, int C, int NH, const sl_dropout *dropout,
                       float *scratch, sl_pool *pool);
/* dq, dk, dv (B,T,C) = (overwritten) gradients from dout (B,T,C) and the saved probs.
   scratch: n_threads * T floats. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                        const float *k, const float *v, const uint8_t *key_mask, int B, int T, int C, int NH,
                        const sl_dropout *dropout, float *scratch, sl_pool *pool);

/* AdamW as torch.optim.AdamW computes it on float32 tensors (the caller forms the scalars in double and
   rounds them to float): with g = grad * clip,
     param *= decay (when `decayed`);  m = m b1 + g (1 - b1);  v = v b2 + (1 - b2) g^2;
     param += step_size m / (sqrt(v) / bc2_sqrt + eps)
   over n elements, each with the same float operations in every implementation (no fused multiply-add):
   the result does not depend on the processor or on how the caller splits the parameters. */
typedef struct {
    float clip, decay, b1, one_minus_b1, b2, one_minus_b2, step_size, bc2_sqrt, eps;
} sl_adamw;
void adamw_update(float *param, float *m, float *v, const float *grad, int64_t n, const sl_adamw *a, int decayed);

/* sum of x[i]^2 over n floats, in double: blocks of 65536 split over the pool, in each 8 partial sums
   (i mod 8); the blocks' sums added in order (the same result whatever the thread count). */
double sum_squares(const float *x, int64_t n, sl_pool *pool);

#endif
