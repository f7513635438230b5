/* surligne export: Hugging Face folder -> GGUF (convert) -> Hugging Face folder (export) gives back the same
   tensors bit for bit, the same config.json fields and a sentencepiece.bpe.model that tokenises as the
   original, for the token-classification fixture (tiny-hf, and its F16/BF16 copies) and the masked-LM one
   (tiny-mlm-hf). Also: the choice of head (--arch), q8_0 and f16 files, a non-empty folder, errors that name
   the file and the tensor, and the pieces the exporter is made of (safetensors writer, SentencePiece writer,
   the GGUF vocabulary, JSON quoting). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "export.h"
#include "fileio.h"
#include "gguf.h"
#include "json.h"
#include "quant.h"
#include "safetensors.h"
#include "tokenizer.h"

#define TINY "tests/fixtures/tiny-hf"
#define TINY_MLM "tests/fixtures/tiny-mlm-hf"
static const char *const FILES[] = {"config.json", "model.safetensors", "sentencepiece.bpe.model",
                                    "tokenizer_config.json", "special_tokens_map.json"};
enum { N_FILES = sizeof FILES / sizeof *FILES };

static char tmp_root[64];

/* ---- helpers -------------------------------------------------------------------------------------- */

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A fresh folder path under the test's temporary root (not created: the exporter creates it). */
static const char *out_dir(const char *name) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    remove_tree(path);
    return path;
}

static int count_entries(const char *dir, int *n_tmp) {
    DIR *d = opendir(dir);
    int n = 0;
    *n_tmp = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        *n_tmp += strstr(e->d_name, ".tmp.") != NULL;
    }
    closedir(d);
    return n;
}

static uint8_t *read_in(const char *dir, const char *file, size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    uint8_t *data = NULL;
    sl_error err;
    if (sl_read_file(path, &data, size, &err)) return NULL;
    return data;
}

static int same_file(const char *dir_a, const char *dir_b, const char *file) {
    size_t na, nb;
    uint8_t *a = read_in(dir_a, file, &na), *b = read_in(dir_b, file, &nb);
    int same = a && b && na == nb && memcmp(a, b, na) == 0;
    free(a);
    free(b);
    return same;
}

/* The GGUF of a Hugging Face folder, in memory; labels NULL: the folder's own head. */
static uint8_t *convert_dir(const char *dir, const char *labels, size_t *size) {
    sl_error err = {0};
    char **names = NULL;
    int n = 0;
    if (labels && sl_labels_from_list(labels, &names, &n, &err)) {
        CHECK(0, "labels: %s", err.message);
        return NULL;
    }
    sl_convert_options opt = {(const char *const *)names, n, 42};
    uint8_t *data = NULL;
    sl_status s = sl_convert_hf(dir, &opt, NULL, &data, size, &err);
    sl_labels_free(names, n);
    CHECK(s == SL_OK, "convert %s: %s", dir, err.message);
    return s == SL_OK ? data : NULL;
}

static sl_status export_to(const uint8_t *gguf, size_t size, const char *dir, sl_export_arch arch, bool force,
                           sl_export_report *rep, sl_error *err) {
    sl_export_options opt = {arch, force};
    return sl_export_hf(gguf, size, "model.gguf", dir, &opt, rep, err);
}

/* Two JSON values equal: same type and value, objects with the same keys (in any order). */
static int json_equal(const sl_json *a, const sl_json *b) {
    if (!a || !b || a->type != b->type || a->n_children != b->n_children) return 0;
    switch (a->type) {
    case SL_JSON_NULL: return 1;
    case SL_JSON_BOOL:
    case SL_JSON_NUMBER: return a->number == b->number;
    case SL_JSON_STRING: return a->string_len == b->string_len && !memcmp(a->string, b->string, a->string_len);
    case SL_JSON_ARRAY:
        for (const sl_json *x = a->child, *y = b->child; x; x = x->next, y = y->next)
            if (!json_equal(x, y)) return 0;
        return 1;
    case SL_JSON_OBJECT:
        for (const sl_json *x = a->child; x; x = x->next)
            if (!json_equal(x, sl_json_get(b, x->key))) return 0;
        return 1;
    }
    return 0;
}

/* Every key of the original config.json is in the exported one with the same value; architectures as
   expected; no other key. */
static void check_config(const char *orig_dir, const char *dir, const char *what) {
    size_t na, nb;
    uint8_t *a = read_in(orig_dir, "config.json", &na), *b = read_in(dir, "config.json", &nb);
    sl_json *ja = NULL, *jb = NULL;
    sl_error err = {0};
    CHECK(a && b && !sl_json_parse((char *)a, na, "original config.json", &ja, &err) &&
              !sl_json_parse((char *)b, nb, "exported config.json", &jb, &err),
          "%s: config.json: %s", what, err.message);
    if (ja && jb) {
        for (const sl_json *x = ja->child; x; x = x->next)
            CHECK(json_equal(x, sl_json_get(jb, x->key)), "%s: config.json key '%s' differs", what, x->key);
        CHECK(ja->n_children == jb->n_children, "%s: config.json has %zu keys, the original %zu", what,
              jb->n_children, ja->n_children);
    }
    sl_json_free(ja);
    sl_json_free(jb);
    free(a);
    free(b);
}

