#include "cli.h"

#include "surligne.h"
#include "kernels.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <unistd.h>

#include "fileio.h"
#include "gemm_bf16.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>

int cli_int(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi) {
        fprintf(stderr, "surligne %s: %s '%s': expected an integer in [%ld, %ld]\n", cmd, flag, value, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *cmd, const char *flag, const char *value, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "surligne %s: %s '%s': expected a number in [%g, %g]\n", cmd, flag, value, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "surligne %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

char *cli_read_all(const char *cmd, const char *path, size_t *size) {
    int from_stdin = !path || strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "surligne %s: cannot open %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = !buf || ferror(f);
    if (!from_stdin) fclose(f);
    if (failed) {
        fprintf(stderr, "surligne %s: cannot read %s\n", cmd, from_stdin ? "standard input" : path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *size = n;
    return buf;
}

void cli_json_string(FILE *f, const char *s, size_t len) {
    /* sl_json_quote a piece at a time, each without its quotes: no allocation for a long text */
    char buf[256 * 6 + 3]; /* 256 bytes escaped as \u00XX at most, and the quotes */
    fputc('"', f);
    for (size_t at = 0; at < len; at += 256) {
        size_t n = sl_json_quote(s + at, len - at < 256 ? len - at : 256, buf, sizeof buf);
        fwrite(buf + 1, 1, n - 2, f);
    }
    fputc('"', f);
}

int cli_int_list(const char *cmd, const char *flag, const char *value, long lo, long *out, int max) {
    int n = 0;
    const char *p = value;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || n == max || (*end && *end != ',')) {
            fprintf(stderr,
                    "surligne %s: %s '%s': expected up to %d integers of at least %ld separated by commas\n",
                    cmd, flag, value, max, lo);
            return 0;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (!n) fprintf(stderr, "surligne %s: %s is empty\n", cmd, flag);
    return n;
}

int cli_real_list(const char *cmd, const char *flag, const char *value, double *out, int max) {
    int n = 0;
    const char *p = value;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0) || !isfinite(v) || n == max || (*end && *end != ',')) {
            fprintf(stderr, "surligne %s: %s '%s': expected up to %d positive numbers separated by commas\n",
                    cmd, flag, value, max);
            return 0;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (!n) fprintf(stderr, "surligne %s: %s is empty\n", cmd, flag);
    return n;
}

int cli_unknown_labels(const char *cmd, const char *value) {
    if (!strcmp(value, "error")) return 0;
    if (!strcmp(value, "O") || !strcmp(value, "o")) return 1;
    fprintf(stderr, "surligne %s: --unknown-labels '%s': expected error or O\n", cmd, value);
    return -1;
}

int cli_decoding(const char *cmd, const char *value) {
    if (!strcmp(value, "viterbi")) return SL_DECODE_VITERBI;
    if (!strcmp(value, "argmax")) return SL_DECODE_ARGMAX;
    fprintf(stderr, "surligne %s: --decoding '%s': expected viterbi or argmax\n", cmd, value);
    return -1;
}

int cli_read_conll(const char *cmd, const char *path, const sl_model *m, int unknown_to_o, sl_conll *out,
                   FILE *log) {
    sl_error err;
    sl_conll_options opt = {sl_model_labelset(m), unknown_to_o};
    if (sl_conll_read(path, &opt, out, &err) != SL_OK) {
        fprintf(stderr, "surligne %s: %s\n", cmd, err.message);
        if (strstr(err.message, "not among the model's labels") && !unknown_to_o)
            fprintf(stderr, "surligne %s: (--unknown-labels O reads the types the model lacks as O)\n", cmd);
        return 0;
    }
    sl_conll_print_counts(out, log);
    return 1;
}

int cli_build_dataset(const char *cmd, const sl_conll *c, const sl_model *m, int max_len, double glue,
                      uint64_t seed, sl_dataset *out, FILE *log) {
    sl_error err;
    if (sl_dataset_build_text(c, sl_model_tokenizer(m), max_len, (float)glue, seed, out, &err) != SL_OK) {
        fprintf(stderr, "surligne %s: %s\n", cmd, err.message);
        return 0;
    }
    fprintf(log,
            "%s: %d examples of at most %d tokens (%d tokens), %d sentences split, %d words with no token\n",
            c->name ? c->name : "data", out->n_examples, max_len, out->n_tokens, out->n_split,
            out->n_empty_words);
    return 1;
}

int cli_load_models_like(const char *cmd, const char *const *paths, int n, const sl_model *like, int threads,
                         sl_model **out, int *label_of) {
    sl_error err;
    const int L = sl_model_n_labels(like);
    int k = 0;
    for (; k < n; k++) {
        out[k] = NULL;
        if (sl_model_load_file(paths[k], &out[k], &err)) {
            fprintf(stderr, "surligne %s: %s\n", cmd, err.message);
            break;
        }
        if (sl_model_set_threads(out[k], threads, &err)) {
            fprintf(stderr, "surligne %s: %s: %s\n", cmd, paths[k], err.message);
            sl_model_free(out[k]), out[k] = NULL;
            break;
        }
        /* each of like's labels among the model's, by name */
        int same = sl_model_n_labels(out[k]) == L &&
                   sl_model_config(out[k])->n_vocab == sl_model_config(like)->n_vocab;
        for (int j = 0; same && j < L; j++) {
            int to = 0;
            while (to < L && strcmp(sl_model_label(out[k], to), sl_model_label(like, j))) to++;
            label_of[(size_t)k * L + j] = to;
            same = to < L;
        }
        if (!same) {
            fprintf(
                stderr,
                "surligne %s: %s: its labels (%d) or vocabulary (%d tokens) are not those of the model it is "
                "used with (%d labels, %d tokens): the models of an ensemble must share both\n",
                cmd, paths[k], sl_model_n_labels(out[k]), sl_model_config(out[k])->n_vocab, L,
                sl_model_config(like)->n_vocab);
            sl_model_free(out[k]), out[k] = NULL;
            break;
        }
    }
    if (k == n) return 1;
    for (int j = 0; j < k; j++) sl_model_free(out[j]), out[j] = NULL;
    return 0;
}

/* The file named by models.json's "default" entry, in `dir`; 1 when found. */
static int model_in(const char *dir, char *path, size_t size) {
    char manifest[4096];
    snprintf(manifest, sizeof manifest, "%s/models.json", dir);
    uint8_t *data;
    size_t n;
    sl_error err;
    if (sl_read_file(manifest, &data, &n, &err) != SL_OK) return 0;
    sl_json *root = NULL;
    int found = 0;
    if (sl_json_parse((const char *)data, n, manifest, &root, &err) == SL_OK) {
        const sl_json *def = sl_json_get(root, "default"), *models = sl_json_get(root, "models");
        for (size_t i = 0; def && def->type == SL_JSON_STRING && models && i < models->n_children; i++) {
            const sl_json *m = sl_json_at(models, i), *name = sl_json_get(m, "name"), *file = sl_json_get(m, "file");
            if (name && file && name->type == SL_JSON_STRING && file->type == SL_JSON_STRING &&
                !strcmp(name->string, def->string) && !strchr(file->string, '/')) {
                snprintf(path, size, "%s/%s", dir, file->string);
                found = access(path, R_OK) == 0;
            }
        }
    }
    sl_json_free(root);
    free(data);
    return found;
}

int cli_default_model(const char *cmd, const char *argv0, char *path, size_t size) {
    const char *env = getenv("SURLIGNE_WEIGHTS");
    if (env && model_in(env, path, size)) return 1;
    if (model_in("weights", path, size)) return 1;
    char exe[4096], dir[4096];
    snprintf(exe, sizeof exe, "%s", argv0 ? argv0 : "");
    snprintf(dir, sizeof dir, "%s/../weights", dirname(exe));
    if (argv0 && strchr(argv0, '/') && model_in(dir, path, size)) return 1;
    fprintf(stderr,
            "surligne %s: no model given and no default model found (weights/models.json in $SURLIGNE_WEIGHTS, "
            "./weights or beside the program): give one with -m MODEL.gguf\n",
            cmd);
    return 0;
}

int cli_option_parse(const char *cmd, const cli_option *opts, int n, int argc, char **argv, int *i) {
    for (int k = 0; k < n; k++) {
        if (strcmp(argv[*i], opts[k].flag)) continue;
        if (opts[k].kind == CLI_SWITCH) {
            *(int *)opts[k].value = 1;
            return k;
        }
        const char *v = cli_value(cmd, argc, argv, i);
        if (!v) return CLI_ERROR;
        switch (opts[k].kind) {
        case CLI_STRING: *(const char **)opts[k].value = v; break;
        case CLI_INT:
            if (!cli_int(cmd, opts[k].flag, v, (long)opts[k].lo, (long)opts[k].hi, opts[k].value)) return CLI_ERROR;
            break;
        case CLI_REAL:
            if (!cli_float(cmd, opts[k].flag, v, opts[k].lo, opts[k].hi, opts[k].value)) return CLI_ERROR;
            break;
        case CLI_SWITCH: break;
        }
        return k;
    }
    return CLI_UNKNOWN;
}

int cli_state_matches(const char *cmd, const char *resume, const uint64_t *saved, const uint64_t *now,
                      const cli_state_field *fields, int n) {
    for (int k = 0; k < n; k++) {
        const int w = fields[k].word;
        if (saved[w] == now[w]) continue;
        char was[64], is[64];
        if (fields[k].real) {
            double a, b;
            memcpy(&a, &saved[w], sizeof a);
            memcpy(&b, &now[w], sizeof b);
            snprintf(was, sizeof was, "%g", a);
            snprintf(is, sizeof is, "%g", b);
        } else {
            snprintf(was, sizeof was, "%llu", (unsigned long long)saved[w]);
            snprintf(is, sizeof is, "%llu", (unsigned long long)now[w]);
        }
        fprintf(stderr,
                "surligne %s: --resume %s: the state was written with %s %s, this run has %s: give the options "
                "of the run being continued\n",
                cmd, resume, fields[k].what, was, is);
        return 0;
    }
    return 1;
}

int cli_kernel(const char *cmd, const char *value) {
    const char *fastest = sl_q8_kernel_name();
    if (!sl_q8_kernel_select(value)) return 0;
    fprintf(stderr,
            "surligne %s: --kernel '%s' is not a kernel this processor runs (it runs '%s' by default, "
            "'scalar' and 'scalar-u7' everywhere)\n",
            cmd, value, fastest);
    return -1;
}

const char *cli_precision_name(int asked, int used) {
    const char *k = sl_gemm_bf16_kernel();
    if (used != SL_PRECISION_BF16)
        return asked == SL_PRECISION_AUTO ? (k ? "f32 (--precision auto; bf16 would run on AVX-512 BF16 here)"
                                               : "f32 (--precision auto; no AVX-512 BF16 here)")
               : asked == SL_PRECISION_BF16 ? "f32 (no AVX-512 BF16 here)"
                                            : "f32";
    if (!strcmp(k, "amx"))
        return asked == SL_PRECISION_AUTO ? "bf16 (AMX tiles, --precision auto)" : "bf16 (AMX tiles)";
    return "bf16 (AVX-512 BF16)";
}

int cli_precision(const char *cmd, const char *value) {
    if (!value || !strcmp(value, "auto")) return SL_PRECISION_AUTO;
    if (!strcmp(value, "f32")) return SL_PRECISION_F32;
    if (!strcmp(value, "bf16")) return SL_PRECISION_BF16;
    fprintf(stderr, "surligne %s: --precision is auto, f32 or bf16, not '%s'\n", cmd, value);
    return -1;
}
