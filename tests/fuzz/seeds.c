/* Writes the seed corpora of the harnesses into OUT/<harness>/ (tests/fuzz/run.sh runs it before fuzzing):
   made from the fixtures and from the tiny model of fuzz.h, so nothing large is committed.
     model      the tiny model as f32, f16 and q8_0 GGUF (and q8_0 / f32 with q5_0 / q4_0 word embeddings),
   and its masked-LM variant (no labels) convert    config.json + FUZZ_SEPARATOR + model.safetensors of those
   exported to Hugging Face folders spm        the tiny vocabulary as a .model, without and with the fixture's
   charsmap json       the fixtures' JSON files, an exported config.json and safetensors header, a few edge
   cases conll      small CoNLL texts of each layout, behind fuzz_conll's mode byte tokenize, recognize
   (behind two option bytes), dates   sentences of tests/dates and the tokenizer fixture Usage: fuzz_seeds OUT
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "export.h"
#include "fuzz.h"
#include "gguf.h"

static const char *out_dir;

static __attribute__((noreturn)) void fail(const char *what, const sl_error *err) {
    fprintf(stderr, "fuzz_seeds: %s: %s\n", what, err ? err->message : strerror(errno));
    exit(1);
}

static void put(const char *harness, const char *name, const void *bytes, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, harness);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) fail(path, NULL);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
    sl_atomic_file *f;
    sl_error err;
    if (sl_atomic_open(path, &f, &err) || sl_atomic_write(f, bytes, n, &err) || sl_atomic_commit(f, &err))
        fail(path, &err);
}

static uint8_t *read_or_fail(const char *path, size_t *n) {
    uint8_t *data;
    sl_error err;
    if (sl_read_file(path, &data, n, &err) != SL_OK) fail(path, &err);
    return data;
}

/* An exported folder's config.json + FUZZ_SEPARATOR + model.safetensors, and the JSON header alone. */
static void convert_seed(const uint8_t *gguf, size_t size, const char *name) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/export-%s", out_dir, name);
    sl_error err;
    sl_export_options opt = {SL_EXPORT_AUTO, true};
    if (sl_export_hf(gguf, size, name, dir, &opt, NULL, &err) != SL_OK) fail("export", &err);
    size_t nc, ns;
    snprintf(path, sizeof path, "%s/config.json", dir);
    uint8_t *config = read_or_fail(path, &nc);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    uint8_t *st = read_or_fail(path, &ns);
    static const char sep[] = "\n--model.safetensors--\n";
    uint8_t *both = malloc(nc + sizeof sep - 1 + ns);
    if (!both) fail("no memory", NULL);
    memcpy(both, config, nc);
    memcpy(both + nc, sep, sizeof sep - 1);
    memcpy(both + nc + sizeof sep - 1, st, ns);
    char file[256];
    snprintf(file, sizeof file, "%s.folder", name);
    put("convert", file, both, nc + sizeof sep - 1 + ns);
    snprintf(file, sizeof file, "%s.safetensors", name);
    put("convert", file, st, ns);
    snprintf(file, sizeof file, "%s-config.json", name);
    put("json", file, config, nc);
    uint64_t header = 0;
    for (int i = 7; i >= 0 && ns >= 8; i--) header = header << 8 | st[i];
    snprintf(file, sizeof file, "%s-header.json", name);
    if (ns >= 8 && header <= ns - 8) put("json", file, st + 8, (size_t)header);
    free(both);
    free(config);
    free(st);
}