/* The exported model.safetensors holds the original's tensors, the same names and shapes, all F32, each
   bit for bit the original's values (F16/BF16 originals widened), and nothing else. */
static void check_tensors(const char *orig_dir, const char *dir, const char *what) {
    size_t na, nb;
    uint8_t *a = read_in(orig_dir, "model.safetensors", &na), *b = read_in(dir, "model.safetensors", &nb);
    sl_safetensors *sa = NULL, *sb = NULL;
    sl_error err = {0};
    CHECK(a && b && !sl_safetensors_parse(a, na, "original", &sa, &err) &&
              !sl_safetensors_parse(b, nb, "exported", &sb, &err),
          "%s: %s", what, err.message);
    if (!sa || !sb) goto done;
    CHECK(sl_safetensors_count(sa) == sl_safetensors_count(sb), "%s: %zu tensors exported, %zu in the original",
          what, sl_safetensors_count(sb), sl_safetensors_count(sa));
    int bad = 0;
    for (size_t i = 0; i < sl_safetensors_count(sa); i++) {
        const sl_st_tensor *x = sl_safetensors_tensor(sa, i), *y = sl_safetensors_find(sb, x->name);
        if (!y || y->dtype != SL_DT_F32 || y->n_dims != x->n_dims || y->n_elements != x->n_elements ||
            memcmp(y->shape, x->shape, (size_t)x->n_dims * sizeof *x->shape)) {
            CHECK(0, "%s: tensor '%s' missing or with another dtype/shape", what, x->name);
            continue;
        }
        float *fx = malloc((size_t)x->n_elements * sizeof *fx), *fy = malloc((size_t)x->n_elements * sizeof *fy);
        sl_to_f32(x->dtype, x->data, fx, (size_t)x->n_elements);
        sl_to_f32(y->dtype, y->data, fy, (size_t)x->n_elements);
        if (memcmp(fx, fy, (size_t)x->n_elements * sizeof *fx)) {
            bad++;
            CHECK(0, "%s: tensor '%s' differs", what, x->name);
        }
        free(fx);
        free(fy);
    }
    CHECK(bad == 0, "%s: %d tensors differ", what, bad);
done:
    sl_safetensors_free(sa);
    sl_safetensors_free(sb);
    free(a);
    free(b);
}

/* French texts: accents, digits, punctuation, runs of whitespace, emoji, compatibility forms. */
static const char *const SAMPLES[] = {
    "Gérald Darmanin, ministre de l'Intérieur, a rendu visite à Nicolas Sarkozy.",
    "  Le   14 juillet 1789,\tla Bastille   tombe.\n\nÇa    ira ! ",
    "Prix : 1 234,56 € (TVA 20 %) — soit 0,5 % de plus qu'en 2023…",
    "« Où est l'hôtel ? » demanda-t-elle ; « à Saint-Étienne-du-Rouvray », répondit Zoé.",
    "Émoji : 🙂👍🏽 🇫🇷 👩‍👩‍👧 ❤️ et ｐｌｅｉｎｅ ｌａｒｇｅｕｒ, ﬁn, Ⅻ, ½, œuvre, Œdipe.",
    "e\xcc\x81te\xcc\x81 (accents combinants), no-break\xc2\xa0space, tiret\xe2\x80\x91insécable, \xe2\x80\x8b.",
    "https://www.example.fr/chemin?q=été&n=42 — courriel : jean.dupont@exemple.fr",
    "MAJUSCULES ÀÂÄÉÈÊËÎÏÔÖÙÛÜŸÇ minuscules àâäéèêëîïôöùûüÿç",
    "",
    "   ",
    "中文 русский العربية ελληνικά",
};

