/* surligne inspect: a GGUF file's metadata and tensor table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "gguf.h"

static const char *value_type_name(uint32_t t) {
    static const char *names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",  "float32",
                                  "bool",  "string", "array", "uint64", "int64", "float64"};
    return t < sizeof names / sizeof *names ? names[t] : "?";
}

static void print_scalar(const sl_gguf_kv *kv) {
    switch (kv->type) {
    case SL_GGUF_STRING: cli_json_string(stdout, kv->str, kv->str_len); break;
    case SL_GGUF_BOOL: fputs(kv->b ? "true" : "false", stdout); break;
    case SL_GGUF_FLOAT32:
    case SL_GGUF_FLOAT64: printf("%g", kv->f); break;
    case SL_GGUF_INT8:
    case SL_GGUF_INT16:
    case SL_GGUF_INT32:
    case SL_GGUF_INT64: printf("%lld", (long long)kv->i); break;
    default: printf("%llu", (unsigned long long)kv->u); break;
    }
}

int cmd_inspect(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: surligne inspect MODEL.gguf\n");
        return 2;
    }
    sl_error err;
    uint8_t *data = NULL;
    size_t size;
    sl_gguf *g;
    if (sl_read_file(argv[1], &data, &size, &err) || sl_gguf_parse(data, size, argv[1], &g, &err)) {
        fprintf(stderr, "surligne inspect: %s\n", err.message);
        free(data);
        return 1;
    }
    printf("%s: GGUF, %zu bytes, %zu keys, %zu tensors, alignment %u\n\n", argv[1], size, sl_gguf_n_kv(g),
           sl_gguf_n_tensors(g), sl_gguf_alignment(g));
    for (size_t i = 0; i < sl_gguf_n_kv(g); i++) {
        const sl_gguf_kv *kv = sl_gguf_kv_at(g, i);
        printf("  %-44.*s ", (int)kv->name_len, kv->name);
        if (kv->type != SL_GGUF_ARRAY) {
            print_scalar(kv);
        } else if (kv->arr_type == SL_GGUF_STRING) {
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)kv->name_len, kv->name);
            printf("[%llu strings]", (unsigned long long)kv->arr_n);
            for (uint64_t j = 0; j < kv->arr_n && j < 8; j++) {
                const char *s;
                size_t len;
                if (sl_gguf_arr_str(g, key, j, &s, &len, &err) == SL_OK) {
                    putchar(' ');
                    cli_json_string(stdout, s, len);
                }
            }
            if (kv->arr_n > 8) fputs(" ...", stdout);
        } else {
            printf("[%llu %s]", (unsigned long long)kv->arr_n, value_type_name(kv->arr_type));
        }
        putchar('\n');
    }
    printf("\n  %-36s %-6s %-18s %12s %12s\n", "tensor", "type", "shape (ggml)", "bytes", "offset");
    uint64_t params = 0;
    for (size_t i = 0; i < sl_gguf_n_tensors(g); i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, i);
        char shape[64] = "";
        char *p = shape;
        int64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) {
            p += snprintf(p, (size_t)(shape + sizeof shape - p), "%s%lld", d ? " x " : "", (long long)t->ne[d]);
            n *= t->ne[d];
        }
        params += (uint64_t)n;
        printf("  %-36.*s %-6s %-18s %12zu %12zu\n", (int)t->name_len, t->name, sl_ggml_type_name(t->type), shape,
               t->nbytes, (size_t)(t->data - data));
    }
    printf("\n  %llu parameters\n", (unsigned long long)params);
    sl_gguf_free(g);
    free(data);
    return 0;
}
