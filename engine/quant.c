#include "quant.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"
#include "model.h"
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

void sl_quantize_row_q8_act(const float *x, int8_t *q, float *d, int64_t k) {
    for (int64_t b = 0; b < k / SL_Q8_0_BLOCK; b++) {
        const float *xb = x + b * SL_Q8_0_BLOCK;
        const float db = block_amax(xb) / 127.0f, id = db != 0 ? 1.0f / db : 0.0f;
        d[b] = db;
        /* Round half to even by the 1.5 * 2^23 trick (|v| <= 127): vectorises where roundf does not. ggml's
           vector quantisers round the activations this way too; ties are rare and either way is within d/2.
         */
        for (int i = 0; i < SL_Q8_0_BLOCK; i++) {
            float v = xb[i] * id;
            v = (v + 12582912.0f) - 12582912.0f;
            q[b * SL_Q8_0_BLOCK + i] = (int8_t)v;
        }
    }
}

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

/* ---- the product --------------------------------------------------------------------------------- */

/* Scratch: M quantised rows in the kernel's format, 64-byte aligned (+ 64 bytes to align the start). */
size_t sl_q8_scratch_size(const sl_q8_kernels *k, int M, int K) { return (size_t)M * k->act_size(K) + 64; }

size_t matmul_q8_0_scratch_size(int M, int K) { return sl_q8_scratch_size(sl_q8_kernels_best(), M, K); }

#define QUANT_ROWS 16 /* rows of inp per quantisation task (and of GELU's, when it is not fused) */
#define MAX_PRODUCTS 4

enum { GELU_NONE, GELU_PER_TILE, GELU_BY_ROWS };

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
        if (c->gelu == GELU_PER_TILE)
            for (int r = 0; r < mr; r++) {
                float *row = out + (size_t)(m + r) * N + n0;
                gelu_forward(row, row, n1 - n0, NULL); /* inside a task */
            }
    }
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
    /* per tile only where a tile's rows are long enough (48 columns natively): on the 16 of simd128, the
       calls cost more than the cache saves (measured in Node: 3-5% slower); otherwise by rows afterwards */
    c.gelu = !gelu ? GELU_NONE : k->panels * SL_Q8P_COLS >= 32 ? GELU_PER_TILE : GELU_BY_ROWS;
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

/* ---- model files -------------------------------------------------------------------------------- */

/* The Linear weights of the encoder change type (85% of camembert-base, what the products read), and so
   does the word-embedding table: its rows are only gathered, so q8_0 buys no speed there, but it is a
   fifth of camembert-base and two thirds of a small model, and its size is what a page downloads. The
   position and type tables, LayerNorm weights and biases are small; the classifier (labels x C) is tiny
   and its output is the logits themselves. */
static int is_encoder_linear(const char *name, int n_dims, int n_layer) {
    char want[128];
    int layer;
    if (n_dims == 2 && !strcmp(name, sl_global_specs[T_TOK_EMBD].gguf)) return 1;
    if (n_dims != 2 || sscanf(name, "blk.%d.", &layer) != 1 || layer < 0 || layer >= n_layer) return 0;
    for (int i = 0; i < N_LAYER_TENSORS; i++) {
        if (sl_layer_specs[i].cols == DIM_NONE) continue;
        snprintf(want, sizeof want, sl_layer_specs[i].gguf, layer);
        if (!strcmp(want, name)) return 1;
    }
    return 0;
}

static void tensor_row_to_f32(const sl_gguf_tensor *t, int64_t row, float *dst) {
    const int64_t n = t->ne[0];
    if (t->type == SL_GGML_F32) {
        memcpy(dst, t->data + (size_t)(row * n) * sizeof(float), (size_t)n * sizeof(float));
    } else if (t->type == SL_GGML_F16) {
        sl_to_f32(SL_DT_F16, t->data + (size_t)(row * n) * 2, dst, (size_t)n);
    } else {
        sl_dequantize_row_q8_0(
            (const sl_block_q8_0 *)(const void *)(t->data + sl_ggml_nbytes(SL_GGML_Q8_0, row * n)), dst, n);
    }
}