static void check_tokenizer(const char *orig_dir, const char *dir, const char *what) {
    size_t na, nb;
    uint8_t *a = read_in(orig_dir, "sentencepiece.bpe.model", &na), *b = read_in(dir, "sentencepiece.bpe.model", &nb);
    sl_spm_vocab *va = NULL, *vb = NULL;
    sl_error err = {0};
    CHECK(a && b && !sl_spm_parse(a, na, "original", &va, &err) && !sl_spm_parse(b, nb, "exported", &vb, &err),
          "%s: %s", what, err.message);
    if (!va || !vb) goto done;
    const sl_vocab *x = sl_spm_vocab_get(va), *y = sl_spm_vocab_get(vb);
    CHECK(x->n_tokens == y->n_tokens && x->unk_id == y->unk_id && x->bos_id == y->bos_id && x->eos_id == y->eos_id &&
              x->pad_id == y->pad_id && x->mask_id == y->mask_id && x->add_dummy_prefix == y->add_dummy_prefix &&
              x->remove_extra_whitespaces == y->remove_extra_whitespaces &&
              x->escape_whitespaces == y->escape_whitespaces && x->charsmap_len == y->charsmap_len &&
              !memcmp(x->charsmap, y->charsmap, x->charsmap_len),
          "%s: the vocabularies' sizes, ids, flags or charsmaps differ", what);
    int bad = 0;
    for (int i = 0; x->n_tokens == y->n_tokens && i < x->n_tokens; i++)
        bad += x->piece_lens[i] != y->piece_lens[i] || memcmp(x->pieces[i], y->pieces[i], x->piece_lens[i]) ||
               memcmp(&x->scores[i], &y->scores[i], sizeof(float)) || x->types[i] != y->types[i];
    CHECK(bad == 0, "%s: %d pieces differ in text, score or type", what, bad);
    /* the pieces of a .model (everything before the trainer_spec) are written back byte for byte */
    size_t pieces_end = 0;
    while (pieces_end < na && a[pieces_end] == 0x0a) { /* field 1, length-delimited: skip the piece */
        size_t len = 0, at = pieces_end + 1;
        for (int shift = 0; at < na; shift += 7) {
            len |= (size_t)(a[at] & 0x7f) << shift;
            if (!(a[at++] & 0x80)) break;
        }
        pieces_end = at + len;
    }
    CHECK(pieces_end > 0 && pieces_end <= nb && !memcmp(a, b, pieces_end), "%s: the pieces' bytes differ", what);

    sl_tokenizer *ta = NULL, *tb = NULL;
    CHECK(!sl_tokenizer_create(x, &ta, &err) && !sl_tokenizer_create(y, &tb, &err), "%s: %s", what, err.message);
    sl_tokens ka = {0}, kb = {0};
    size_t n_samples = sizeof SAMPLES / sizeof *SAMPLES, n_ids = 0;
    for (size_t i = 0; ta && tb && i < n_samples; i++) {
        sl_status sa = sl_tokenize(ta, SAMPLES[i], strlen(SAMPLES[i]), &ka, &err);
        sl_status sb = sl_tokenize(tb, SAMPLES[i], strlen(SAMPLES[i]), &kb, &err);
        CHECK(sa == SL_OK && sb == SL_OK && ka.n == kb.n && !memcmp(ka.ids, kb.ids, (size_t)ka.n * sizeof *ka.ids) &&
                  !memcmp(ka.start, kb.start, (size_t)ka.n * sizeof *ka.start) &&
                  !memcmp(ka.end, kb.end, (size_t)ka.n * sizeof *ka.end),
              "%s: sample %zu tokenises differently", what, i);
        n_ids += (size_t)ka.n;
    }
    CHECK(n_ids > 150, "%s: only %zu tokens in the samples", what, n_ids);
    sl_tokens_free(&ka);
    sl_tokens_free(&kb);
    sl_tokenizer_free(ta);
    sl_tokenizer_free(tb);
done:
    sl_spm_vocab_free(va);
    sl_spm_vocab_free(vb);
    free(a);
    free(b);
}

/* A GGUF rewritten: without the tensor `skip`, with `labels` in surligne.labels (NULL: kept, else the
   file's classifier is left out) and, when `classifier`, a new classifier for them. */
static uint8_t *rewrite_gguf(const uint8_t *data, size_t size, const char *skip, const char *const *labels,
                             int n_labels, int classifier, size_t *out_size) {
    sl_gguf *g = NULL;
    sl_error err = {0};
    if (sl_gguf_parse(data, size, "in.gguf", &g, &err)) {
        CHECK(0, "%s", err.message);
        return NULL;
    }
    sl_gguf_writer *w = sl_gguf_writer_new();
    for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        if (labels && kv->name_len == 15 && !memcmp(kv->name, "surligne.labels", 15)) continue;
        sl_gguf_add_kv_copy(w, kv);
    }
    if (labels) sl_gguf_add_arr_str(w, "surligne.labels", labels, NULL, (uint64_t)n_labels);
    char names[64][96];
    int n_names = 0;
    int64_t C = 0;
    for (size_t i = 0; i < sl_gguf_n_tensors(g) && n_names < 64; i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        snprintf(names[n_names], sizeof names[n_names], "%.*s", (int)t->name_len, t->name);
        if (!strcmp(names[n_names], "token_embd.weight")) C = t->ne[0];
        if ((skip && !strcmp(names[n_names], skip)) || (labels && !strncmp(names[n_names], "classifier.", 11))) continue;
        sl_gguf_add_tensor(w, names[n_names], t->type, t->n_dims, t->ne, t->data);
        n_names++;
    }
    float *cls = calloc((size_t)(C + 1) * (size_t)n_labels, sizeof *cls);
    for (int64_t i = 0; i < (C + 1) * n_labels; i++) cls[i] = (float)(i % 7) * 0.01f - 0.03f;
    if (classifier) {
        int64_t ne_w[2] = {C, n_labels}, ne_b[1] = {n_labels};
        sl_gguf_add_tensor(w, "classifier.weight", SL_GGML_F32, 2, ne_w, cls);
        sl_gguf_add_tensor(w, "classifier.bias", SL_GGML_F32, 1, ne_b, cls + C * n_labels);
    }
    uint8_t *out = NULL;
    CHECK(sl_gguf_writer_to_memory(w, &out, out_size, &err) == SL_OK, "%s", err.message);
    sl_gguf_writer_free(w);
    sl_gguf_free(g);
    free(cls);
    return out;
}

