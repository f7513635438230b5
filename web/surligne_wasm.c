/* surligne_wasm.c — the WebAssembly entry points: a thin layer over surligne.h that JS can call with
   numbers and pointers only.

   The JS side (web/surligne.js, or tests/wasm/) does:

       const p = M._malloc(bytes.length);           // model bytes: GGUF, copied into the wasm heap
       M.HEAPU8.set(bytes, p);
       const h = M._sl_wasm_load(p, bytes.length);  // takes ownership of p, even on failure
       if (!h) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
       const t = M._malloc(n); ...                  // the text, UTF-8, n bytes
       const json = M._sl_wasm_recognize(h, t, n, aggregation, threshold, stride, threads, dates);
       // json: [{"label":"PER","score":0.98,"start":0,"end":6}, ...] with byte offsets into the text, and
       // with dates = 1 the rule recogniser's {"label":"DATE","score":1,"start":..,"end":..,"value":"1789-07-14"};
       // the string belongs to the handle and stays valid until the next call on it
       const only = M._sl_wasm_dates(t, n);         // the rule recogniser alone, no model: the same JSON
       M._sl_wasm_free(h);                          // frees the model and its bytes

   Errors: a call that fails returns 0 (NULL) and leaves the message in sl_wasm_last_error() and the status
   (sl_status) in sl_wasm_last_status(). Everything else about the model — tensors used in place, labels
   from the file, offsets into the original text — is surligne.h's contract unchanged.

   At the end of the file, for tests and benchmarks: sl_wasm_kernel (the q8_0 kernel that runs),
   sl_wasm_logits (the raw classifier outputs for a text), sl_wasm_q8_product (one matrix product with a
   chosen kernel, timed). */
#include <emscripten/emscripten.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "quant.h"
#include "simd.h"
#include "surligne.h"
#include "tokenizer.h"

typedef struct {
    sl_model *model;
    void *bytes; /* the GGUF the model's tensors point into: freed with the model, never before */
    char *json;  /* the last answer, reused from call to call */
    size_t json_len, json_cap;
    int failed; /* an allocation failed while writing json */
} sl_wasm_handle;

static sl_error last_error;

static void set_error(sl_status s, const char *fmt, ...) {
    last_error.status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
    va_end(ap);
}

EMSCRIPTEN_KEEPALIVE const char *sl_wasm_last_error(void) { return last_error.message; }
EMSCRIPTEN_KEEPALIVE int sl_wasm_last_status(void) { return (int)last_error.status; }

/* Threads this build can run: 1 without pthreads; with them, the pool size is chosen by the JS at
   start-up (PTHREAD_POOL_SIZE), and asking for more threads than it holds fails with a message. */
EMSCRIPTEN_KEEPALIVE int sl_wasm_has_threads(void) {
#ifdef __EMSCRIPTEN_PTHREADS__
    return 1;
#else
    return 0;
#endif
}

/* ---- JSON writing --------------------------------------------------------------------------- */

static void json_append(sl_wasm_handle *h, const char *s, size_t n) {
    if (h->failed) return;
    if (h->json_len + n + 1 > h->json_cap) {
        size_t cap = h->json_cap ? h->json_cap : 256;
        while (h->json_len + n + 1 > cap) cap *= 2;
        char *j = realloc(h->json, cap);
        if (!j) {
            h->failed = 1;
            return;
        }
        h->json = j;
        h->json_cap = cap;
    }
    memcpy(h->json + h->json_len, s, n);
    h->json_len += n;
    h->json[h->json_len] = 0;
}

static void json_printf(sl_wasm_handle *h, const char *fmt, ...) {
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) json_append(h, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A JSON string of a label (bytes from the model file: escaped, control characters as \u00XX). */
static void json_string(sl_wasm_handle *h, const char *s) {
    json_append(h, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            json_append(h, e, 2);
        } else if (c < 0x20) {
            json_printf(h, "\\u%04x", c);
        } else {
            json_append(h, (const char *)&c, 1);
        }
    }
    json_append(h, "\"", 1);
}

