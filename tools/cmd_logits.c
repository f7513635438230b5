/* surligne logits: raw classifier outputs for token ids, one JSON array (tokens x labels) per input line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "model.h"

typedef struct {
    int32_t *ids;
    int n;
} sequence;

static int parse_line(const char *line, size_t len, int lineno, int n_vocab, sequence *seq) {
    seq->ids = malloc((len / 2 + 1) * sizeof *seq->ids);
    seq->n = 0;
    if (!seq->ids) return 0;
    const char *p = line, *end = line + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
        if (p == end) break;
        char *q;
        long v = strtol(p, &q, 10);
        if (q == p || (q < end && *q != ' ' && *q != '\t' && *q != '\r') || v < 0 || v >= n_vocab) {
            fprintf(stderr, "surligne logits: line %d, field %d: expected a token id in [0, %d)\n", lineno,
                    seq->n + 1, n_vocab);
            return 0;
        }
        seq->ids[seq->n++] = (int32_t)v;
        p = q;
    }
    return 1;
}

int cmd_logits(int argc, char **argv) {
    const char *model_path = NULL;
    long batch = 1, threads = 1;
    int mlm = 0; /* --mlm: the masked-language-model head's logits over the vocabulary */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--mlm")) {
            mlm = 1;
        } else if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model_path = cli_value("logits", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--batch")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_int("logits", "--batch", v, 1, 4096, &batch)) return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_int("logits", "--threads", v, 1, 256, &threads))
                return 2;
        } else {
            fprintf(stderr, "surligne logits: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "surligne logits: give the model with -m MODEL.gguf\n");
        return 2;
    }
    sl_error err;
    sl_model *m;
    if (sl_model_load_file(model_path, &m, &err) || sl_model_set_threads(m, (int)threads, &err)) {
        fprintf(stderr, "surligne logits: %s\n", err.message);
        return 1;
    }
    const sl_config *c = sl_model_config(m);
    const int L = mlm ? c->n_vocab : c->n_labels;
    size_t size;
    char *input = cli_read_all("logits", "-", &size);
    int rc = input ? 0 : 1;
    /* lines -> sequences */
    sequence *seqs = NULL;
    int n_seqs = 0, lineno = 0;
    for (char *p = input; rc == 0 && p && p < input + size; lineno++) {
        char *eol = memchr(p, '\n', (size_t)(input + size - p));
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        sequence s;
        sequence *grown = realloc(seqs, (size_t)(n_seqs + 1) * sizeof *seqs);
        if (!grown) rc = 1;
        else seqs = grown;
        if (rc == 0 && !parse_line(p, len, lineno + 1, c->n_vocab, &s)) rc = 1;
        if (rc == 0) {
            if (s.n == 0) {
                fprintf(stderr, "surligne logits: line %d has no token id\n", lineno + 1);
                free(s.ids);
                rc = 1;
            } else {
                seqs[n_seqs++] = s;
            }
        } else if (grown) {
            free(s.ids);
        }
        p += len + 1;
    }
    /* batches of up to `batch` lines, padded on the right with the pad id */
    for (int b0 = 0; rc == 0 && b0 < n_seqs; b0 += (int)batch) {
        int B = n_seqs - b0 < batch ? n_seqs - b0 : (int)batch, T = 0;
        for (int b = 0; b < B; b++) T = seqs[b0 + b].n > T ? seqs[b0 + b].n : T;
        int32_t *ids = malloc((size_t)B * T * sizeof *ids);
        float *logits = malloc((size_t)B * T * L * sizeof *logits);
        if (!ids || !logits) {
            fprintf(stderr, "surligne logits: out of memory\n");
            rc = 1;
        }
        for (int b = 0; rc == 0 && b < B; b++)
            for (int t = 0; t < T; t++) ids[b * T + t] = t < seqs[b0 + b].n ? seqs[b0 + b].ids[t] : c->pad_id;
        if (rc == 0 && (mlm ? sl_model_mlm_forward(m, ids, B, T, logits, &err) : sl_model_forward(m, ids, B, T, logits, &err))) {
            fprintf(stderr, "surligne logits: line %d: %s\n", b0 + 1, err.message);
            rc = 1;
        }
        for (int b = 0; rc == 0 && b < B; b++) {
            putchar('[');
            for (int t = 0; t < seqs[b0 + b].n; t++) {
                printf("%s[", t ? "," : "");
                for (int l = 0; l < L; l++) printf("%s%.7g", l ? "," : "", logits[((size_t)b * T + t) * L + l]);
                putchar(']');
            }
            puts("]");
        }
        free(ids);
        free(logits);
    }
    for (int i = 0; i < n_seqs; i++) free(seqs[i].ids);
    free(seqs);
    free(input);
    sl_model_free(m);
    return rc;
}
