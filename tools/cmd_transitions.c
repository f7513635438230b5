/* surligne transitions: stores in a model file the label transitions of annotated data (the label-bigram
   log-probabilities that Viterbi decoding adds, weighted, to the classifier's scores), as `surligne train`
   does for the data it trains on; for a model trained before, or to weigh them differently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "conll.h"
#include "convert.h"
#include "fileio.h"
#include "model.h"

#define TRANSITIONS_USAGE                                                                                    \
    "usage: surligne transitions MODEL.gguf --from FILE.conll [--from FILE.conll ...] -o OUT.gguf\n"         \
    "                            [--weight 0.5] [--unknown-labels error|O]\n"                                \
    "       surligne transitions MODEL.gguf --weight 0 -o OUT.gguf   (removes them)\n"

#define MAX_FILES 16

int cmd_transitions(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *from[MAX_FILES], *v;
    int n_from = 0, unknown_to_o = 0;
    double weight = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("transitions", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--from")) {
            if (!(v = cli_value("transitions", argc, argv, &i))) return 2;
            if (n_from == MAX_FILES) {
                fprintf(stderr, "surligne transitions: at most %d --from files\n", MAX_FILES);
                return 2;
            }
            from[n_from++] = v;
        } else if (!strcmp(argv[i], "--weight")) {
            if (!(v = cli_value("transitions", argc, argv, &i)) ||
                !cli_float("transitions", "--weight", v, 0, 100, &weight))
                return 2;
        } else if (!strcmp(argv[i], "--unknown-labels")) {
            if (!(v = cli_value("transitions", argc, argv, &i)) ||
                (unknown_to_o = cli_unknown_labels("transitions", v)) < 0)
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne transitions: unknown option '%s'\n%s", argv[i], TRANSITIONS_USAGE);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            fprintf(stderr, "surligne transitions: one model only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out || (weight > 0 && n_from == 0)) {
        fprintf(stderr, "%s", TRANSITIONS_USAGE);
        return 2;
    }
    sl_error err;
    sl_model *m;
    if (sl_model_load_file(in, &m, &err)) {
        fprintf(stderr, "surligne transitions: %s\n", err.message);
        return 1;
    }
    const int L = sl_model_n_labels(m);
    if (L == 0) {
        fprintf(stderr, "surligne transitions: %s has no labels (a pre-trained encoder)\n", in);
        sl_model_free(m);
        return 1;
    }
    const size_t n = (size_t)(L + 1) * L;
    double *counts = calloc(n, sizeof *counts);
    float *table = malloc(n * sizeof *table);
    int rc = 1;
    if (!counts || !table) {
        fprintf(stderr, "surligne transitions: no memory\n");
        goto done;
    }
    for (int f = 0; weight > 0 && f < n_from; f++) {
        sl_conll conll = {0};
        if (!cli_read_conll("transitions", from[f], m, unknown_to_o, &conll, stdout)) goto done;
        sl_conll_count_transitions(&conll, counts);
        sl_conll_free(&conll);
    }
    sl_ner_transitions_from_counts(counts, L, table);
    uint8_t *data;
    size_t size;
    if (sl_read_file(in, &data, &size, &err) == SL_OK) {
        sl_status s = sl_model_file_with_transitions(data, size, in, weight > 0 ? table : NULL, (float)weight,
                                                     out, NULL, NULL, &err);
        free(data);
        if (s == SL_OK) rc = 0;
    }
    if (rc) {
        fprintf(stderr, "surligne transitions: %s\n", err.message);
    } else if (weight > 0) {
        const sl_labelset *ls = sl_model_labelset(m);
        printf("%s: label transitions of %d file(s), weight %g; log P(label | previous):\n", out, n_from,
               weight);
        printf("%-10s", "");
        for (int c = 0; c < L; c++) printf(" %8.8s", ls->labels[c]);
        printf("\n");
        for (int p = -1; p < L; p++) {
            printf("%-10.10s", p < 0 ? "(start)" : ls->labels[p]);
            for (int c = 0; c < L; c++) printf(" %8.3f", table[(size_t)(p + 1) * L + c]);
            printf("\n");
        }
    } else {
        printf("%s: no label transitions\n", out);
    }
done:
    free(counts);
    free(table);
    sl_model_free(m);
    return rc;
}