static const char *json_finish(sl_wasm_handle *h) {
    if (h->failed || !h->json) {
        h->failed = 0;
        set_error(SL_ERR_MEMORY, "no memory for the JSON answer");
        return NULL;
    }
    return h->json;
}

/* ---- model ---------------------------------------------------------------------------------- */

/* Loads a GGUF model from `size` bytes at `bytes` (allocated with malloc by the caller). The handle owns
   the bytes from here on: they are freed by sl_wasm_free, or now if loading fails. */
EMSCRIPTEN_KEEPALIVE sl_wasm_handle *sl_wasm_load(void *bytes, size_t size) {
    sl_wasm_handle *h = calloc(1, sizeof *h);
    if (!h) {
        free(bytes);
        set_error(SL_ERR_MEMORY, "no memory for a model handle");
        return NULL;
    }
    if (sl_model_load_writable(bytes, size, "model", &h->model, &last_error) != SL_OK) {
        free(bytes);
        free(h);
        return NULL;
    }
    h->bytes = bytes;
    return h;
}

EMSCRIPTEN_KEEPALIVE void sl_wasm_free(sl_wasm_handle *h) {
    if (!h) return;
    sl_model_free(h->model);
    free(h->bytes);
    free(h->json);
    free(h);
}

/* The labels of the model as a JSON array, id2label order: ["O","B-PER",...]. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_labels(sl_wasm_handle *h) {
    h->json_len = 0;
    json_append(h, "[", 1);
    for (int i = 0; i < sl_model_n_labels(h->model); i++) {
        if (i) json_append(h, ",", 1);
        json_string(h, sl_model_label(h->model, i));
    }
    json_append(h, "]", 1);
    return json_finish(h);
}

EMSCRIPTEN_KEEPALIVE int sl_wasm_max_tokens(sl_wasm_handle *h) { return sl_model_max_tokens(h->model); }

/* ---- recognition ---------------------------------------------------------------------------- */

/* ents as the JSON array of the answer, into h */
static const char *entities_json(sl_wasm_handle *h, const sl_entities *ents) {
    h->json_len = 0;
    json_append(h, "[", 1);
    for (size_t i = 0; i < ents->n; i++) {
        const sl_entity *e = &ents->items[i];
        json_append(h, i ? ",{\"label\":" : "{\"label\":", i ? 10 : 9);
        json_string(h, e->label);
        /* %.9g: the float's exact value survives the trip through text */
        json_printf(h, ",\"score\":%.9g,\"start\":%zu,\"end\":%zu", (double)e->score, e->start, e->end);
        if (e->value[0]) {
            json_append(h, ",\"value\":", 9);
            json_string(h, e->value);
        }
        json_append(h, "}", 1);
    }
    json_append(h, "]", 1);
    return json_finish(h);
}

/* Entities of `len` bytes of UTF-8 at `text` as a JSON array of {"label","score","start","end"} (byte
   offsets; with aggregation 0 = none the label is the token's, "B-PER") and, for the dates, times, amounts
   and percentages of the rule recogniser (dates = 1), "value". aggregation: 0 none, 1 simple, 2 first,
   3 average, 4 max. stride <= 0: automatic (sl_options.stride 0, as the command line's default, so both
   give the same entities). threads < 1 = 1. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_recognize(sl_wasm_handle *h, const char *text, size_t len, int aggregation,
                                                   float threshold, int stride, int threads, int dates) {
    sl_options opt = sl_default_options();
    opt.aggregation = (sl_aggregation)aggregation;
    opt.threshold = threshold;
    opt.n_threads = threads < 1 ? 1 : threads;
    opt.dates = dates != 0;
    opt.stride = stride > 0 ? stride : 0;
#ifndef __EMSCRIPTEN_PTHREADS__
    if (opt.n_threads > 1) {
        set_error(SL_ERR_UNSUPPORTED, "%d threads asked of the single-thread build", opt.n_threads);
        return NULL;
    }
#endif
    sl_entities ents = {0};
    if (sl_recognize(h->model, text, len, &opt, &ents, &last_error) != SL_OK) {
        sl_entities_free(&ents);
        return NULL;
    }
    const char *json = entities_json(h, &ents);
    sl_entities_free(&ents);
    return json;
}

/* The rule recogniser alone (sl_recognize_dates), no model: the dates, times, amounts and percentages of
   the text as sl_wasm_recognize writes them. The string stays valid until the next sl_wasm_dates call. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_dates(const char *text, size_t len) {
    static sl_wasm_handle answer; /* only its JSON buffer is used */
    sl_entities ents = {0};
    if (sl_recognize_dates(text, len, &ents, &last_error) != SL_OK) {
        sl_entities_free(&ents);
        return NULL;
    }
    const char *json = entities_json(&answer, &ents);
    sl_entities_free(&ents);
    return json;
}

