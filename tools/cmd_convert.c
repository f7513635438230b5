/* surligne convert: a Hugging Face CamemBERT folder -> one GGUF model file. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"

int cmd_convert(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *labels_arg = NULL;
    long seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("convert", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--labels")) {
            if (!(labels_arg = cli_value("convert", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--seed")) {
            if (!(v = cli_value("convert", argc, argv, &i)) || !cli_int("convert", "--seed", v, 0, 1L << 62, &seed))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne convert: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "surligne convert: one folder only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!dir || !out) {
        fprintf(stderr, "usage: surligne convert HF_DIR -o MODEL.gguf [--labels PER,ORG,LOC|FILE.conll] [--seed N]\n");
        return 2;
    }
    sl_error err;
    char **labels = NULL;
    int n_labels = 0;
    if (labels_arg) {
        struct stat st;
        sl_status s = stat(labels_arg, &st) == 0 && S_ISREG(st.st_mode)
                          ? sl_labels_from_conll(labels_arg, &labels, &n_labels, &err)
                          : sl_labels_from_list(labels_arg, &labels, &n_labels, &err);
        if (s != SL_OK) {
            fprintf(stderr, "surligne convert: %s\n", err.message);
            return 1;
        }
    }
    sl_convert_options opt = {(const char *const *)labels, n_labels, (uint64_t)seed};
    sl_status s = sl_convert_hf(dir, &opt, out, NULL, NULL, &err);
    sl_labels_free(labels, n_labels);
    if (s != SL_OK) {
        fprintf(stderr, "surligne convert: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "surligne convert: wrote %s\n", out);
    return 0;
}
