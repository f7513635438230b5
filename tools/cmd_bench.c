/* surligne bench: forward-pass latency and throughput at several sequence lengths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "fileio.h"
#include "gemm_bf16.h"
#include "kernels.h"
#include "mlm.h"
#include "model.h"
#include "train.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Training steps of a random model of a named shape: seconds per step and tokens per second. */
/* mlm: masked-language-model steps (a model with the MLM head, 15 % of the tokens masked anew each step,
   the head at the masked positions), as `surligne pretrain` runs them; else token classification. */
static int bench_train(const char *shape, const char *tokenizer, int B, int T, int threads, int repeat, int bf16,
                       int mlm) {
    sl_error err;
    uint8_t *spm = NULL, *gguf = NULL;
    size_t spm_size, gguf_size;
    sl_spm_vocab *vocab = NULL;
    sl_model *m = NULL;
    sl_trainer *t = NULL;
    const char *labels[] = {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"};
    int rc = 1;
    if (sl_read_file(tokenizer, &spm, &spm_size, &err) || sl_spm_parse(spm, spm_size, tokenizer, &vocab, &err) ||
        sl_model_random(shape, sl_spm_vocab_get(vocab), labels, mlm ? 0 : 7, 42, NULL, &gguf, &gguf_size, &err) ||
        sl_model_load_memory(gguf, gguf_size, shape, &m, &err)) {
        fprintf(stderr, "surligne bench: %s\n", err.message);
        goto done;
    }
    sl_train_options o = sl_train_default_options();
    o.batch = B;
    o.max_len = T;
    o.total_steps = repeat + 2;
    o.n_threads = threads;
    o.lr = 1e-5;
    o.precision = bf16 ? SL_PRECISION_BF16 : SL_PRECISION_F32;
    if (sl_trainer_create(m, &o, &t, &err)) {
        fprintf(stderr, "surligne bench: %s\n", err.message);
        goto done;
    }
    int32_t *ids = malloc((size_t)B * T * sizeof *ids), *lab = malloc((size_t)B * T * sizeof *lab);
    double *times = malloc((size_t)repeat * sizeof *times);
    uint32_t r = 12345;
    for (int i = 0; i < B * T; i++) {
        r = r * 1664525u + 1013904223u;
        ids[i] = 7 + (int32_t)((r >> 8) % 31990u);
        lab[i] = (int32_t)((r >> 4) % 7u);
    }
    for (int b = 0; b < B; b++) ids[b * T] = 5, ids[b * T + T - 1] = 6, lab[b * T] = lab[b * T + T - 1] = SL_IGNORE_LABEL;
    sl_mlm_masking masking;
    uint8_t *kinds = NULL;
    int32_t *masked = malloc((size_t)B * T * sizeof *masked);
    if (mlm && sl_mlm_masking_init(&masking, m, &kinds, &err)) {
        fprintf(stderr, "surligne bench: %s\n", err.message);
        repeat = 0;
    }
    rc = 0;
    long n_masked = 0;
    for (int k = -2; k < repeat && rc == 0; k++) { /* two warm-up steps */
        sl_step_stats st;
        if (mlm) n_masked += sl_mlm_mask(&masking, ids, B * T, (uint64_t)k + 1000, masked, lab); /* not timed */
        double t0 = now_ms();
        if (mlm ? sl_trainer_mlm_step(t, masked, lab, B, T, &st, &err) : sl_trainer_step(t, ids, lab, B, T, &st, &err)) {
            fprintf(stderr, "surligne bench: %s\n", err.message);
            rc = 1;
        }
        if (k >= 0) times[k] = now_ms() - t0;
    }
    if (rc == 0) {
        qsort(times, (size_t)repeat, sizeof *times, cmp_double);
        double med = times[repeat / 2] / 1e3;
        printf("surligne  config=%s%s threads=%d batch=%d seq=%d precision=%s", shape, mlm ? " mlm" : "",
               threads, B, T,
               bf16 ? (sl_gemm_bf16_available()
                           ? (strcmp(sl_gemm_bf16_kernel(), "amx") ? "bf16(avx512)" : "bf16(amx)")
                           : "bf16(unavailable:f32)")
                    : "f32");
        if (mlm) printf(" masked=%ld", n_masked / (repeat + 2));
        printf("  median %.3f s/step  %.0f tok/s\n", med, B * T / med);
    }
    free(ids);
    free(lab);
    free(masked);
    free(kinds);
    free(times);
done:
    sl_trainer_free(t);
    sl_model_free(m);
    free(gguf);
    sl_spm_vocab_free(vocab);
    free(spm);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *shape = NULL, *tokenizer = "weights/sentencepiece.bpe.model";
    long seqs[16] = {32, 128, 512}, threads = 1, batch = 0, repeat = 10;
    int n_seqs = 3, train = 0, bf16 = 0, mlm = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model_path = cli_value("bench", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--train")) {
            train = 1;
        } else if (!strcmp(argv[i], "--mlm")) {
            train = mlm = 1;
        } else if (!strcmp(argv[i], "--precision")) {
            int p;
            if (!(v = cli_value("bench", argc, argv, &i)) || (p = cli_precision("bench", v)) < 0) return 2;
            bf16 = p == SL_PRECISION_BF16;
        } else if (!strcmp(argv[i], "--config")) {
            if (!(shape = cli_value("bench", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (!(tokenizer = cli_value("bench", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--seq")) {
            if (!(v = cli_value("bench", argc, argv, &i)) ||
                !(n_seqs = cli_int_list("bench", "--seq", v, 1, seqs, 16)))
                return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--threads", v, 1, 256, &threads)) return 2;
        } else if (!strcmp(argv[i], "--batch")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--batch", v, 1, 256, &batch)) return 2;
        } else if (!strcmp(argv[i], "--repeat")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || !cli_int("bench", "--repeat", v, 1, 10000, &repeat)) return 2;
        } else if (!strcmp(argv[i], "--gemm")) {
            if (!(v = cli_value("bench", argc, argv, &i))) return 2;
            if (sl_gemm_bf16_select(v)) {
                fprintf(stderr,
                        "surligne bench: --gemm '%s' is not a bf16 kernel this processor runs (amx, avx512: "
                        "it runs '%s')\n",
                        v, sl_gemm_bf16_kernel() ? sl_gemm_bf16_kernel() : "none");
                return 2;
            }
        } else if (!strcmp(argv[i], "--kernel")) {
            if (!(v = cli_value("bench", argc, argv, &i)) || cli_kernel("bench", v)) return 2;
        } else {
            fprintf(stderr, "surligne bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (train) {
        if (!shape) {
            fprintf(stderr, "surligne bench: --train needs --config tiny|small|base\n");
            return 2;
        }
        int T = n_seqs == 3 && seqs[0] == 32 ? 128 : (int)seqs[0];
        return bench_train(shape, tokenizer, batch ? (int)batch : 8, T, (int)threads, (int)repeat, bf16, mlm);
    }
    if (batch == 0) batch = 1;
    if (!model_path) {
        fprintf(
            stderr,
            "usage: surligne bench -m MODEL.gguf [--seq 32,128,512] [--threads N] [--batch N] [--repeat N] "
            "[--kernel NAME]\n"
            "       surligne bench --train --config tiny|small|base [--batch 8] [--seq 128] [--threads N]\n"
            "                      [--precision f32|bf16] [--gemm amx|avx512] [--mlm]\n");
        return 2;
    }
    sl_error err;
    sl_model *m;
    const double t_load = now_ms();
    if (sl_model_load_file(model_path, &m, &err) || sl_model_set_threads(m, (int)threads, &err)) {
        fprintf(stderr, "surligne bench: %s\n", err.message);
        return 1;
    }
    printf("surligne  load %s: %.0f ms\n", model_path, now_ms() - t_load);
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