/* ---- the q8_0 kernel, for tests and benchmarks ------------------------------------------------ */

/* The name of the q8_0 kernel the engine runs: "wasm-relaxed" where the engine supports relaxed SIMD
   (web/q8_relaxed_library.js decides, once per thread), "wasm-simd128" otherwise. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_kernel(void) { return sl_q8_kernels_best()->name; }

/* The classifier's raw outputs for the first window of a text: its tokens with <s> and </s>, at most
   max_tokens of them (and the model's window), into logits (tokens, labels): room for max_tokens x labels
   floats. Returns the number of tokens, or -1 with the message in sl_wasm_last_error(). */
EMSCRIPTEN_KEEPALIVE int sl_wasm_logits(sl_wasm_handle *h, const char *text, size_t len, int max_tokens,
                                        float *logits) {
    const sl_tokenizer *tok = sl_model_tokenizer(h->model);
    const int32_t bos = sl_tokenizer_special_ids(tok).bos, eos = sl_tokenizer_special_ids(tok).eos;
    if (max_tokens > sl_model_max_tokens(h->model)) max_tokens = sl_model_max_tokens(h->model);
    if (bos < 0 || eos < 0 || max_tokens < 2) {
        set_error(SL_ERR_ARGUMENT, "no <s> and </s> in the vocabulary, or max_tokens %d < 2", max_tokens);
        return -1;
    }
    sl_tokens tk = {0};
    int n = -1;
    int32_t *ids = NULL;
    if (sl_tokenize(tok, text, len, &tk, &last_error) == SL_OK) {
        n = tk.n + 2 < max_tokens ? tk.n + 2 : max_tokens;
        if ((ids = malloc((size_t)n * sizeof *ids))) {
            ids[0] = bos;
            for (int i = 1; i < n - 1; i++) ids[i] = tk.ids[i - 1];
            ids[n - 1] = eos;
            if (sl_model_forward(h->model, ids, 1, n, logits, &last_error) != SL_OK) n = -1;
        } else {
            set_error(SL_ERR_MEMORY, "no memory for %d token ids", n);
            n = -1;
        }
    }
    free(ids);
    sl_tokens_free(&tk);
    return n;
}

/* out (M,N) = x (M,K) . q8_0(w (N,K))^T + bias (N, may be NULL) with the kernel named `kernel` (one of
   sl_q8_kernels_available), on this thread, `reps` times: the weights are quantised to q8_0 and packed
   first (not timed), then each repetition is sl_q8_product (quantising x, then the tiles).
   Returns the fastest repetition in ms, or -1 (unknown kernel, no memory, K not a multiple of 32). */
EMSCRIPTEN_KEEPALIVE double sl_wasm_q8_product(const char *kernel, float *out, const float *x, int M,
                                               const float *w, int N, int K, const float *bias, int reps) {
    const sl_q8_kernels *list[8], *k = NULL;
    const int n = sl_q8_kernels_available(list, 8);
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i]->name, kernel)) k = list[i];
    if (!k || M < 1 || N < 1 || K < SL_Q8_0_BLOCK || K % SL_Q8_0_BLOCK) {
        set_error(SL_ERR_ARGUMENT, "no kernel '%s' or bad shape %dx%dx%d", kernel, M, N, K);
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
        set_error(SL_ERR_MEMORY, "no memory for a %dx%dx%d product", M, N, K);
    }
    sl_q8_packed_free(pw);
    free(scratch);
    free(wq);
    return best;
}