/* ---- the round trips ------------------------------------------------------------------------------ */

static void test_token_classification(void) {
    size_t size;
    uint8_t *gguf = convert_dir(TINY, NULL, &size);
    if (!gguf) return;
    const char *dir = out_dir("tiny-hf");
    sl_export_report rep;
    sl_error err = {0};
    CHECK(export_to(gguf, size, dir, SL_EXPORT_AUTO, false, &rep, &err) == SL_OK, "%s", err.message);
    CHECK(!strcmp(rep.architecture, "CamembertForTokenClassification") && rep.n_tensors == 39 &&
              !rep.n_dequantised && !rep.n_widened && !rep.dropped_mlm && !rep.dropped_classifier,
          "report: %s, %d tensors", rep.architecture, rep.n_tensors);
    int n_tmp;
    CHECK(count_entries(dir, &n_tmp) == N_FILES && n_tmp == 0, "the folder holds the five files only");
    check_tensors(TINY, dir, "tiny-hf");
    check_config(TINY, dir, "tiny-hf");
    check_tokenizer(TINY, dir, "tiny-hf");
    /* written as transformers and the reference writer write them: the same bytes */
    for (int f = 0; f < N_FILES; f++)
        if (strcmp(FILES[f], "sentencepiece.bpe.model"))
            CHECK(same_file(TINY, dir, FILES[f]), "tiny-hf: %s is not byte for byte the original", FILES[f]);

    /* a folder that is not empty: refused, then replaced with force, other files kept */
    char path[256];
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *f = fopen(path, "w");
    if (f) fputs("# model card\n", f), fclose(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    if (f) fputs("{}\n", f), fclose(f);
    sl_status s = export_to(gguf, size, dir, SL_EXPORT_AUTO, false, &rep, &err);
    CHECK(s == SL_ERR_ARGUMENT && strstr(err.message, "not empty"), "not empty: %d %s", s, err.message);
    CHECK(!same_file(TINY, dir, "config.json"), "a refused export changes nothing");
    CHECK(export_to(gguf, size, dir, SL_EXPORT_AUTO, true, &rep, &err) == SL_OK, "force: %s", err.message);
    CHECK(count_entries(dir, &n_tmp) == N_FILES + 1 && n_tmp == 0 && same_file(TINY, dir, "config.json"),
          "force: the five files replaced, README.md kept, no temporary left");
    /* a parent that does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir", tmp_root);
    s = export_to(gguf, size, path, SL_EXPORT_AUTO, false, &rep, &err);
    CHECK(s == SL_ERR_IO && strstr(err.message, path), "missing parent: %d %s", s, err.message);

    /* --arch: model (the encoder alone, CamembertModel's names), masked-lm (no such head) */
    dir = out_dir("tiny-hf-model");
    CHECK(export_to(gguf, size, dir, SL_EXPORT_MODEL, false, &rep, &err) == SL_OK, "%s", err.message);
    CHECK(!strcmp(rep.architecture, "CamembertModel") && rep.n_tensors == 37 && rep.dropped_classifier, "model: %s %d",
          rep.architecture, rep.n_tensors);
    size_t n;
    uint8_t *st_bytes = read_in(dir, "model.safetensors", &n);
    sl_safetensors *st = NULL;
    if (st_bytes && !sl_safetensors_parse(st_bytes, n, "model.safetensors", &st, &err))
        CHECK(sl_safetensors_find(st, "embeddings.word_embeddings.weight") &&
                  sl_safetensors_find(st, "encoder.layer.1.output.LayerNorm.bias") &&
                  !sl_safetensors_find(st, "classifier.weight"),
              "model: the encoder's names without 'roberta.'");
    sl_safetensors_free(st);
    free(st_bytes);
    s = export_to(gguf, size, out_dir("tiny-hf-mlm"), SL_EXPORT_MASKED_LM, false, &rep, &err);
    CHECK(s == SL_ERR_ARGUMENT && strstr(err.message, "model.gguf") && strstr(err.message, "mlm.bias"), "%s",
          err.message);
    free(gguf);
}

/* The F16 and BF16 fixtures: the converter widens them, the export writes the same values in F32. */
static void test_half_fixtures(void) {
    const char *dirs[] = {"tests/fixtures/tiny-hf-f16", "tests/fixtures/tiny-hf-bf16"};
    for (int i = 0; i < 2; i++) {
        size_t size;
        uint8_t *gguf = convert_dir(dirs[i], NULL, &size);
        if (!gguf) continue;
        const char *dir = out_dir("half");
        sl_error err = {0};
        CHECK(export_to(gguf, size, dir, SL_EXPORT_AUTO, false, NULL, &err) == SL_OK, "%s", err.message);
        check_tensors(dirs[i], dir, dirs[i]);
        free(gguf);
    }
}

static void test_masked_lm(void) {
    struct stat st;
    if (stat(TINY_MLM "/model.safetensors", &st) != 0) {
        printf("test_export: %s is not there, masked-LM round trip skipped\n", TINY_MLM);
        return;
    }
    size_t size;
    uint8_t *gguf = convert_dir(TINY_MLM, NULL, &size);
    if (!gguf) return;
    sl_gguf *g = NULL;
    sl_error err = {0};
    if (!sl_gguf_parse(gguf, size, "mlm.gguf", &g, &err)) {
        const sl_gguf_kv *labels = sl_gguf_find_kv(g, "surligne.labels");
        const char *arch;
        size_t len;
        CHECK(labels && labels->type == SL_GGUF_ARRAY && labels->arr_type == SL_GGUF_STRING && labels->arr_n == 0,
              "convert without labels: surligne.labels is an empty string array");
        CHECK(!sl_gguf_find_tensor(g, "classifier.weight") && sl_gguf_find_tensor(g, "mlm.dense.weight") &&
                  sl_gguf_find_tensor(g, "mlm.norm.bias") && sl_gguf_find_tensor(g, "mlm.bias"),
              "convert without labels: the MLM head, no classifier");
        CHECK(!sl_gguf_get_str(g, "surligne.source_architecture", &arch, &len, &err) &&
                  len == strlen("CamembertForMaskedLM") && !memcmp(arch, "CamembertForMaskedLM", len),
              "source architecture");
    }
    sl_gguf_free(g);
    const char *dir = out_dir("tiny-mlm");
    sl_export_report rep;
    CHECK(export_to(gguf, size, dir, SL_EXPORT_AUTO, false, &rep, &err) == SL_OK, "%s", err.message);
    CHECK(!strcmp(rep.architecture, "CamembertForMaskedLM") && rep.n_tensors == 42 && !rep.dropped_mlm,
          "report: %s, %d tensors", rep.architecture, rep.n_tensors);
    check_tensors(TINY_MLM, dir, "tiny-mlm-hf");
    check_config(TINY_MLM, dir, "tiny-mlm-hf");
    check_tokenizer(TINY_MLM, dir, "tiny-mlm-hf");
    CHECK(same_file(TINY_MLM, dir, "model.safetensors"), "tiny-mlm-hf: model.safetensors byte for byte");
    sl_status s = export_to(gguf, size, out_dir("tiny-mlm-tc"), SL_EXPORT_TOKEN_CLASSIFICATION, false, &rep, &err);
    CHECK(s == SL_ERR_ARGUMENT && strstr(err.message, "surligne.labels"), "%s", err.message);

    /* both heads: auto writes the classifier and drops the MLM head; masked-lm the other way round */
    const char *labels[] = {"O", "B-PER", "I-PER"};
    size_t both_size;
    uint8_t *both = rewrite_gguf(gguf, size, NULL, labels, 3, 1, &both_size);
    dir = out_dir("both");
    CHECK(both && export_to(both, both_size, dir, SL_EXPORT_AUTO, false, &rep, &err) == SL_OK, "%s", err.message);
    CHECK(!strcmp(rep.architecture, "CamembertForTokenClassification") && rep.dropped_mlm && !rep.dropped_classifier &&
              rep.n_tensors == 39,
          "both heads, auto: %s", rep.architecture);
    dir = out_dir("both-mlm");
    CHECK(both && export_to(both, both_size, dir, SL_EXPORT_MASKED_LM, false, &rep, &err) == SL_OK, "%s", err.message);
    CHECK(!strcmp(rep.architecture, "CamembertForMaskedLM") && !rep.dropped_mlm && rep.dropped_classifier &&
              rep.n_tensors == 42,
          "both heads, masked-lm: %s", rep.architecture);
    check_tensors(TINY_MLM, dir, "both heads, masked-lm");
    free(both);

    /* with labels, convert drops the MLM head for a fresh classifier */
    size_t tc_size;
    uint8_t *tc = convert_dir(TINY_MLM, "PER,LOC", &tc_size);
    g = NULL;
    if (tc && !sl_gguf_parse(tc, tc_size, "tc.gguf", &g, &err))
        CHECK(sl_gguf_find_tensor(g, "classifier.weight") && !sl_gguf_find_tensor(g, "mlm.bias"),
              "convert with labels: a classifier, no MLM head");
    sl_gguf_free(g);
    free(tc);
    free(gguf);
}

/* q8_0 and f16 model files, and q8_0 with q5_0 word embeddings: every tensor written as f32, the values the
   engine computes with. */
static void test_quantised(void) {
    size_t size;
    uint8_t *gguf = convert_dir(TINY, NULL, &size);
    if (!gguf) return;
    const uint32_t types[3] = {SL_GGML_Q8_0, SL_GGML_F16, SL_GGML_Q8_0},
                   embd[3] = {SL_GGML_Q8_0, SL_GGML_F16, SL_GGML_Q5_0};
    for (int k = 0; k < 3; k++) {
        uint8_t *q = NULL;
        size_t qsize;
        sl_error err = {0};
        if (sl_quantize_model(gguf, size, "tiny.gguf", types[k], embd[k], NULL, &q, &qsize, NULL, &err)) {
            CHECK(0, "%s", err.message);
            continue;
        }
        const char *dir = out_dir("quantised");
        sl_export_report rep;
        CHECK(export_to(q, qsize, dir, SL_EXPORT_AUTO, false, &rep, &err) == SL_OK, "%s", err.message);
        sl_gguf *g = NULL;
        size_t n;
        uint8_t *st_bytes = read_in(dir, "model.safetensors", &n);
        sl_safetensors *st = NULL;
        int n_typed = 0, bad = 0;
        if (st_bytes && !sl_gguf_parse(q, qsize, "q.gguf", &g, &err) &&
            !sl_safetensors_parse(st_bytes, n, "model.safetensors", &st, &err)) {
            const char *pairs[][2] = {{"token_embd.weight", "roberta.embeddings.word_embeddings.weight"},
                                      {"blk.0.attn_q.weight", "roberta.encoder.layer.0.attention.self.query.weight"},
                                      {"blk.1.ffn_down.weight", "roberta.encoder.layer.1.output.dense.weight"}};
            for (size_t i = 0; i < sl_gguf_n_tensors(g); i++)
                n_typed += sl_gguf_tensor_at(g, i)->type != SL_GGML_F32;
            for (int p = 0; p < 3; p++) {
                const sl_gguf_tensor *t = sl_gguf_find_tensor(g, pairs[p][0]);
                const sl_st_tensor *e = sl_safetensors_find(st, pairs[p][1]);
                if (!t || !e || t->type != (p == 0 ? embd[k] : types[k]) ||
                    e->n_elements != t->ne[0] * t->ne[1]) {
                    CHECK(0, "%s / %s", pairs[p][0], pairs[p][1]);
                    continue;
                }
                float *want = malloc((size_t)e->n_elements * sizeof *want);
                /* the values the engine gathers and multiplies: its dequantiser's */
                for (int64_t r = 0; r < t->ne[1]; r++)
                    sl_row_to_f32(t->type, t->data + (size_t)r * sl_ggml_nbytes(t->type, t->ne[0]),
                                  want + r * t->ne[0], t->ne[0]);
                bad += memcmp(want, e->data, (size_t)e->n_elements * sizeof *want) != 0;
                free(want);
            }
        }
        CHECK(n_typed > 0 && (types[k] == SL_GGML_Q8_0 ? rep.n_dequantised : rep.n_widened) == n_typed &&
                  rep.n_dequantised + rep.n_widened == n_typed,
              "%d tensors of type %u, report %d/%d", n_typed, types[k], rep.n_dequantised, rep.n_widened);
        CHECK(bad == 0, "type %u: %d tensors not the file's values", types[k], bad);
        sl_safetensors_free(st);
        sl_gguf_free(g);
        free(st_bytes);
        free(q);
    }
    free(gguf);
}

/* Errors name the GGUF and the tensor or key, and write nothing. */
static void test_errors(void) {
    size_t size, bad_size;
    uint8_t *gguf = convert_dir(TINY, NULL, &size);
    if (!gguf) return;
    sl_error err = {0};
    uint8_t *bad = rewrite_gguf(gguf, size, "blk.1.ffn_up.weight", NULL, 0, 0, &bad_size);
    char dir[128];
    snprintf(dir, sizeof dir, "%s", out_dir("errors"));
    sl_status s = export_to(bad, bad_size, dir, SL_EXPORT_AUTO, false, NULL, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "model.gguf") && strstr(err.message, "blk.1.ffn_up.weight"),
          "%s", err.message);
    struct stat st;
    CHECK(stat(dir, &st) != 0, "nothing written on error");
    free(bad);
    /* labels without a classifier */
    const char *labels[] = {"O", "B-X"};
    bad = rewrite_gguf(gguf, size, NULL, labels, 2, 0, &bad_size);
    s = export_to(bad, bad_size, dir, SL_EXPORT_AUTO, false, NULL, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "surligne.labels") && strstr(err.message, "classifier.weight"),
          "%s", err.message);
    free(bad);
    /* duplicate labels would make label2id ambiguous */
    const char *twice[] = {"O", "B-X", "O"};
    bad = rewrite_gguf(gguf, size, NULL, twice, 3, 1, &bad_size);
    s = export_to(bad, bad_size, dir, SL_EXPORT_AUTO, false, NULL, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "appears twice"), "%s", err.message);
    free(bad);
    /* a label that is not UTF-8 would make config.json unreadable */
    const char *latin1[] = {"O", "B-SOCI\xc9T\xc9"};
    bad = rewrite_gguf(gguf, size, NULL, latin1, 2, 1, &bad_size);
    s = export_to(bad, bad_size, dir, SL_EXPORT_AUTO, false, NULL, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "surligne.labels"), "%s", err.message);
    free(bad);
    /* eleven labels: id2label in numeric order, as transformers (integer keys) writes it */
    const char *eleven[] = {"O", "B-A", "I-A", "B-B", "I-B", "B-C", "I-C", "B-D", "I-D", "B-\"E\"", "I-\"E\""};
    bad = rewrite_gguf(gguf, size, NULL, eleven, 11, 1, &bad_size);
    char ok_dir[128];
    snprintf(ok_dir, sizeof ok_dir, "%s", out_dir("eleven"));
    CHECK(export_to(bad, bad_size, ok_dir, SL_EXPORT_AUTO, false, NULL, &err) == SL_OK, "%s", err.message);
    size_t n;
    uint8_t *text = read_in(ok_dir, "config.json", &n);
    sl_json *cfg = NULL;
    if (text && !sl_json_parse((char *)text, n, "config.json", &cfg, &err)) {
        const sl_json *id2label = sl_json_get(cfg, "id2label"), *label2id = sl_json_get(cfg, "label2id");
        const sl_json *ten = sl_json_get(id2label, "10"), *e = sl_json_get(label2id, "I-\"E\"");
        CHECK(ten && ten->type == SL_JSON_STRING && !strcmp(ten->string, "I-\"E\"") && e && e->number == 10 &&
                  !strcmp(sl_json_at(id2label, 10)->key, "10") && !strcmp(sl_json_at(label2id, 0)->key, "B-\"E\""),
              "id2label / label2id of eleven labels");
    } else {
        CHECK(0, "config.json: %s", err.message);
    }
    sl_json_free(cfg);
    free(text);
    free(bad);
    /* not a GGUF */
    s = export_to((const uint8_t *)"GGUF", 4, dir, SL_EXPORT_AUTO, false, NULL, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "model.gguf"), "%s", err.message);
    CHECK(stat(dir, &st) != 0, "nothing written on error");
    free(gguf);
}

