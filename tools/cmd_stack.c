/* surligne stack: a deeper model made of a model's layers, e.g. a pre-trained 4-layer encoder grown to 6 or 8
   layers ("--layers 0,1,2,3,2,3"), to pre-train on from there with surligne pretrain --init. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "fileio.h"

#define STACK_USAGE                                                                                          \
    "usage: surligne stack MODEL.gguf --layers 0,1,2,3,0,1,2,3 -o OUT.gguf\n"                                \
    "       (new layer j is a copy of the model's layer given j-th; other tensors and keys are kept)\n"

int cmd_stack(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *layers = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("stack", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--layers")) {
            if (!(layers = cli_value("stack", argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne stack: unknown option '%s'\n%s", argv[i], STACK_USAGE);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            fprintf(stderr, "surligne stack: one input model only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out || !layers) {
        fprintf(stderr, "%s", STACK_USAGE);
        return 2;
    }
    long from_l[SL_MAX_STACK];
    const int n = cli_int_list("stack", "--layers", layers, 0, from_l, SL_MAX_STACK);
    if (!n) return 2;
    int from[SL_MAX_STACK];
    for (int j = 0; j < n; j++)
        from[j] = from_l[j] > SL_MAX_STACK ? SL_MAX_STACK : (int)from_l[j]; /* past the model's: named */
    uint8_t *data;
    size_t size;
    sl_error err;
    sl_status s = sl_read_file(in, &data, &size, &err);
    if (s == SL_OK) {
        s = sl_model_stack(data, size, in, from, n, out, NULL, NULL, &err);
        free(data);
    }
    if (s != SL_OK) {
        fprintf(stderr, "surligne stack: %s\n", err.message);
        return 1;
    }
    printf("%s: %d layers (from %s's %s)\n", out, n, in, layers);
    return 0;
}
