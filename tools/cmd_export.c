/* surligne export: one GGUF model file -> a Hugging Face folder (config.json, model.safetensors, tokenizer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "export.h"
#include "fileio.h"

static const char USAGE[] = "usage: surligne export MODEL.gguf -o HF_DIR [--arch auto|masked-lm|token-classification|model] "
                            "[--force]\n";

int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *arch = "auto";
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("export", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--arch")) {
            if (!(arch = cli_value("export", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne export: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            fprintf(stderr, "surligne export: one model file only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    static const struct {
        const char *name;
        sl_export_arch arch;
    } ARCHS[] = {{"auto", SL_EXPORT_AUTO},
                 {"masked-lm", SL_EXPORT_MASKED_LM},
                 {"token-classification", SL_EXPORT_TOKEN_CLASSIFICATION},
                 {"model", SL_EXPORT_MODEL}};
    sl_export_options opt = {SL_EXPORT_AUTO, force};
    int known = 0;
    for (size_t i = 0; i < sizeof ARCHS / sizeof *ARCHS; i++)
        if (!strcmp(arch, ARCHS[i].name)) opt.arch = ARCHS[i].arch, known = 1;
    if (!known) {
        fprintf(stderr, "surligne export: --arch must be auto, masked-lm, token-classification or model, not '%s'\n",
                arch);
        return 2;
    }
    if (!in || !out) {
        fputs(USAGE, stderr);
        return 2;
    }
    sl_error err;
    uint8_t *data;
    size_t size;
    sl_export_report rep;
    sl_status s = sl_read_file(in, &data, &size, &err);
    if (s == SL_OK) {
        s = sl_export_hf(data, size, in, out, &opt, &rep, &err);
        free(data);
    }
    if (s != SL_OK) {
        fprintf(stderr, "surligne export: %s\n", err.message);
        return 1;
    }
    if (rep.n_dequantised)
        fprintf(stderr,
                "surligne export: note: %d q8_0 tensor(s) dequantised to f32 (the values the engine computes with, "
                "not the weights before quantisation)\n",
                rep.n_dequantised);
    if (rep.n_widened) fprintf(stderr, "surligne export: note: %d f16 tensor(s) written as f32 (exactly)\n", rep.n_widened);
    if (rep.dropped_mlm)
        fprintf(stderr, "surligne export: note: the masked-language-model head (mlm.*) is not exported in a %s\n",
                rep.architecture);
    if (rep.dropped_classifier)
        fprintf(stderr, "surligne export: note: the classifier and labels are not exported in a %s\n", rep.architecture);
    fprintf(stderr, "surligne export: wrote %s: %s, %d tensors\n", out, rep.architecture, rep.n_tensors);
    return 0;
}
