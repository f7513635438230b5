/* surligne_wasm.c — the WebAssembly entry points: a thin layer over surligne.h, and surligne.h alone, that
   JS can call with numbers and pointers only.

   The JS side (web/engine.js, or tests/wasm/) does:

       const p = M._malloc(bytes.length);           // model bytes: GGUF, copied into the wasm heap
       M.HEAPU8.set(bytes, p);
       const h = M._sl_wasm_load(p, bytes.length);  // takes ownership of p, even on failure
       if (!h) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
       const labels = [];                           // id2label; sl_wasm_type(h, i) likewise gives the types
       for (let i = 0, s; (s = M._sl_wasm_label(h, i)); i++) labels.push(M.UTF8ToString(s));
       const t = M._malloc(n); ...                  // the text, UTF-8, n bytes
       const json = M._sl_wasm_recognize(h, t, n, aggregation, threshold, stride, threads, dates, decoding);
       // json: [{"label":"PER","score":0.98,"start":0,"end":6}, ...] with byte offsets into the text (the
       // fields of sl_entity_json), and with dates = 1 the rule recogniser's
       // {"label":"DATE","score":1,"start":..,"end":..,"value":"1789-07-14"};
       // the string belongs to the handle and stays valid until the next call on it
       const only = M._sl_wasm_dates(t, n);         // the rule recogniser alone, no model: the same JSON
       M._sl_wasm_free(h);                          // frees the model and its bytes

   Errors: a call that fails returns 0 (NULL) and leaves the message in sl_wasm_last_error() and the status
   (sl_status) in sl_wasm_last_status(). Everything else about the model — tensors used in place, labels
   from the file, offsets into the original text — is surligne.h's contract unchanged.

   Tests and benchmarks link web/surligne_wasm_test.c beside this file (the builds of build-wasm/dist-test/):
   the raw classifier outputs and single matrix products, which need the engine's inner headers. */
#include <emscripten/emscripten.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surligne.h"
#include "surligne_wasm.h"

sl_error sl_wasm_error;

void sl_wasm_set_error(sl_status s, const char *fmt, ...) {
    sl_wasm_error.status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sl_wasm_error.message, sizeof sl_wasm_error.message, fmt, ap);
    va_end(ap);
}

EMSCRIPTEN_KEEPALIVE const char *sl_wasm_last_error(void) { return sl_wasm_error.message; }
EMSCRIPTEN_KEEPALIVE int sl_wasm_last_status(void) { return (int)sl_wasm_error.status; }

/* Threads this build can run: 1 without pthreads; with them, the pool size is chosen by the JS at
   start-up (PTHREAD_POOL_SIZE), and asking for more threads than it holds fails with a message. */
EMSCRIPTEN_KEEPALIVE int sl_wasm_has_threads(void) {
#ifdef __EMSCRIPTEN_PTHREADS__
    return 1;
#else
    return 0;
#endif
}

/* The name of the q8_0 kernel the engine runs: "wasm-relaxed" where the engine supports relaxed SIMD
   (web/q8_relaxed_library.js decides, once per thread), "wasm-simd128" otherwise. */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_kernel(void) { return sl_q8_kernel_name(); }

/* sl_q8_kernel_select: "scalar-u7" computes natively what the relaxed kernel computes (the tests compare
   the two engines' outputs bit for bit); before a model loads. 0, or -1 for a kernel this engine lacks. */
EMSCRIPTEN_KEEPALIVE int sl_wasm_select_kernel(const char *name) { return sl_q8_kernel_select(name); }

/* ---- model ---------------------------------------------------------------------------------- */

/* Loads a GGUF model from `size` bytes at `bytes` (allocated with malloc by the caller). The handle owns
   the bytes from here on: they are freed by sl_wasm_free, or now if loading fails. */
