/* surligne_wasm_test.c — entry points for the tests and benchmarks only, linked beside surligne_wasm.c in
   the builds of build-wasm/dist-test/ (the shipped builds of build-wasm/dist/ leave them out): the raw
   classifier outputs of a text (tests/wasm/kernel.test.mjs, tools/bench) and one q8_0 matrix product with a
   chosen kernel (tests/wasm/kernel.test.mjs, tests/browser/relaxed.test.mjs). They reach below surligne.h. */
#include <emscripten/emscripten.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "quant.h"
#include "simd.h"
#include "surligne_wasm.h"
#include "tokenizer.h"

/* The classifier's raw outputs for the first window of a text: its tokens with <s> and </s>, at most
   max_tokens of them (and the model's window), into logits (tokens, labels): room for max_tokens x labels
   floats. Returns the number of tokens, or -1 with the message in sl_wasm_last_error(). */
EMSCRIPTEN_KEEPALIVE int sl_wasm_logits(sl_wasm_handle *h, const char *text, size_t len, int max_tokens,
                                        float *logits) {
    const sl_tokenizer *tok = sl_model_tokenizer(h->model);
    const int32_t bos = sl_tokenizer_special_ids(tok).bos, eos = sl_tokenizer_special_ids(tok).eos;
    if (max_tokens > sl_model_max_tokens(h->model)) max_tokens = sl_model_max_tokens(h->model);
    if (bos < 0 || eos < 0 || max_tokens < 2) {
        sl_wasm_set_error(SL_ERR_ARGUMENT, "no <s> and </s> in the vocabulary, or max_tokens %d < 2",
                          max_tokens);
        return -1;
    }
    sl_tokens tk = {0};
    int n = -1;
    int32_t *ids = NULL;
    if (sl_tokenize(tok, text, len, &tk, &sl_wasm_error) == SL_OK) {
        n = tk.n + 2 < max_tokens ? tk.n + 2 : max_tokens;
        if ((ids = malloc((size_t)n * sizeof *ids))) {
            ids[0] = bos;
            for (int i = 1; i < n - 1; i++) ids[i] = tk.ids[i - 1];
            ids[n - 1] = eos;
            if (sl_model_forward(h->model, ids, 1, n, logits, &sl_wasm_error) != SL_OK) n = -1;
        } else {
            sl_wasm_set_error(SL_ERR_MEMORY, "no memory for %d token ids", n);
            n = -1;
        }
    }
    free(ids);
    sl_tokens_free(&tk);
    return n;
}

/* out (M,N) = x (M,K) . q8_0(w (N,K))^T + bias (N, may be NULL) with the kernel named `kernel` (one of
   sl_q8_kernels_available, or "scalar-u7": sl_q8_kernels_named), on this thread, `reps` times: the weights are quantised to q8_0 and packed
   first (not timed), then each repetition is sl_q8_product (quantising x, then the tiles).
   Returns the fastest repetition in ms, or -1 (unknown kernel, no memory, K not a multiple of 32). */
EMSCRIPTEN_KEEPALIVE double sl_wasm_q8_product(const char *kernel, float *out, const float *x, int M,
                                               const float *w, int N, int K, const float *bias, int reps) {
    const sl_q8_kernels *k = sl_q8_kernels_named(kernel);
    if (!k || M < 1 || N < 1 || K < SL_Q8_0_BLOCK || K % SL_Q8_0_BLOCK) {
        sl_wasm_set_error(SL_ERR_ARGUMENT, "no kernel '%s' or bad shape %dx%dx%d", kernel, M, N, K);
        return -1;
    }
    const int nb = K / SL_Q8_0_BLOCK;
    sl_block_q8_0 *wq = malloc((size_t)N * nb * sizeof *wq);
    void *scratch = malloc(sl_q8_scratch_size(k, M, K));
    sl_q8_packed *pw = NULL;
    if (wq && scratch) {
        for (int c = 0; c < N; c++) sl_quantize_row_q8_0(w + (size_t)c * K, wq + (size_t)c * nb, K);
        pw = sl_q8_pack(wq, N, K, k->group);
    }
    double best = -1;
    if (pw) {
        for (int rep = 0; rep < (reps < 1 ? 1 : reps); rep++) {
            const double t0 = emscripten_get_now();
            sl_q8_product(k, out, x, pw, bias, M, 0, scratch, NULL);
            const double ms = emscripten_get_now() - t0;
            if (best < 0 || ms < best) best = ms;
        }
    } else {
        sl_wasm_set_error(SL_ERR_MEMORY, "no memory for a %dx%dx%d product", M, N, K);
    }
    sl_q8_packed_free(pw);
    free(scratch);
    free(wq);
    return best;
}
