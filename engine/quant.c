#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "simd.h"

/* ---- rows --------------------------------------------------------------------------------------- */

static float block_amax(const float *x) {
    /* 8 partial maxima so that the compiler vectorises without reassociating anything itself */
    float m[8] = {0};
    for (int i = 0; i < SL_Q8_0_BLOCK; i += 8)
        for (int j = 0; j < 8; j++) {
            float a = fabsf(x[i + j]);
            m[j] = a > m[j] ? a : m[j];
        }
    for (int j = 1; j < 8; j++) m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}

void sl_quantize_row_q8_0(const float *x, sl_block_q8_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float *xb = x + b * SL_Q8_0_BLOCK;
        const float d = block_amax(xb) / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = sl_fp32_to_fp16(d);
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) y[b].qs[i] = (int8_t)roundf(xb[i] * id);
    }
}

void sl_dequantize_row_q8_0(const sl_block_q8_0 *y, float *x, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float d = sl_fp16_to_fp32(y[b].d);
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) x[b * SL_Q8_0_BLOCK + i] = d * y[b].qs[i];
    }
}

/* The value of largest magnitude of a block, with its sign (the first of them). */
static float block_signed_max(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < SL_Q8_0_BLOCK; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    return max;
}

/* The codes of one block with `levels` (16 or 32) codes, as the header says: the scale stored in y_d. */
static void block_codes(const float *x, int levels, uint16_t *y_d, uint8_t *q) {
    const float d = block_signed_max(x) / (float)-(levels / 2), id = d != 0 ? 1.0f / d : 0.0f;
    *y_d = sl_fp32_to_fp16(d);
    for (int i = 0; i < SL_Q8_0_BLOCK; i++) {
        /* clamped before the cast (casting NaN or infinities is undefined): fmaxf takes NaN to 0 */
        q[i] = (uint8_t)fminf(fmaxf(x[i] * id + (float)(levels / 2) + 0.5f, 0.0f), (float)(levels - 1));
    }
}

void sl_quantize_row_q4_0(const float *x, sl_block_q4_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        uint8_t q[SL_Q8_0_BLOCK];
        block_codes(x + b * SL_Q8_0_BLOCK, 16, &y[b].d, q);
        for (int i = 0; i < SL_Q8_0_BLOCK / 2; i++) y[b].qs[i] = (uint8_t)(q[i] | q[i + 16] << 4);
    }
}

void sl_dequantize_row_q4_0(const sl_block_q4_0 *y, float *x, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float d = sl_fp16_to_fp32(y[b].d);
        float *xb = x + b * SL_Q8_0_BLOCK;
        for (int i = 0; i < SL_Q8_0_BLOCK / 2; i++) {
            xb[i] = d * (float)((y[b].qs[i] & 15) - 8);
            xb[i + 16] = d * (float)((y[b].qs[i] >> 4) - 8);
        }
    }
}

void sl_quantize_row_q5_0(const float *x, sl_block_q5_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        uint8_t q[SL_Q8_0_BLOCK];
        block_codes(x + b * SL_Q8_0_BLOCK, 32, &y[b].d, q);
        uint32_t qh = 0;
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) qh |= (uint32_t)(q[i] >> 4) << i;
        for (int i = 0; i < 4; i++) y[b].qh[i] = (uint8_t)(qh >> 8 * i);
        for (int i = 0; i < SL_Q8_0_BLOCK / 2; i++)
            y[b].qs[i] = (uint8_t)((q[i] & 15) | (q[i + 16] & 15) << 4);
    }
}

