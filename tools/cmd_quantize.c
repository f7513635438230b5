/* surligne quantize: rewrites a model with its encoder's Linear weights in q8_0 (or f16, or back to f32), and
   its word embeddings in that type or in fewer bits (--embeddings q5_0|q4_0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "convert.h"
#include "quant.h"

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type_name = "q8_0", *embd_name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out = cli_value("quantize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--type")) {
            if (!(type_name = cli_value("quantize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--embeddings")) {
            if (!(embd_name = cli_value("quantize", argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne quantize: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            fprintf(stderr, "surligne quantize: one input model only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    const uint32_t type = sl_ggml_type_by_name(type_name);
    if (type != SL_GGML_Q8_0 && type != SL_GGML_F16 && type != SL_GGML_F32) {
        fprintf(stderr, "surligne quantize: --type must be q8_0, f16 or f32, not '%s'\n", type_name);
        return 2;
    }
    if (!embd_name) embd_name = type_name;
    const uint32_t embd_type = sl_ggml_type_by_name(embd_name);
    if (!sl_ggml_block_size(embd_type)) {
        fprintf(stderr, "surligne quantize: --embeddings must be q8_0, q5_0, q4_0, f16 or f32, not '%s'\n",
                embd_name);
        return 2;
    }
    if (!in || !out) {
        fprintf(stderr, "usage: surligne quantize IN.gguf -o OUT.gguf [--type q8_0|f16|f32] "
                        "[--embeddings q8_0|q5_0|q4_0|f16|f32]\n");
        return 2;
    }
    sl_error err;
    uint8_t *data;
    size_t size;
    sl_quantize_report rep;
    sl_status s = sl_read_file(in, &data, &size, &err);
    if (s == SL_OK) {
        s = sl_quantize_model(data, size, in, type, embd_type, out, NULL, NULL, &rep, &err);
        free(data);
    }
    if (s != SL_OK) {
        fprintf(stderr, "surligne quantize: %s\n", err.message);
        return 1;
    }
    if (rep.n_kept)
        fprintf(stderr,
                "surligne quantize: %d Linear weight(s) kept in their type, their rows not a multiple of 32 "
                "(first: %s)\n",
                rep.n_kept, rep.first_kept);
    fprintf(
        stderr,
        "surligne quantize: wrote %s: %d tensors converted (Linear weights %s, word embeddings %s), tensors "
        "%.1f MB -> %.1f MB\n",
        out, rep.n_converted, type_name, embd_name, rep.bytes_in / 1e6, rep.bytes_out / 1e6);
    return 0;
}