static void models(void) {
    fuzz_tiny_vocab t;
    fuzz_make_tiny_vocab(&t, 0);
    sl_error err;
    uint8_t *f32, *mlm, *q;
    size_t n32, nmlm, nq;
    if (sl_model_random_shape(FUZZ_LAYERS, FUZZ_HIDDEN, FUZZ_HEADS, FUZZ_FF, &t.v, FUZZ_LABELS, FUZZ_N_LABELS,
                              1, 0, &f32, &n32, &err) ||
        sl_model_random_shape(FUZZ_LAYERS, FUZZ_HIDDEN, FUZZ_HEADS, FUZZ_FF, &t.v, NULL, 0, 2, 0, &mlm, &nmlm,
                              &err))
        fail("tiny model", &err);
    put("model", "tiny-f32.gguf", f32, n32);
    put("model", "tiny-mlm.gguf", mlm, nmlm);
    const struct {
        uint32_t type, embd;
        const char *name;
    } types[] = {{SL_GGML_F16, SL_GGML_F16, "tiny-f16.gguf"},
                 {SL_GGML_Q8_0, SL_GGML_Q8_0, "tiny-q8_0.gguf"},
                 {SL_GGML_Q8_0, SL_GGML_Q5_0, "tiny-q8_0-q5_0.gguf"},
                 {SL_GGML_F32, SL_GGML_Q4_0, "tiny-f32-q4_0.gguf"}};
    for (int i = 0; i < 4; i++) {
        if (sl_quantize_model(f32, n32, "tiny", types[i].type, types[i].embd, NULL, &q, &nq, NULL, &err))
            fail("quantize", &err);
        put("model", types[i].name, q, nq);
        free(q);
    }
    /* with label transitions (surligne.label_transitions, surligne.transition_weight) */
    float table[(FUZZ_N_LABELS + 1) * FUZZ_N_LABELS];
    for (int i = 0; i < (FUZZ_N_LABELS + 1) * FUZZ_N_LABELS; i++) table[i] = -0.25f * (float)(i % 7);
    if (sl_model_file_with_transitions(f32, n32, "tiny", table, 0.5f, NULL, &q, &nq, &err))
        fail("transitions", &err);
    put("model", "tiny-transitions.gguf", q, nq);
    free(q);
    convert_seed(f32, n32, "tiny");
    convert_seed(mlm, nmlm, "tiny-mlm");
    free(f32);
    free(mlm);

    /* The fixture's charsmap is 237 KB (44,288 trie units, each checked against 255 bytes at load): too slow
       to mutate. Its trie cut to its first 4096 units keeps real double-array structure at a third of the
       size: children past the cut are absent, and a leaf past the cut is unmarked (bit 8 of its node). */
    fuzz_make_tiny_vocab(&t, 1);
    const uint8_t *full = t.v.charsmap;
    const size_t full_len = t.v.charsmap_len, units = 4096, bytes = units * 4;
    const size_t trie =
        (size_t)full[0] | (size_t)full[1] << 8 | (size_t)full[2] << 16 | (size_t)full[3] << 24;
    const size_t pool = full_len - 4 - trie;
    if (trie <= bytes) fail("the fixture's charsmap is smaller than expected", NULL);
    uint8_t *cut = malloc(4 + bytes + pool);
    if (!cut) fail("no memory", NULL);
    cut[0] = (uint8_t)bytes, cut[1] = (uint8_t)(bytes >> 8), cut[2] = (uint8_t)(bytes >> 16), cut[3] = 0;
    memcpy(cut + 4 + bytes, full + 4 + trie, pool);
    uint32_t u[4096];
    memcpy(u, full + 4, bytes); /* little-endian, as the machine */
    for (size_t p = 0; p < units; p++) {
        const uint32_t off = (u[p] >> 10) << ((u[p] & (1u << 9)) >> 6);
        if (!(u[p] >> 31) && (u[p] >> 8 & 1) && ((p ^ off) >= units || (u[p ^ off] & 0x7fffffff) >= pool))
            u[p] &= ~(1u << 8);
    }
    memcpy(cut + 4, u, bytes);
    uint8_t *spm;
    size_t n;
    for (int charsmap = 0; charsmap < 2; charsmap++) {
        fuzz_make_tiny_vocab(&t, charsmap);
        if (charsmap) t.v.charsmap = cut, t.v.charsmap_len = 4 + bytes + pool;
        if (sl_spm_serialize(&t.v, &spm, &n, &err)) fail("tiny SentencePiece model", &err);
        put("spm", charsmap ? "tiny-charsmap.model" : "tiny.model", spm, n);
        free(spm);
    }
    free(cut);
}

