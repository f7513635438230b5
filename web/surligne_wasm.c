/* surligne_wasm.c — the WebAssembly entry points: a thin layer over surligne.h that JS can call with
   numbers and pointers only.

   The JS side (web/surligne.js, or tests/wasm/) does:

       const p = M._malloc(bytes.length);           // model bytes: GGUF, copied into the wasm heap
       M.HEAPU8.set(bytes, p);
       const h = M._sl_wasm_load(p, bytes.length);  // takes ownership of p, even on failure
       if (!h) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
       const t = M._malloc(n); ...                  // the text, UTF-8, n bytes
       const json = M._sl_wasm_recognize(h, t, n, aggregation, threshold, stride, threads);
       // json: [{"label":"PER","score":0.98,"start":0,"end":6}, ...] with byte offsets into the text;
       // the string belongs to the handle and stays valid until the next call on it
       M._sl_wasm_free(h);                          // frees the model and its bytes

   Errors: a call that fails returns 0 (NULL) and leaves the message in sl_wasm_last_error() and the status
   (sl_status) in sl_wasm_last_status(). Everything else about the model — tensors used in place, labels
   from the file, offsets into the original text — is surligne.h's contract unchanged. */
#include <emscripten/emscripten.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surligne.h"

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
    if (sl_model_load_memory(bytes, size, "model", &h->model, &last_error) != SL_OK) {
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

/* Entities of `len` bytes of UTF-8 at `text` as a JSON array of {"label","score","start","end"} (byte
   offsets; with aggregation 0 = none the label is the token's, "B-PER"). aggregation: 0 none, 1 simple,
   2 first, 3 average, 4 max. stride < 0 takes the default (128 tokens, or a quarter of the window for a
   model with shorter windows: the command line's rule, so both give the same entities). threads < 1 = 1. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_recognize(sl_wasm_handle *h, const char *text, size_t len, int aggregation,
                                                   float threshold, int stride, int threads) {
    sl_options opt = sl_default_options();
    opt.aggregation = (sl_aggregation)aggregation;
    opt.threshold = threshold;
    opt.n_threads = threads < 1 ? 1 : threads;
    if (stride >= 0) opt.stride = stride;
    else if (opt.stride >= sl_model_max_tokens(h->model) - 2) opt.stride = (sl_model_max_tokens(h->model) - 2) / 4;
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
    h->json_len = 0;
    json_append(h, "[", 1);
    for (size_t i = 0; i < ents.n; i++) {
        const sl_entity *e = &ents.items[i];
        json_append(h, i ? ",{\"label\":" : "{\"label\":", i ? 10 : 9);
        json_string(h, e->label);
        /* %.9g: the float's exact value survives the trip through text */
        json_printf(h, ",\"score\":%.9g,\"start\":%zu,\"end\":%zu}", (double)e->score, e->start, e->end);
    }
    json_append(h, "]", 1);
    sl_entities_free(&ents);
    return json_finish(h);
}
