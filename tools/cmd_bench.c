/* surligne bench: forward-pass latency and throughput at several sequence lengths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "model.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL;
    long seqs[16] = {32, 128, 512}, threads = 1, batch = 1, repeat = 10;
    int n_seqs = 3;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model_path = cli_value("bench", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--seq")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !(n_seqs = cli_int_list("bench", "--seq", v, seqs, 16)))
                return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--threads", v, 1, 256, &threads)) return 2;
        } else if (!strcmp(argv[i], "--batch")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--batch", v, 1, 256, &batch)) return 2;
        } else if (!strcmp(argv[i], "--repeat")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--repeat", v, 1, 10000, &repeat)) return 2;
        } else {
            fprintf(stderr, "surligne bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "usage: surligne bench -m MODEL.gguf [--seq 32,128,512] [--threads N] [--batch N] [--repeat N]\n");
        return 2;
    }
    sl_error err;
    sl_model *m;
    if (sl_model_load_file(model_path, &m, &err) || sl_model_set_threads(m, (int)threads, &err)) {
        fprintf(stderr, "surligne bench: %s\n", err.message);
        return 1;
    }
    const sl_config *c = sl_model_config(m);
    int rc = 0;
    for (int s = 0; s < n_seqs && rc == 0; s++) {
        int T = (int)seqs[s], B = (int)batch;
        if (T > sl_config_max_tokens(c)) {
            fprintf(stderr, "surligne bench: --seq %d is longer than the model's %d tokens\n", T, sl_config_max_tokens(c));
            rc = 1;
            break;
        }
        int32_t *ids = malloc((size_t)B * T * sizeof *ids);
        float *logits = malloc((size_t)B * T * c->n_labels * sizeof *logits);
        double *times = malloc((size_t)repeat * sizeof *times);
        if (!ids || !logits || !times) rc = 1;
        uint32_t r = 12345;
        for (int i = 0; rc == 0 && i < B * T; i++) {
            r = r * 1664525u + 1013904223u;
            ids[i] = 7 + (int32_t)((r >> 8) % (uint32_t)(c->n_vocab - 8));
        }
        for (int b = 0; rc == 0 && b < B; b++) ids[b * T] = 5, ids[b * T + T - 1] = 6;
        for (int k = -1; rc == 0 && k < repeat; k++) { /* k = -1: warm-up */
            double t0 = now_ms();
            if (sl_model_forward(m, ids, B, T, logits, &err)) {
                fprintf(stderr, "surligne bench: %s\n", err.message);
                rc = 1;
            }
            if (k >= 0) times[k] = now_ms() - t0;
        }
        if (rc == 0) {
            qsort(times, (size_t)repeat, sizeof *times, cmp_double);
            double med = times[repeat / 2];
            printf("surligne  threads=%ld batch=%d seq=%-4d  median %9.2f ms  %9.0f tok/s\n", threads, B, T, med,
                   B * T / (med / 1e3));
            fflush(stdout);
        }
        free(ids);
        free(logits);
        free(times);
    }
    sl_model_free(m);
    return rc;
}
