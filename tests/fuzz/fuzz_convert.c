/* A Hugging Face folder from strangers through `surligne convert`: the input is a config.json and a
   model.safetensors, separated by the line FUZZ_SEPARATOR (a dictionary entry; without it, the input is a
   safetensors file for the reader alone). The safetensors reader alone first (every tensor
   converted to f32, which reads all its bytes), then sl_convert_hf on a folder of the two files and the tiny
   SentencePiece model (tests/fuzz/fuzz.h), and the GGUF it writes must load. Files go to a folder of this
   process under TMPDIR, rewritten for every input. */
#define _GNU_SOURCE /* memmem */
#include <limits.h>
#include <unistd.h>

#include "convert.h"
#include "fuzz.h"
#include "safetensors.h"
#include "surligne.h"

#define FUZZ_SEPARATOR "\n--model.safetensors--\n"

static char dir[PATH_MAX];

static void write_all(const char *file, const void *bytes, size_t n) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "fuzz set-up: cannot write %s\n", path);
        exit(2);
    }
}

static void remove_folder(void) {
    const char *files[] = {"config.json", "model.safetensors", "sentencepiece.bpe.model"};
    char path[PATH_MAX + 32];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The folder, holding the tiny vocabulary's .model. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/surligne-fuzz-convert-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz set-up: cannot create %s\n", dir);
        exit(2);
    }
    atexit(remove_folder);
    fuzz_tiny_vocab t;
    fuzz_make_tiny_vocab(&t, 0);
    uint8_t *spm;
    size_t n;
    sl_error err;
    FUZZ_SETUP(sl_spm_serialize(&t.v, &spm, &n, &err) == SL_OK, "the tiny SentencePiece model", &err);
    write_all("sentencepiece.bpe.model", spm, n);
    free(spm);
    return 0;
}

static void check_safetensors(const uint8_t *data, size_t size) {
    sl_safetensors *st = NULL;
    sl_error err;
    if (sl_safetensors_parse(data, size, "fuzz.safetensors", &st, &err) != SL_OK) {
        FUZZ_CHECK(!st && strstr(err.message, "fuzz.safetensors"), "failed parse must name the file: '%s'",
                   err.message);
        return;
    }
    for (size_t i = 0; i < sl_safetensors_count(st); i++) {
        const sl_st_tensor *t = sl_safetensors_tensor(st, i);
        FUZZ_CHECK(t->name && sl_safetensors_find(st, t->name) == t, "tensor %zu is not found by its name",
                   i);
        FUZZ_CHECK(t->data >= data && t->nbytes <= size && (size_t)(t->data - data) <= size - t->nbytes,
                   "tensor '%s' outside the file", t->name);
        if (t->dtype == SL_DT_OTHER || t->n_elements > 1 << 20) continue;
        float *f = malloc(((size_t)t->n_elements ? (size_t)t->n_elements : 1) * sizeof *f);
        FUZZ_CHECK(f, "no memory");
        sl_to_f32(t->dtype, t->data, f, (size_t)t->n_elements);
        free(f);
    }
    sl_safetensors_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *st = data;
    size_t st_size = size;
    const uint8_t *sep = memmem(data, size, FUZZ_SEPARATOR, sizeof FUZZ_SEPARATOR - 1);
    if (sep) {
        write_all("config.json", data, (size_t)(sep - data));
        st = sep + sizeof FUZZ_SEPARATOR - 1;
        st_size = size - (size_t)(st - data);
    }
    check_safetensors(st, st_size);
    if (!sep) return 0;
    write_all("model.safetensors", st, st_size);

    uint8_t *gguf = NULL;
    size_t gguf_size = 0;
    sl_error err;
    if (sl_convert_hf(dir, NULL, NULL, &gguf, &gguf_size, &err) != SL_OK) {
        FUZZ_CHECK(!gguf, "a failed conversion gave bytes");
        return 0;
    }
    sl_model *m = NULL;
    sl_status s = sl_model_load_memory(gguf, gguf_size, "converted.gguf", &m, &err);
    FUZZ_CHECK(s == SL_OK, "the converted model does not load: %s", err.message);
    sl_model_free(m);
    free(gguf);
    return 0;
}
