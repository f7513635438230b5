/* Bad input gets a clear error naming what was wrong, never a crash (this suite also runs under ASan and
   UBSan): corrupt or truncated GGUF, broken Hugging Face folders, invalid UTF-8, bad CLI arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "fileio.h"
#include "model.h"

static char tmpdir[] = "/tmp/surligne-errors-XXXXXX";

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void copy_file(const char *from, const char *to) {
    uint8_t *d;
    size_t n;
    sl_error err;
    if (sl_read_file(from, &d, &n, &err) == SL_OK) {
        write_file(to, d, n);
        free(d);
    }
}

/* A copy of the fixture checkpoint in dir, with config.json replaced when config is not NULL. */
static void make_checkpoint(const char *dir, const char *config) {
    char a[512], b[512];
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors", "sentencepiece.bpe.model"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "tests/fixtures/tiny-hf/%s", files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        copy_file(a, b);
    }
    if (config) {
        snprintf(b, sizeof b, "%s/config.json", dir);
        write_file(b, config, strlen(config));
    }
}

static void expect_convert_error(const char *what, const char *dir, sl_status want, const char *needle) {
    sl_error err = {0};
    uint8_t *out = NULL;
    size_t n;
    sl_status s = sl_convert_hf(dir, NULL, NULL, &out, &n, &err);
    CHECK(s == want, "%s: status %s, expected %s (%s)", what, sl_status_name(s), sl_status_name(want),
          err.message);
    CHECK(strstr(err.message, needle) != NULL, "%s: message '%s' does not name '%s'", what, err.message,
          needle);
    free(out);
}

