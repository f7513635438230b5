/* sl_recognize on any bytes, with the fixtures' tiny model (tests/fixtures/tiny-hf, converted once): the
   first two bytes choose the options (aggregation, a short window so that long texts take many windows, the
   stride, dates, punctuation, threshold), the rest is the text. Entities are in the text, non-empty, in text
   order, labelled, and their values terminated; invalid UTF-8 is SL_ERR_UTF8. */
#include "convert.h"
#include "fuzz.h"
#include "surligne.h"

static sl_model *m;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static uint8_t *gguf; /* the bytes must outlive the model: kept for the whole run */
    size_t n;
    sl_error err;
    sl_status s = sl_convert_hf(SL_SOURCE_DIR "/tests/fixtures/tiny-hf", NULL, NULL, &gguf, &n, &err);
    FUZZ_SETUP(s == SL_OK, "converting tests/fixtures/tiny-hf", &err);
    FUZZ_SETUP(sl_model_load_memory(gguf, n, "tiny-hf", &m, &err) == SL_OK, "loading tiny-hf", &err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_error err;
    if (size < 2) return 0;
    const uint8_t a = data[0], b = data[1];
    const char *text = (const char *)data + 2;
    const size_t len = size - 2;
    sl_options opt = sl_default_options();
    opt.aggregation = (sl_aggregation)(a % 5);
    opt.dates = (a >> 3) & 1;
    opt.keep_punctuation = (a >> 4) & 1;
    opt.threshold = (a >> 5) / 8.0f;
    opt.max_tokens = b & 0x80 ? 0 : 3 + (b & 0x1f); /* 0: the model's own window */
    opt.stride = (b >> 5) & 3;                      /* 0: automatic */
    if (opt.max_tokens && opt.stride >= opt.max_tokens - 2) opt.stride = 0;
    sl_entities e = {0};
    sl_status s = sl_recognize(m, text, len, &opt, &e, &err);
    if (s != SL_OK) {
        FUZZ_CHECK(s == SL_ERR_UTF8, "status %s: %s", sl_status_name(s), err.message);
        sl_entities_free(&e);
        return 0;
    }
    for (size_t i = 0; i < e.n; i++) {
        const sl_entity *x = &e.items[i];
        FUZZ_CHECK(x->label && x->start < x->end && x->end <= len, "entity %zu [%zu, %zu) of %zu bytes", i,
                   x->start, x->end, len);
        FUZZ_CHECK(!i || x->start >= e.items[i - 1].start, "entity %zu out of text order", i);
        FUZZ_CHECK(memchr(x->value, 0, sizeof x->value), "entity %zu: value not terminated", i);
    }
    sl_entities_free(&e);
    return 0;
}