void sl_dequantize_row_q5_0(const sl_block_q5_0 *y, float *x, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float d = sl_fp16_to_fp32(y[b].d);
        const uint32_t qh =
            y[b].qh[0] | (uint32_t)y[b].qh[1] << 8 | (uint32_t)y[b].qh[2] << 16 | (uint32_t)y[b].qh[3] << 24;
        float *xb = x + b * SL_Q8_0_BLOCK;
        for (int i = 0; i < SL_Q8_0_BLOCK / 2; i++) {
            xb[i] = d * (float)((int)((y[b].qs[i] & 15) | (qh >> i & 1) << 4) - 16);
            xb[i + 16] = d * (float)((int)((y[b].qs[i] >> 4) | (qh >> (i + 16) & 1) << 4) - 16);
        }
    }
}

void sl_row_to_f32(uint32_t type, const void *row, float *x, int64_t k) {
    switch (type) {
    case SL_GGML_F32:
        memcpy(x, row, (size_t)k * sizeof *x);
        break;
    case SL_GGML_F16:
        sl_to_f32(SL_DT_F16, row, x, (size_t)k);
        break;
    case SL_GGML_Q8_0:
        sl_dequantize_row_q8_0(row, x, k);
        break;
    case SL_GGML_Q5_0:
        sl_dequantize_row_q5_0(row, x, k);
        break;
    case SL_GGML_Q4_0:
        sl_dequantize_row_q4_0(row, x, k);
        break;
    default:
        memset(x, 0, (size_t)k * sizeof *x); /* callers check the type first (sl_ggml_block_size) */
    }
}

void sl_row_from_f32(uint32_t type, const float *x, void *row, int64_t k) {
    switch (type) {
    case SL_GGML_F32:
        memcpy(row, x, (size_t)k * sizeof *x);
        break;
    case SL_GGML_F16:
        for (int64_t i = 0; i < k; i++) {
            const uint16_t h = sl_fp32_to_fp16(x[i]);
            memcpy((uint8_t *)row + 2 * i, &h, 2);
        }
        break;
    case SL_GGML_Q8_0:
        sl_quantize_row_q8_0(x, row, k);
        break;
    case SL_GGML_Q5_0:
        sl_quantize_row_q5_0(x, row, k);
        break;
    case SL_GGML_Q4_0:
        sl_quantize_row_q4_0(x, row, k);
        break;
    default:
        break;
    }
}

void sl_quantize_row_act(const float *x, int8_t *q, float *d, int64_t k, int qmax) {
    const float top = (float)qmax;
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float *xb = x + b * SL_Q8_0_BLOCK;
        const float db = block_amax(xb) / top, id = db != 0 ? 1.0f / db : 0.0f;
        d[b] = db;
        /* Round half to even by the 1.5 * 2^23 trick (|v| <= 127): vectorises where roundf does not. ggml's
           vector quantisers round the activations this way too; ties are rare and either way is within d/2.
         */
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) {
            float v = xb[i] * id;
            v = (v + 12582912.0f) - 12582912.0f;
            /* NaN and infinities (from a model with non-finite weights) to the range: casting them is
               undefined; finite values are already in it */
            v = fminf(fmaxf(v, -top), top);
            q[b * SL_Q8_0_BLOCK + i] = (int8_t)v;
        }
    }
}

void sl_quantize_row_q8_act(const float *x, int8_t *q, float *d, int64_t k) { sl_quantize_row_act(x, q, d, k, 127); }

/* ---- packing ------------------------------------------------------------------------------------ */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* One panel: rows (n_rows <= 16 of them, nb blocks each; zero columns beyond) into dst (nb x 512 bytes), d
   and wsum (nb x 16 each). */
