/* Matrix products with bf16 operands and f32 accumulation: AVX-512 BF16's vdpbf16ps, which multiplies pairs
   of bf16 values and adds both products to an f32 lane (32 multiply-adds per instruction, twice f32 FMA's).

       c (M,N) = [c +] sum over k < K of A(m,k) B(k,n) [+ bias (N)]
       A(m,k) = a[m * a_m + k * a_k],  B(k,n) = b[k * b_k + n * b_n],  rows of c ldc apart

   Operands are f32 in memory and rounded to bf16 (to nearest, ties to even) as they are packed; the sums
   are f32. One function covers the three products of a Linear layer's training:
     out  = inp . W^T     a = inp (a_m = K, a_k = 1),   b = W (b_k = 1, b_n = K)
     dinp += dout . W     a = dout (a_m = N, a_k = 1),  b = W (b_k = K, b_n = 1)
     dW  += dout^T . inp  a = dout (a_m = 1, a_k = N),  b = inp (b_k = K, b_n = 1)

   x86-64 only, chosen at run time where the processor has AVX-512 BF16; elsewhere (other processors,
   WebAssembly) sl_gemm_bf16 does nothing and returns 0, and the caller takes its f32 product. The result
   differs from the f32 product by bf16's rounding of the operands (8 significant bits: a relative error
   of about 2^-9 per operand, which averages out over the sums). */
#ifndef SL_GEMM_BF16_H
#define SL_GEMM_BF16_H

#include <stddef.h>
#include "threads.h"

int sl_gemm_bf16_available(void);

/* Where the processor has AMX-BF16 and the system lets the process use its tiles (Linux 5.16+: Sapphire
   Rapids and later Xeons), the products run on AMX tiles ("amx": 8,192 multiply-adds an instruction,
   sums in f32 as above); else on vdpbf16ps ("avx512"). sl_gemm_bf16_kernel names the one in use (NULL without
   AVX-512 BF16); sl_gemm_bf16_select chooses one by name, NULL for the fastest: -1 when this processor does
   not run it. The two round the same operands and differ only in the order of the f32 sums. */
const char *sl_gemm_bf16_kernel(void);
int sl_gemm_bf16_select(const char *name);

/* Returns 1 when done, 0 when not (no AVX-512 BF16, or no memory for the packed operands). Threads of
   the pool split the columns of c; the result does not depend on their number. */
int sl_gemm_bf16(float *c, size_t ldc, const float *a, size_t a_m, size_t a_k, const float *b, size_t b_k, size_t b_n,
                 const float *bias, int M, int N, int K, int accumulate, sl_pool *pool);

#endif