/* The tensor t in `type`, row by row through f32: malloc'ed bytes. */
static uint8_t *convert_tensor(const sl_gguf_tensor *t, uint32_t type) {
    const int64_t n = t->ne[0], rows = t->ne[1];
    uint8_t *out = malloc(sl_ggml_nbytes(type, n * rows));
    float *row = malloc((size_t)n * sizeof *row);
    if (!out || !row) {
        free(out);
        free(row);
        return NULL;
    }
    const size_t row_bytes = sl_ggml_nbytes(type, n);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *dst = out + (size_t)r * row_bytes;
        tensor_row_to_f32(t, r, row);
        if (type == SL_GGML_Q8_0) {
            sl_quantize_row_q8_0(row, (sl_block_q8_0 *)(void *)dst, n);
        } else if (type == SL_GGML_F16) {
            for (int64_t i = 0; i < n; i++) {
                uint16_t h = sl_fp32_to_fp16(row[i]);
                dst[2 * i] = (uint8_t)h;
                dst[2 * i + 1] = (uint8_t)(h >> 8);
            }
        } else {
            memcpy(dst, row, (size_t)n * sizeof *row);
        }
    }
    free(row);
    return out;
}

sl_status sl_quantize_model(const uint8_t *data, size_t size, const char *name, uint32_t type,
                            const char *out_path, uint8_t **out_data, size_t *out_size,
                            sl_quantize_report *report, sl_error *err) {
    sl_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    if (type != SL_GGML_F32 && type != SL_GGML_F16 && type != SL_GGML_Q8_0)
        return sl_fail(err, SL_ERR_ARGUMENT, "cannot quantise to ggml type %u (f32, f16 or q8_0)", type);
    sl_gguf *g;
    sl_status s = sl_gguf_parse(data, size, name, &g, err);
    if (s != SL_OK) return s;
    uint32_t n_layer = 0;
    if ((s = sl_gguf_get_u32(g, "bert.block_count", &n_layer, err))) {
        sl_gguf_free(g);
        return s;
    }
    sl_gguf_writer *w = sl_gguf_writer_new();
    const size_t n_tensors = sl_gguf_n_tensors(g);
    uint8_t **owned = calloc(n_tensors ? n_tensors : 1, sizeof *owned);
    if (!w || !owned) {
        s = sl_fail(err, SL_ERR_MEMORY, "no memory");
        goto done;
    }
    for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (kv->name_len == 17 && !memcmp(kv->name, "general.file_type", 17)) continue;
        sl_gguf_add_kv_copy(w, kv);
    }
    /* ggml's llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7 */
    sl_gguf_add_u32(w, "general.file_type", type == SL_GGML_Q8_0 ? 7 : type == SL_GGML_F16 ? 1 : 0);
    for (size_t i = 0; i < n_tensors; i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        char tname[256];
        if (t->name_len >= sizeof tname) {
            s = sl_fail(err, SL_ERR_FORMAT, "%s: tensor name of %zu bytes is too long", name, t->name_len);
            goto done;
        }
        memcpy(tname, t->name, t->name_len);
        tname[t->name_len] = 0;
        const void *bytes = t->data;
        uint32_t ttype = t->type;
        if (is_encoder_linear(tname, t->n_dims, (int)n_layer) && t->type != type) {
            if (type == SL_GGML_Q8_0 && t->ne[0] % SL_Q8_0_BLOCK != 0) {
                if (rep.n_kept++ == 0) snprintf(rep.first_kept, sizeof rep.first_kept, "%.95s", tname);
            } else {
                if (!(owned[i] = convert_tensor(t, type))) {
                    s = sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", tname);
                    goto done;
                }
                bytes = owned[i];
                ttype = type;
                rep.n_converted++;
            }
        }
        rep.bytes_in += t->nbytes;
        rep.bytes_out += sl_ggml_nbytes(ttype, t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        sl_gguf_add_tensor(w, tname, ttype, t->n_dims, t->ne, bytes);
    }
    s = out_path ? sl_gguf_writer_write(w, out_path, err)
                 : sl_gguf_writer_to_memory(w, out_data, out_size, err);
done:
    for (size_t i = 0; owned && i < n_tensors; i++) free(owned[i]);
    free(owned);
    sl_gguf_writer_free(w);
    sl_gguf_free(g);
    if (report) *report = rep;
    return s;
}