static void json(void) {
    const char *files[] = {"config.json", "tokenizer_config.json", "special_tokens_map.json"};
    char path[4096];
    for (int i = 0; i < 3; i++) {
        size_t n;
        snprintf(path, sizeof path, "%s/tests/fixtures/tiny-hf/%s", SL_SOURCE_DIR, files[i]);
        uint8_t *bytes = read_or_fail(path, &n);
        put("json", files[i], bytes, n);
        free(bytes);
    }
    const char *edge[] = {
        "[1e308, -0.0, 2.5E-3, 0, -1, 123456789012345678901234567890]",
        "{\"a\": \"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\", \"b\": [true, false, null, {}], \"a\": []}",
        "\xef\xbb\xbf{\"id2label\": {\"0\": \"O\", \"1\": \"B-PER\"}}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"x\": [[[[[[[[[[]]]]]]]]]]}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "edge-%d.json", i);
        put("json", name, edge[i], strlen(edge[i]));
    }
}

static void conll(void) {
    /* the first byte is fuzz_conll's mode: 0 labels from the data, 1-3 a model's set, 4-6 with unknown -> O
     */
    const char *texts[] = {
        "\x00"
        "Emmanuel B-PER\nMacron I-PER\nest O\n\xc3\xa0 O\nParis B-LOC\n. O\n\nLe O\nMonde B-ORG\n",
        "\x01"
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n",
        "\x02"
        "1\tMarie\tS-PER\n2\tCurie\tO\n\n1\tLyon\tB-LOC\n2\tPart-Dieu\tE-LOC\n",
        "\x03\xef\xbb\xbf"
        "Victor I-PER\r\nHugo I-PER\r\n\r\nParis I-LOC\r\n",
        "\x04"
        "Jean B-PER\nValjean I-PER\nrencontre O\nJavert B-MISC\n\n\n\nfin O\n",
        "\x05"
        "l' O\nEurope B-LOC\n",
    };
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "sample-%d.conll", i);
        put("conll", name, texts[i], 1 + strlen(texts[i] + 1)); /* the mode byte may be 0 */
    }
}

/* Sentences: the first field of tests/dates/fr-dates.tsv's lines and of the tokenizer fixture's. */
static void texts(void) {
    const char *sources[] = {"tests/dates/fr-dates.tsv", "tests/fixtures/tokenizer_sample.tsv"};
    int written = 0;
    for (int s = 0; s < 2; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", SL_SOURCE_DIR, sources[s]);
        size_t n;
        char *text = (char *)read_or_fail(path, &n);
        int taken = 0;
        for (char *line = text, *next; line < text + n && taken < 60; line = next) {
            next = memchr(line, '\n', (size_t)(text + n - line));
            next = next ? next + 1 : text + n;
            char *tab = memchr(line, '\t', (size_t)(next - line));
            if (!tab || line[0] == '#' || line == text) continue; /* comments and the header line */
            const size_t len = (size_t)(tab - line);
            char name[32], *with_options = malloc(len + 2);
            if (!with_options) fail("no memory", NULL);
            snprintf(name, sizeof name, "s%03d.txt", written);
            put("tokenize", name, line, len);
            put("dates", name, line, len);
            /* fuzz_recognize's option bytes: each aggregation, windows from 3 tokens to the model's */
            with_options[0] = (char)(written % 5 | (written & 8) | (written & 16));
            with_options[1] = (char)(written % 3 == 0 ? 0x80 : written % 32);
            memcpy(with_options + 2, line, len);
            put("recognize", name, with_options, len + 2);
            free(with_options);
            taken++, written++;
        }
        free(text);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds OUT\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) fail(out_dir, NULL);
    models();
    json();
    conll();
    texts();
    return 0;
}
