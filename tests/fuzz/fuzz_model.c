/* GGUF model files from strangers (a URL typed in the options page): any bytes through the GGUF reader (every
   key and tensor walked), then sl_model_load_memory and, when the model loads, one recognition. Never a
   crash, a read outside the bytes, a leak or an allocation the file's size does not justify; the entities in
   the text. Seeds: the tiny models tests/fuzz/seeds.c writes (f32, f16, q8_0, masked-LM). */
#include "fuzz.h"
#include "gguf.h"
#include "surligne.h"

static const char TEXT[] = "Gérald Darmanin a rendu visite à Nicolas Sarkozy à Paris le 3 mars 2024.";

static void walk_gguf(const uint8_t *data, size_t size) {
    sl_gguf *g = NULL;
    sl_error err;
    if (sl_gguf_parse(data, size, "fuzz.gguf", &g, &err) != SL_OK) {
        FUZZ_CHECK(!g && strstr(err.message, "fuzz.gguf"), "failed parse must name the file: '%s'",
                   err.message);
        return;
    }
    volatile size_t sum = 0; /* touches every byte the reader hands out */
    for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        FUZZ_CHECK(kv->name >= (const char *)data && kv->name + kv->name_len <= (const char *)data + size,
                   "key %zu outside the file", i);
        if (kv->type == SL_GGUF_STRING && kv->str_len) sum += (uint8_t)kv->str[kv->str_len - 1];
        if (kv->type == SL_GGUF_ARRAY && kv->arr_type == SL_GGUF_STRING) {
            char key[256];
            if (kv->name_len >= sizeof key) continue;
            memcpy(key, kv->name, kv->name_len);
            key[kv->name_len] = 0;
            if (sl_gguf_find_kv(g, key) != kv) continue; /* keys are unique: this one is the one found */
            for (uint64_t j = 0; j < kv->arr_n; j++) {
                const char *s;
                size_t len;
                FUZZ_CHECK(sl_gguf_arr_str(g, key, j, &s, &len, &err) == SL_OK, "string %llu of '%s': %s",
                           (unsigned long long)j, key, err.message);
                if (len) sum += (uint8_t)s[len - 1];
            }
        }
    }
    for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        FUZZ_CHECK(t->data >= data && t->nbytes <= size && t->data - data <= (ptrdiff_t)(size - t->nbytes),
                   "tensor %zu outside the file", i);
        if (t->nbytes) sum += t->data[0] + t->data[t->nbytes - 1];
    }
    (void)sum;
    sl_gguf_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    walk_gguf(data, size);
    sl_model *m = NULL;
    sl_error err;
    if (sl_model_load_memory(data, size, "fuzz.gguf", &m, &err) != SL_OK) {
        FUZZ_CHECK(!m && strstr(err.message, "fuzz.gguf"), "failed load must name the file: '%s'",
                   err.message);
        return 0;
    }
    const int n_labels = sl_model_n_labels(m);
    for (int i = 0; i < n_labels; i++)
        FUZZ_CHECK(sl_model_label(m, i), "label %d of %d is NULL", i, n_labels);
    sl_options opt = sl_default_options();
    opt.aggregation = SL_AGG_SIMPLE;
    sl_entities e = {0};
    if (sl_recognize(m, TEXT, sizeof TEXT - 1, &opt, &e, &err) == SL_OK)
        for (size_t i = 0; i < e.n; i++)
            FUZZ_CHECK(e.items[i].label && e.items[i].start < e.items[i].end &&
                           e.items[i].end <= sizeof TEXT - 1,
                       "entity %zu [%zu, %zu) of a %zu-byte text", i, e.items[i].start, e.items[i].end,
                       sizeof TEXT - 1);
    sl_entities_free(&e);
    sl_model_free(m);
    return 0;
}