/* ---- the parts ------------------------------------------------------------------------------------ */

/* The writer lays files out as the reference writer (and the safetensors library) does: every fixture
   read and written again is the same bytes. Plus its refusals. */
static void test_safetensors_writer(void) {
    const char *dirs[] = {TINY, "tests/fixtures/tiny-hf-f16", "tests/fixtures/tiny-hf-bf16", TINY_MLM};
    for (int i = 0; i < 4; i++) {
        size_t n;
        uint8_t *bytes = read_in(dirs[i], "model.safetensors", &n);
        if (!bytes) continue; /* tiny-mlm-hf may be missing */
        sl_safetensors *st = NULL;
        sl_error err = {0};
        CHECK(!sl_safetensors_parse(bytes, n, "model.safetensors", &st, &err), "%s", err.message);
        size_t count = sl_safetensors_count(st);
        sl_st_tensor *ts = malloc((count ? count : 1) * sizeof *ts);
        for (size_t k = 0; k < count; k++) ts[count - 1 - k] = *sl_safetensors_tensor(st, k); /* any order in */
        uint8_t *out = NULL;
        size_t out_size = 0;
        CHECK(!sl_safetensors_to_memory(ts, count, &out, &out_size, &err), "%s", err.message);
        CHECK(out_size == n && !memcmp(out, bytes, n), "%s: written again, not the same bytes", dirs[i]);
        free(out);
        free(ts);
        sl_safetensors_free(st);
        free(bytes);
    }
    const float x[4] = {1, 2, 3, 4};
    sl_st_tensor ts[2] = {{.name = "a", .dtype = SL_DT_F32, .n_dims = 1, .shape = {4}, .data = (const uint8_t *)x},
                          {.name = "a", .dtype = SL_DT_F32, .n_dims = 2, .shape = {2, 2}, .data = (const uint8_t *)x}};
    uint8_t *out = NULL;
    size_t out_size;
    sl_error err = {0};
    CHECK(sl_safetensors_to_memory(ts, 2, &out, &out_size, &err) == SL_ERR_ARGUMENT &&
              strstr(err.message, "'a' is given twice") && !out,
          "%s", err.message);
    ts[1].name = "b\n";
    ts[1].dtype = SL_DT_OTHER;
    CHECK(sl_safetensors_to_memory(ts, 2, &out, &out_size, &err) == SL_ERR_UNSUPPORTED && strstr(err.message, "'b?'"),
          "%s", err.message);
    ts[1].dtype = SL_DT_BF16;
    ts[1].shape[0] = -2;
    CHECK(sl_safetensors_to_memory(ts, 2, &out, &out_size, &err) == SL_ERR_ARGUMENT && strstr(err.message, "shape[0]"),
          "%s", err.message);
    /* names with quotes and a scalar read back */
    ts[1] = (sl_st_tensor){.name = "q\"\\", .dtype = SL_DT_F16, .n_dims = 0, .data = (const uint8_t *)x};
    CHECK(!sl_safetensors_to_memory(ts, 2, &out, &out_size, &err), "%s", err.message);
    sl_safetensors *st = NULL;
    CHECK(out && !sl_safetensors_parse(out, out_size, "w", &st, &err) && sl_safetensors_count(st) == 2 &&
              sl_safetensors_find(st, "q\"\\") && sl_safetensors_find(st, "q\"\\")->nbytes == 2 &&
              (out_size - 18) % 8 == 0,
          "%s", err.message);
    sl_safetensors_free(st);
    free(out);
}