static void pack_panel(int8_t *dst, float *d, int32_t *wsum, const sl_block_q8_0 *rows, int n_rows, int nb,
                       int group) {
    static const int8_t zeros[SL_Q8_0_BLOCK];
    for (int b = 0; b < nb; b++, dst += SL_Q8P_BLOCK_BYTES, d += SL_Q8P_COLS, wsum += SL_Q8P_COLS)
        for (int c = 0; c < SL_Q8P_COLS; c++) {
            const sl_block_q8_0 *src = c < n_rows ? &rows[(size_t)c * nb + b] : NULL;
            const int8_t *q = src ? src->qs : zeros;
            /* copies of a constant size, which compilers inline (a call each in wasm otherwise) */
            if (group == 4)
                for (int g = 0; g < SL_Q8_0_BLOCK / 4; g++) memcpy(dst + sl_q8p_offset(4, c, 4 * g), q + 4 * g, 4);
            else
                for (int g = 0; g < SL_Q8_0_BLOCK / 2; g++) memcpy(dst + sl_q8p_offset(2, c, 2 * g), q + 2 * g, 2);
            int32_t sum = 0;
            for (int i = 0; i < SL_Q8_0_BLOCK; i++) sum += q[i];
            d[c] = src ? sl_fp16_to_fp32(src->d) : 0.0f;
            wsum[c] = sum;
        }
}

/* Packs w into the panels, over w's own bytes when in_place (then N must be a multiple of 16): panel p's
   bytes (its 16 rows' 32-byte parts) end before panel p + 1's rows (34 bytes a block) begin, so panels
   packed in order, each from a copy of its own rows, never overwrite rows still to be read. One allocation:
   the header, the panels' bytes when they are not in place, then d and wsum. */
static sl_q8_packed *pack(sl_block_q8_0 *w, int N, int K, int group, int in_place) {
    if ((group != 2 && group != 4) || (in_place && N % SL_Q8P_COLS)) return NULL;
    const int nb = K / SL_Q8_0_BLOCK, np = (N + SL_Q8P_COLS - 1) / SL_Q8P_COLS;
    const size_t n_blocks = (size_t)np * (size_t)nb, head = align64(sizeof(sl_q8_packed));
    const size_t qs_bytes = in_place ? 0 : n_blocks * SL_Q8P_BLOCK_BYTES;
    const size_t col_bytes = align64(n_blocks * SL_Q8P_COLS * 4);
    uint8_t *mem = aligned_alloc(64, head + qs_bytes + 2 * col_bytes);
    sl_block_q8_0 *copy = in_place ? malloc((size_t)SL_Q8P_COLS * nb * sizeof *copy) : NULL;
    if (!mem || (in_place && !copy)) {
        free(mem);
        free(copy);
        return NULL;
    }
    int8_t *qs = in_place ? (int8_t *)(void *)w : (int8_t *)(mem + head);
    float *d = (float *)(void *)(mem + head + qs_bytes);
    int32_t *wsum = (int32_t *)(void *)(mem + head + qs_bytes + col_bytes);
    for (int p = 0; p < np; p++) {
        const size_t i = (size_t)p * nb;
        const int rows = N - p * SL_Q8P_COLS < SL_Q8P_COLS ? N - p * SL_Q8P_COLS : SL_Q8P_COLS;
        const sl_block_q8_0 *src = w + (size_t)p * SL_Q8P_COLS * nb;
        if (in_place) src = memcpy(copy, src, (size_t)SL_Q8P_COLS * nb * sizeof *copy);
        pack_panel(qs + i * SL_Q8P_BLOCK_BYTES, d + i * SL_Q8P_COLS, wsum + i * SL_Q8P_COLS, src, rows, nb, group);
    }
    free(copy);
    sl_q8_packed *pk = (sl_q8_packed *)(void *)mem;
    *pk = (sl_q8_packed){N, K, nb, np, group, qs, d, wsum};
    return pk;
}

/* w is only read when not in place */
sl_q8_packed *sl_q8_pack(const sl_block_q8_0 *w, int N, int K, int group) {
    return pack((sl_block_q8_0 *)(uintptr_t)w, N, K, group, 0);
}

sl_q8_packed *sl_q8_pack_in_place(sl_block_q8_0 *w, int N, int K, int group) { return pack(w, N, K, group, 1); }

void sl_q8_packed_free(sl_q8_packed *p) { free(p); }
