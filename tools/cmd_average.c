/* surligne average: one model whose parameters are the (weighted) mean of several models' — a "model soup"
   of fine-tuning runs that started from the same pre-trained encoder (other seeds or learning rates), or the
   mean of one run's checkpoints. Costs nothing at inference, unlike an ensemble; whether it helps is measured
   with surligne eval, since runs from different encoders do not average into a working model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "fileio.h"

#define AVERAGE_USAGE                                                                                        \
    "usage: surligne average MODEL.gguf MODEL.gguf [MODEL.gguf ...] -o OUT.gguf [--weights 1,1,...]\n"       \
    "       (f32 or f16 models of one shape and one label set; OUT is f32: quantize it afterwards)\n"

#define MAX_MODELS 16

int cmd_average(int argc, char **argv) {
    const char *in[MAX_MODELS], *out = NULL, *weights_arg = NULL;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("average", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--weights")) {
            if (!(weights_arg = cli_value("average", argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne average: unknown option '%s'\n%s", argv[i], AVERAGE_USAGE);
            return 2;
        } else if (n == MAX_MODELS) {
            fprintf(stderr, "surligne average: at most %d models\n", MAX_MODELS);
            return 2;
        } else {
            in[n++] = argv[i];
        }
    }
    if (n < 2 || !out) {
        fprintf(stderr, "%s", AVERAGE_USAGE);
        return 2;
    }
    double weights[MAX_MODELS];
    if (weights_arg) {
        const int k = cli_real_list("average", "--weights", weights_arg, weights, MAX_MODELS);
        if (!k) return 2;
        if (k != n) {
            fprintf(stderr, "surligne average: --weights gives %d weight(s) for %d model(s)\n", k, n);
            return 2;
        }
    }
    uint8_t *data[MAX_MODELS] = {0};
    size_t size[MAX_MODELS];
    sl_error err;
    sl_status s = SL_OK;
    for (int k = 0; s == SL_OK && k < n; k++) s = sl_read_file(in[k], &data[k], &size[k], &err);
    if (s == SL_OK)
        s = sl_model_average((const uint8_t *const *)data, size, in, n, weights_arg ? weights : NULL, out,
                             NULL, NULL, &err);
    for (int k = 0; k < n; k++) free(data[k]);
    if (s != SL_OK) {
        fprintf(stderr, "surligne average: %s\n", err.message);
        return 1;
    }
    printf("%s: the %s mean of %d models\n", out, weights_arg ? "weighted" : "plain", n);
    return 0;
}