static char *replace(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    if (!p) return NULL;
    char *r = malloc(strlen(s) + strlen(to) + 1);
    sprintf(r, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return r;
}

static void test_checkpoints(void) {
    uint8_t *cfg;
    size_t n;
    sl_error err;
    if (sl_read_file("tests/fixtures/tiny-hf/config.json", &cfg, &n, &err) != SL_OK) {
        CHECK(0, "fixture: %s", err.message);
        return;
    }
    char dir[600];
    struct {
        const char *what, *from, *to;
        sl_status want;
        const char *needle;
    } cases[] = {
        {"missing key", "\"hidden_size\"", "\"hidden_sizes\"", SL_ERR_FORMAT, "hidden_size"},
        {"unknown architecture", "CamembertForTokenClassification", "BertForTokenClassification",
         SL_ERR_UNSUPPORTED, "BertForTokenClassification"},
        {"wrong shape", "\"intermediate_size\": 64", "\"intermediate_size\": 128", SL_ERR_SHAPE,
         "intermediate.dense"},
        {"bad value type", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"two\"", SL_ERR_FORMAT,
         "num_hidden_layers"},
        {"unsupported activation", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"", SL_ERR_UNSUPPORTED,
         "relu"},
        {"vocab size", "\"vocab_size\": 32005", "\"vocab_size\": 32000", SL_ERR_SHAPE, "vocab_size"},
        {"broken JSON", "\"hidden_size\": 32,", "\"hidden_size\": 32", SL_ERR_FORMAT, "config.json:"},
        {"id2label gap", "\"6\": \"I-LOC\"", "\"9\": \"I-LOC\"", SL_ERR_FORMAT, "id2label"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *config = replace((const char *)cfg, cases[i].from, cases[i].to);
        CHECK(config != NULL, "%s: fixture config has no '%s'", cases[i].what, cases[i].from);
        if (!config) continue;
        snprintf(dir, sizeof dir, "%s/case%zu", tmpdir, i);
        make_checkpoint(dir, config);
        expect_convert_error(cases[i].what, dir, cases[i].want, cases[i].needle);
        free(config);
    }
    free(cfg);

    /* a file missing from the folder */
    snprintf(dir, sizeof dir, "%s/nospm", tmpdir);
    make_checkpoint(dir, NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/sentencepiece.bpe.model", dir);
    unlink(path);
    expect_convert_error("missing tokenizer", dir, SL_ERR_IO, "sentencepiece.bpe.model");

    /* a body without a head needs labels */
    snprintf(dir, sizeof dir, "%s/nohead", tmpdir);
    make_checkpoint(dir, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    uint8_t *c2;
    if (sl_read_file(path, &c2, &n, &err) == SL_OK) {
        char *body = replace((const char *)c2, "CamembertForTokenClassification", "CamembertModel");
        write_file(path, body, strlen(body));
        free(body);
        free(c2);
    }
    expect_convert_error("no head", dir, SL_ERR_ARGUMENT, "--labels");

    /* truncated safetensors */
    snprintf(dir, sizeof dir, "%s/truncated", tmpdir);
    make_checkpoint(dir, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(truncate(path, 100000) == 0, "truncate");
    sl_error e2 = {0};
    uint8_t *out = NULL;
    sl_status s = sl_convert_hf(dir, NULL, NULL, &out, &n, &e2);
    CHECK(s == SL_ERR_FORMAT && strstr(e2.message, "model.safetensors"), "truncated safetensors: %s",
          e2.message);
    free(out);
}

/* Replaces the first occurrence of `from` (same length as `to`) in a byte buffer. */
static int patch(uint8_t *d, size_t n, const char *from, const char *to) {
    size_t k = strlen(from);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, from, k) == 0) {
            memcpy(d + i, to, k);
            return 1;
        }
    return 0;
}

/* surligne.h's promises: a NULL err is accepted by every call, NULL pointers and bad options are errors (no
   crash), the default stride fits any window (0 = automatic), labels stay valid as long as the model. */
static void test_public_api(const uint8_t *gguf, size_t size) {
    sl_model *m = (sl_model *)1;
    CHECK(sl_model_load_file(NULL, &m, NULL) == SL_ERR_ARGUMENT && !m, "load_file(NULL path)");
    CHECK(sl_model_load_file("tests/no-such-model.gguf", &m, NULL) == SL_ERR_IO && !m, "load_file(missing)");
    CHECK(sl_model_load_file("tests/fixtures/tiny-hf/config.json", &m, NULL) == SL_ERR_FORMAT && !m,
          "load_file(not GGUF), err NULL");
    CHECK(sl_model_load_file("x.gguf", NULL, NULL) == SL_ERR_ARGUMENT, "load_file(NULL out)");
    const char junk[] = "GGUF\x03\0\0\0 truncated";
    CHECK(sl_model_load_memory(junk, sizeof junk, "junk.gguf", &m, NULL) == SL_ERR_FORMAT && !m,
          "load_memory(junk), err NULL");
    CHECK(sl_model_load_memory(NULL, 100, NULL, &m, NULL) == SL_ERR_ARGUMENT && !m, "load_memory(NULL data)");
    CHECK(sl_model_n_labels(NULL) == 0 && !sl_model_label(NULL, 0) && sl_model_max_tokens(NULL) == 0,
          "model accessors on NULL");
    sl_entities e = {0};
    sl_error err;
    CHECK(sl_recognize(NULL, "Paris", 5, NULL, &e, NULL) == SL_ERR_ARGUMENT, "recognize(NULL model), err NULL");
    CHECK(sl_recognize_dates(NULL, 5, &e, NULL) == SL_ERR_ARGUMENT, "recognize_dates(NULL text), err NULL");
    CHECK(sl_recognize_dates("le 3 mars", 9, NULL, NULL) == SL_ERR_ARGUMENT, "recognize_dates(NULL out)");
    sl_entities_free(NULL);
    sl_model_free(NULL);

    m = NULL;
    if (sl_model_load_memory(gguf, size, "tiny", &m, NULL) != SL_OK) {
        CHECK(0, "load_memory(tiny), err NULL");
        return;
    }
    CHECK(sl_recognize(m, NULL, 3, NULL, &e, &err) == SL_ERR_ARGUMENT && strstr(err.message, "text"),
          "recognize(NULL text): '%s'", err.message);
    CHECK(sl_recognize(m, NULL, 0, NULL, &e, &err) == SL_OK && e.n == 0, "recognize(NULL, 0 bytes)");
    CHECK(sl_recognize(m, "Paris", 5, NULL, NULL, NULL) == SL_ERR_ARGUMENT, "recognize(NULL out)");
    const char bad[] = "Paris \xC3\x28";
    CHECK(sl_recognize(m, bad, sizeof bad - 1, NULL, &e, NULL) == SL_ERR_UTF8, "invalid UTF-8, err NULL");
    sl_options o = sl_default_options();
    o.stride = -1;
    CHECK(sl_recognize(m, "Paris", 5, &o, &e, NULL) == SL_ERR_ARGUMENT, "negative stride, err NULL");

    /* the default stride with short windows (it was 128, "stride 128 must be in [0, 98)" at 100 tokens):
       0 = automatic, the same entities as the automatic value given explicitly, for any window */
    char text[4096] = "";
    for (int i = 0; i < 30; i++)
        strcat(text, "Emmanuel Macron a rencontré Angela Merkel à Berlin le 3 mars 2024. ");
    sl_entities a = {0}, b = {0};
    const int max_tokens[] = {3, 4, 5, 10, 40, 100, 132, 300, 512};
    for (size_t k = 0; k < sizeof max_tokens / sizeof *max_tokens; k++) {
        o = sl_default_options();
        o.max_tokens = max_tokens[k];
        sl_status s = sl_recognize(m, text, strlen(text), &o, &a, &err);
        CHECK(s == SL_OK, "max_tokens %d, default stride: %s", max_tokens[k], err.message);
        const int window = max_tokens[k] - 2, quarter = (window + 3) / 4;
        o.stride = quarter < 128 ? quarter : 128;
        if (o.stride >= window) o.stride = window - 1;
        if (o.stride > 0) {
            s = sl_recognize(m, text, strlen(text), &o, &b, &err);
            CHECK(s == SL_OK && a.n == b.n && a.n > 0, "max_tokens %d stride %d: %zu entities, automatic %zu",
                  max_tokens[k], o.stride, b.n, a.n);
            for (size_t i = 0; i < a.n && i < b.n; i++)
                CHECK(a.items[i].start == b.items[i].start && a.items[i].end == b.items[i].end &&
                          a.items[i].label == b.items[i].label,
                      "max_tokens %d: entity %zu differs", max_tokens[k], i);
        }
        a.n = b.n = 0;
    }
    /* labels are the model's strings, shared by every call (valid until sl_model_free) */
    if (sl_recognize(m, text, strlen(text), NULL, &a, NULL) == SL_OK &&
        sl_recognize(m, text, strlen(text), NULL, &b, NULL) == SL_OK && a.n && a.n == b.n) {
        int same = 1;
        for (size_t i = 0; i < a.n; i++) same &= a.items[i].label == b.items[i].label;
        CHECK(same, "labels are not the model's own strings");
    }
    sl_entities_free(&a);
    sl_entities_free(&b);
    sl_entities_free(&e);
    sl_model_free(m);
}

static void test_gguf(void) {
    sl_error err;
    uint8_t *gguf;
    size_t size;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &gguf, &size, &err) != SL_OK) {
        CHECK(0, "convert: %s", err.message);
        return;
    }
    /* every truncation fails cleanly, naming the model */
    int clean = 1;
    for (size_t cut = 0; cut < size; cut += cut < 4096 ? 1 : 9973) {
        sl_model *m = NULL;
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, gguf, cut);
        sl_status s = sl_model_load_memory(copy, cut, "cut.gguf", &m, &err);
        if (s == SL_OK || !strstr(err.message, "cut.gguf")) {
            CHECK(0, "truncated at %zu: status %s, message '%s'", cut, sl_status_name(s), err.message);
            clean = 0;
        }
        sl_model_free(m);
        free(copy);
        if (!clean) break;
    }
    struct {
        const char *what, *from, *to, *needle;
        sl_status want;
    } cases[] = {
        {"missing hyper-parameter", "bert.block_count", "bert.block_xount", "bert.block_count",
         SL_ERR_FORMAT},
        {"missing tensor", "blk.1.ffn_up.weight", "blk.1.ffn_up.wexght", "blk.1.ffn_up.weight",
         SL_ERR_FORMAT},
        {"other architecture", "bert", "gpt2", "gpt2", SL_ERR_UNSUPPORTED},
        {"missing labels", "surligne.labels", "surligne.lxbels", "surligne.labels", SL_ERR_FORMAT},
        {"bad magic", "GGUF", "GGUX", "x.gguf", SL_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t *copy = malloc(size);
        memcpy(copy, gguf, size);
        CHECK(patch(copy, size, cases[i].from, cases[i].to), "%s: nothing to patch", cases[i].what);
        sl_model *m = NULL;
        sl_status s = sl_model_load_memory(copy, size, "x.gguf", &m, &err);
        CHECK(s == cases[i].want, "%s: status %s (%s)", cases[i].what, sl_status_name(s), err.message);
        CHECK(s == SL_OK || (strstr(err.message, cases[i].needle) && strstr(err.message, "x.gguf")),
              "%s: message '%s' should name '%s' and the file", cases[i].what, err.message, cases[i].needle);
        sl_model_free(m);
        free(copy);
    }

    /* invalid UTF-8 in the text: the byte offset is named */
    sl_model *m = NULL;
    if (sl_model_load_memory(gguf, size, "tiny", &m, &err) == SL_OK) {
        const char bad[] = "Paris est belle \xC3\x28 ici";
        sl_entities e = {0};
        sl_status s = sl_recognize(m, bad, sizeof bad - 1, NULL, &e, &err);
        CHECK(s == SL_ERR_UTF8 && strstr(err.message, "16"), "invalid UTF-8: %s '%s'", sl_status_name(s),
              err.message);
        sl_options o = sl_default_options();
        o.stride = 1000;
        s = sl_recognize(m, "Paris", 5, &o, &e, &err);
        CHECK(s == SL_ERR_ARGUMENT && strstr(err.message, "stride"), "bad stride: '%s'", err.message);
        int32_t ids[3] = {5, 40000, 6};
        float logits[21];
        s = sl_model_forward(m, ids, 1, 3, logits, &err);
        CHECK(s == SL_ERR_ARGUMENT && strstr(err.message, "40000"), "bad token id: '%s'", err.message);
        sl_entities_free(&e);
        sl_model_free(m);
    }
    test_public_api(gguf, size);
    free(gguf);
}

/* The program: a clear message and a non-zero status. */
static void expect_cli(const char *what, const char *args, int want_status, const char *needle) {
    char cmd[1024], out[700];
    snprintf(out, sizeof out, "%s/cli.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1 < /dev/null", SL_CLI, args, out);
    int rc = system(cmd);
    int status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    uint8_t *text = NULL;
    size_t n = 0;
    sl_error err;
    sl_read_file(out, &text, &n, &err);
    CHECK(status == want_status, "%s: exit status %d, expected %d", what, status, want_status);
    CHECK(text && strstr((char *)text, needle), "%s: output '%s' does not contain '%s'", what,
          text ? (char *)text : "", needle);
    free(text);
}

static void test_cli(void) {
    char args[700];
    expect_cli("no command", "", 2, "usage");
    expect_cli("unknown command", "frobnicate", 2, "unknown command 'frobnicate'");
    expect_cli("missing model file", "ner -m /nonexistent/model.gguf", 1, "/nonexistent/model.gguf");
    expect_cli("bad aggregation", "ner -m x.gguf --aggregation mean", 2, "--aggregation 'mean'");
    expect_cli("convert without output", "convert tests/fixtures/tiny-hf", 2, "usage");
    snprintf(args, sizeof args, "convert %s/nope -o %s/x.gguf", tmpdir, tmpdir);
    expect_cli("convert missing folder", args, 1, "config.json");
    snprintf(args, sizeof args, "inspect tests/fixtures/tiny-hf/config.json");
    expect_cli("inspect a non-GGUF file", args, 1, "config.json");
}

/* Label transitions in a model file (surligne transitions, surligne train): stored, loaded, used by
   sl_recognize's Viterbi decoding, removed; values that are not log-probabilities and weights out of range
   are refused naming the key. */
static void test_transitions(void) {
    sl_error err;
    uint8_t *gguf, *data;
    size_t size, dsize;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &gguf, &size, &err) != SL_OK) {
        CHECK(0, "convert: %s", err.message);
        return;
    }
    sl_model *m = NULL;
    CHECK(sl_model_load_memory(gguf, size, "tiny", &m, &err) == SL_OK, "%s", err.message);
    if (!m) return free(gguf);
    const int L = sl_model_n_labels(m);
    sl_decoder d = sl_model_decoder(m, SL_DECODE_VITERBI);
    CHECK(d.transitions == NULL && d.weight == 0, "a converted model has no transitions");
    sl_model_free(m);
    /* transitions that make every entity all but impossible (P(O | anything) = 0.99), weighted 100 */
    float *table = malloc((size_t)(L + 1) * L * sizeof *table);
    for (int p = 0; p <= L; p++)
        for (int c = 0; c < L; c++) table[p * L + c] = c == 0 ? logf(0.99f) : logf(0.01f / (L - 1));
    char path[512];
    snprintf(path, sizeof path, "%s/tr.gguf", tmpdir);
    const char *text =
        "Emmanuel Macron a rencontré Angela Merkel à Berlin avec les dirigeants de Renault et de "
        "l'Union européenne, puis Jean Dupont est parti pour Marseille.";
    sl_options o = sl_default_options();
    o.dates = 0;
    sl_entities plain = {0}, with = {0}, argmax = {0};
    CHECK(sl_model_load_memory(gguf, size, "tiny", &m, &err) == SL_OK &&
              sl_recognize(m, text, strlen(text), &o, &plain, &err) == SL_OK,
          "%s", err.message);
    sl_model_free(m);
    CHECK(sl_model_file_with_transitions(gguf, size, "tiny", table, 100, path, NULL, NULL, &err) == SL_OK,
          "%s", err.message);
    m = NULL;
    CHECK(sl_read_file(path, &data, &dsize, &err) == SL_OK, "%s", err.message);
    if (sl_model_load_memory(data, dsize, "tr.gguf", &m, &err) == SL_OK) {
        d = sl_model_decoder(m, SL_DECODE_VITERBI);
        CHECK(d.transitions && d.weight == 100 && d.transitions[L + 1] == table[L + 1],
              "transitions read back");
        CHECK(sl_recognize(m, text, strlen(text), &o, &with, &err) == SL_OK, "%s", err.message);
        o.decoding = SL_DECODE_ARGMAX;
        CHECK(sl_recognize(m, text, strlen(text), &o, &argmax, &err) == SL_OK, "%s", err.message);
        CHECK(plain.n > 0 && with.n == 0, "the tiny model's %zu entities: %zu with transitions against them",
              plain.n, with.n);
        CHECK(argmax.n > 0, "argmax decoding ignores the transitions (%zu entities)", argmax.n);
        sl_model_free(m);
    } else {
        CHECK(0, "%s", err.message);
    }
    /* removed again: no key left */
    CHECK(sl_model_file_with_transitions(data, dsize, "tr.gguf", NULL, 0, path, NULL, NULL, &err) == SL_OK,
          "%s", err.message);
    free(data);
    if (sl_read_file(path, &data, &dsize, &err) == SL_OK) {
        CHECK(sl_model_load_memory(data, dsize, "tr.gguf", &m, &err) == SL_OK, "%s", err.message);
        CHECK(m && !sl_model_decoder(m, SL_DECODE_VITERBI).transitions, "transitions removed");
        sl_model_free(m);
        free(data);
    }
    /* a probability above 1, a NaN, a weight out of range */
    const struct {
        const char *what;
        float value, weight;
        const char *needle;
    } bad[] = {{"log-probability above 0", 0.5f, 1, "not a log-probability"},
               {"NaN", NAN, 1, "not a log-probability"},
               {"weight", -1, -2, "surligne.transition_weight"},
               {"weight", -1, 1000, "surligne.transition_weight"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const float keep = table[3];
        table[3] = bad[i].value;
        CHECK(sl_model_file_with_transitions(gguf, size, "tiny", table, bad[i].weight, path, NULL, NULL,
                                             &err) == SL_OK,
              "%s", err.message);
        table[3] = keep;
        m = NULL;
        if (sl_read_file(path, &data, &dsize, &err) != SL_OK) continue;
        sl_status s = sl_model_load_memory(data, dsize, "tr.gguf", &m, &err);
        CHECK(s == SL_ERR_FORMAT && strstr(err.message, bad[i].needle) && strstr(err.message, "tr.gguf"),
              "%s: %s '%s'", bad[i].what, sl_status_name(s), err.message);
        sl_model_free(m);
        free(data);
    }
    sl_entities_free(&plain);
    sl_entities_free(&with);
    sl_entities_free(&argmax);
    free(table);
    free(gguf);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_checkpoints();
    test_gguf();
    test_transitions();
    test_cli();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_errors");
}