EMSCRIPTEN_KEEPALIVE sl_wasm_handle *sl_wasm_load(void *bytes, size_t size) {
    sl_wasm_handle *h = calloc(1, sizeof *h);
    if (!h) {
        free(bytes);
        sl_wasm_set_error(SL_ERR_MEMORY, "no memory for a model handle");
        return NULL;
    }
    if (sl_model_load_writable(bytes, size, "model", &h->model, &sl_wasm_error) != SL_OK) {
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

/* The model's labels in id2label order ("O", "B-PER", ...), and its entity types then the rule
   recogniser's (sl_model_type: "PER", ..., "DATE", ...): NULL past the last. */
EMSCRIPTEN_KEEPALIVE int sl_wasm_n_labels(sl_wasm_handle *h) { return sl_model_n_labels(h->model); }
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_label(sl_wasm_handle *h, int i) {
    return sl_model_label(h->model, i);
}
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_type(sl_wasm_handle *h, int i) {
    return sl_model_type(h->model, i);
}

EMSCRIPTEN_KEEPALIVE int sl_wasm_max_tokens(sl_wasm_handle *h) { return sl_model_max_tokens(h->model); }

/* ---- recognition ---------------------------------------------------------------------------- */

/* ents as the JSON array of the answer, each entity as sl_entity_json writes it without "text" (the JS
   takes the text with UTF-16 indices), into h's buffer */
static const char *entities_json(sl_wasm_handle *h, const sl_entities *ents) {
    size_t len = 1; /* '[' */
    for (size_t i = 0; i < ents->n; i++) len += sl_entity_json(&ents->items[i], NULL, NULL, 0) + 1;
    if (len + 2 > h->json_cap) { /* ']' and the 0 */
        char *grown = realloc(h->json, len + 2);
        if (!grown) {
            sl_wasm_set_error(SL_ERR_MEMORY, "no memory for the JSON answer (%zu bytes)", len + 2);
            return NULL;
        }
        h->json = grown;
        h->json_cap = len + 2;
    }
    size_t at = 0;
    h->json[at++] = '[';
    for (size_t i = 0; i < ents->n; i++) {
        if (i) h->json[at++] = ',';
        at += sl_entity_json(&ents->items[i], NULL, h->json + at, h->json_cap - at);
    }
    h->json[at++] = ']';
    h->json[at] = 0;
    return h->json;
}

/* Entities of `len` bytes of UTF-8 at `text` as a JSON array of {"label","score","start","end"} (byte
   offsets; with aggregation 0 = none the label is the token's, "B-PER") and, for the dates, times, amounts
   and percentages of the rule recogniser (dates = 1), "value". aggregation: 0 none, 1 simple, 2 first,
   3 average, 4 max. stride <= 0: automatic (sl_options.stride 0, as the command line's default, so both
   give the same entities). threads < 1 = 1. decoding: 0 Viterbi (the default, also when JS leaves it out),
   1 per-word argmax (sl_decoding). */
EMSCRIPTEN_KEEPALIVE const char *sl_wasm_recognize(sl_wasm_handle *h, const char *text, size_t len, int aggregation,
                                                   float threshold, int stride, int threads, int dates,
                                                   int decoding) {
    sl_options opt = sl_default_options();
    opt.aggregation = (sl_aggregation)aggregation;
    opt.threshold = threshold;
    opt.n_threads = threads < 1 ? 1 : threads;
    opt.dates = dates != 0;
    opt.stride = stride > 0 ? stride : 0;
    opt.decoding = (sl_decoding)decoding;
#ifndef __EMSCRIPTEN_PTHREADS__
    if (opt.n_threads > 1) {
        sl_wasm_set_error(SL_ERR_UNSUPPORTED, "%d threads asked of the single-thread build", opt.n_threads);
        return NULL;
    }
#endif
    sl_entities ents = {0};
    if (sl_recognize(h->model, text, len, &opt, &ents, &sl_wasm_error) != SL_OK) {
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
    if (sl_recognize_dates(text, len, &ents, &sl_wasm_error) != SL_OK) {
        sl_entities_free(&ents);
        return NULL;
    }
    const char *json = entities_json(&answer, &ents);
    sl_entities_free(&ents);
    return json;
}