static void test_spm_writer(void) {
    size_t n;
    uint8_t *bytes = read_in(TINY, "sentencepiece.bpe.model", &n);
    sl_spm_vocab *sv = NULL;
    sl_error err = {0};
    if (!bytes || sl_spm_parse(bytes, n, "spm", &sv, &err)) {
        CHECK(0, "%s", err.message);
        free(bytes);
        return;
    }
    const sl_vocab *v = sl_spm_vocab_get(sv);
    /* the vocabulary the GGUF stores is the .model's */
    size_t size;
    uint8_t *gguf = convert_dir(TINY, NULL, &size);
    sl_gguf *g = NULL;
    sl_spm_vocab *gv = NULL;
    CHECK(gguf && !sl_gguf_parse(gguf, size, "g", &g, &err) && !sl_spm_vocab_from_gguf(g, &gv, &err), "%s",
          err.message);
    if (gv) {
        const sl_vocab *w = sl_spm_vocab_get(gv);
        int diff = w->n_tokens != v->n_tokens || w->charsmap_len != v->charsmap_len ||
                   memcmp(w->charsmap, v->charsmap, v->charsmap_len) || w->bos_id != v->bos_id ||
                   w->mask_id != v->mask_id || w->add_dummy_prefix != v->add_dummy_prefix;
        for (int i = 0; !diff && i < v->n_tokens; i++)
            diff = w->piece_lens[i] != v->piece_lens[i] || memcmp(w->pieces[i], v->pieces[i], v->piece_lens[i]) ||
                   w->scores[i] != v->scores[i] || w->types[i] != v->types[i];
        CHECK(!diff, "the GGUF's vocabulary differs from the .model's");
    }
    sl_spm_vocab_free(gv);
    sl_gguf_free(g);
    free(gguf);

    /* a vocabulary in another layout is refused, saying what differs */
    const char **pieces = malloc((size_t)v->n_tokens * sizeof *pieces);
    size_t *lens = malloc((size_t)v->n_tokens * sizeof *lens);
    memcpy(pieces, v->pieces, (size_t)v->n_tokens * sizeof *pieces);
    memcpy(lens, v->piece_lens, (size_t)v->n_tokens * sizeof *lens);
    sl_vocab other = *v;
    other.pieces = pieces;
    other.piece_lens = lens;
    uint8_t *out = NULL;
    size_t out_size;
    pieces[0] = "<s>", lens[0] = 3;
    CHECK(sl_spm_serialize(&other, &out, &out_size, &err) == SL_ERR_FORMAT && strstr(err.message, "token 0") && !out,
          "%s", err.message);
    pieces[0] = v->pieces[0], lens[0] = v->piece_lens[0];
    other.mask_id = 5;
    CHECK(sl_spm_serialize(&other, &out, &out_size, &err) == SL_ERR_FORMAT && strstr(err.message, "<mask>"), "%s",
          err.message);
    other.mask_id = v->mask_id;
    other.eos_id = other.n_tokens - 1;
    CHECK(sl_spm_serialize(&other, &out, &out_size, &err) == SL_ERR_FORMAT && strstr(err.message, "eos id"), "%s",
          err.message);
    /* no charsmap and other flags: written and read back as they are */
    other = *v;
    other.charsmap_len = 0;
    other.add_dummy_prefix = false;
    other.remove_extra_whitespaces = false;
    sl_spm_vocab *back = NULL;
    CHECK(!sl_spm_serialize(&other, &out, &out_size, &err) && !sl_spm_parse(out, out_size, "back", &back, &err),
          "%s", err.message);
    if (back) {
        const sl_vocab *b = sl_spm_vocab_get(back);
        CHECK(b->charsmap_len == 0 && !b->add_dummy_prefix && !b->remove_extra_whitespaces && b->escape_whitespaces &&
                  b->n_tokens == v->n_tokens,
              "flags and charsmap read back");
    }
    sl_spm_vocab_free(back);
    free(out);
    free(pieces);
    free(lens);
    sl_spm_vocab_free(sv);
    free(bytes);
}

