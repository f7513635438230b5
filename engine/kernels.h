/* The compute kernels of the encoder, f32, in the llm.c manner: free functions on raw float buffers, the
   shape of each buffer written beside it. Row-major; a Linear weight is (N, K) as PyTorch stores it. */
#ifndef SL_KERNELS_H
#define SL_KERNELS_H

#include <stdint.h>
#include "threads.h"

/* out (M,N) = inp (M,K) . weight (N,K)^T + bias (N) (bias may be NULL). Threads split the output. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K,
                    sl_pool *pool);

/* out (M,C) = (inp - mean) / sqrt(var + eps) * weight + bias, per row. out may equal inp. */
void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int C,
                       float eps);

/* x (n) = x * Phi(x), the exact (erf) GELU, in place. */
void gelu_forward(float *x, int64_t n);

/* x (n) += y (n) */
void residual_forward(float *x, const float *y, int64_t n);

/* Softmax over each row of x (M,N), in place. */
void softmax_forward(float *x, int M, int N);

/* Multi-head self-attention for a batch.
   out (B,T,C) = softmax(q k^T / sqrt(D) + mask) v per head, C = NH * D; q, k, v (B,T,C);
   key_mask (B,T): 1 for a real token, 0 for padding (padded keys get no weight).
   scratch: n_threads * T floats. */
void attention_forward(float *out, const float *q, const float *k, const float *v, const uint8_t *key_mask,
                       int B, int T, int C, int NH, float *scratch, sl_pool *pool);

#endif