static void test_json_quote(void) {
    const char s[] = "a\"b\\c\n\t\x01\x1f\x7f\xc3\xa9";
    char buf[64];
    size_t n = sl_json_quote(s, sizeof s - 1, buf, sizeof buf);
    const char want[] = "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\x7f\xc3\xa9\"";
    CHECK(n == sizeof want - 1 && !strcmp(buf, want), "quote: %s", buf);
    CHECK(sl_json_quote(s, sizeof s - 1, NULL, 0) == n, "length only");
    CHECK(sl_json_quote(s, sizeof s - 1, buf, 4) == n && !strcmp(buf, "\"a\\"), "cut: %s", buf);
    sl_json_text t = {0};
    sl_json_printf(&t, "{%s:", "x");
    sl_json_string(&t, "\0z", 2);
    sl_json_printf(&t, "}");
    CHECK(!t.failed && t.len == 13 && !memcmp(t.buf, "{x:\"\\u0000z\"}", 14), "text: %s", t.buf);
    free(t.buf);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sl_test_export_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_json_quote();
    test_safetensors_writer();
    test_spm_writer();
    test_token_classification();
    test_half_fixtures();
    test_masked_lm();
    test_quantised();
    test_errors();
    remove_tree(tmp_root);
    return check_report("test_export");
}
