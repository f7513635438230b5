/* The forward pass against PyTorch: converts the fixture checkpoints written by
   tools/reference/logits_fixtures.py (F32, F16, BF16 safetensors), runs every case, and compares the
   logits of every real position (max abs diff <= 1e-4). Also checks thread-count independence and that the
   GGUF written to disk equals the one built in memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "model.h"

#define TOLERANCE 1e-4

typedef struct {
    char name[64];
    int B, T, L;
    int32_t *ids;  /* (B,T) */
    float *logits; /* (B,T,L) */
} logits_case;

/* Reads the next case from f; returns 0 at the end of the file, -1 on a malformed file. */
static int read_case(FILE *f, logits_case *c) {
    char line[256];
    long pos;
    do {
        pos = ftell(f);
        if (!fgets(line, sizeof line, f)) return 0;
    } while (line[0] == '#' || line[0] == '\n');
    fseek(f, pos, SEEK_SET);
    if (fscanf(f, " case %63s %d %d %d", c->name, &c->B, &c->T, &c->L) != 4) return -1;
    c->ids = malloc((size_t)c->B * c->T * sizeof *c->ids);
    c->logits = malloc((size_t)c->B * c->T * c->L * sizeof *c->logits);
    for (int b = 0; b < c->B; b++) {
        if (fscanf(f, " ids") != 0) return -1;
        for (int t = 0; t < c->T; t++)
            if (fscanf(f, "%d", &c->ids[b * c->T + t]) != 1) return -1;
    }
    for (int i = 0; i < c->B * c->T; i++) {
        if (fscanf(f, " logits") != 0) return -1;
        for (int l = 0; l < c->L; l++)
            if (fscanf(f, "%f", &c->logits[(size_t)i * c->L + l]) != 1) return -1;
    }
    return 1;
}

static double max_diff_real(const logits_case *c, const float *got, int pad_id) {
    double worst = 0;
    for (int i = 0; i < c->B * c->T; i++) {
        if (c->ids[i] == pad_id) continue;
        for (int l = 0; l < c->L; l++) {
            double d = fabs((double)got[(size_t)i * c->L + l] - c->logits[(size_t)i * c->L + l]);
            if (!(d <= worst)) worst = d; /* NaN propagates */
        }
    }
    return worst;
}

static void check_fixture(const char *dir) {
    char path[512];
    sl_error err;
    uint8_t *gguf;
    size_t size;
    sl_status s = sl_convert_hf(dir, NULL, NULL, &gguf, &size, &err);
    CHECK(s == SL_OK, "convert %s: %s", dir, err.message);
    if (s != SL_OK) return;
    sl_model *m;
    s = sl_model_load_memory(gguf, size, dir, &m, &err);
    CHECK(s == SL_OK, "load %s: %s", dir, err.message);
    if (s != SL_OK) {
        free(gguf);
        return;
    }
    snprintf(path, sizeof path, "%s/logits.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    logits_case c;
    int r, n_cases = 0;
    while (f && (r = read_case(f, &c)) != 0) {
        CHECK(r == 1, "%s: malformed case after %d cases", path, n_cases);
        if (r != 1) break;
        n_cases++;
        CHECK(c.L == sl_model_n_labels(m), "%s: %d labels, model has %d", c.name, c.L, sl_model_n_labels(m));
        float *got = malloc((size_t)c.B * c.T * c.L * sizeof *got);
        for (int threads = 1; threads <= 2; threads++) {
            sl_model_set_threads(m, threads, &err);
            s = sl_model_forward(m, c.ids, c.B, c.T, got, &err);
            CHECK(s == SL_OK, "%s %s: %s", dir, c.name, err.message);
            double d = max_diff_real(&c, got, 1);
            CHECK(d <= TOLERANCE, "%s %s (B=%d T=%d, %d threads): max abs diff %.3g > %g", dir, c.name, c.B,
                  c.T, threads, d, TOLERANCE);
            if (threads == 1)
                printf("  %-28s %-18s B=%d T=%-4d max abs diff %.2e\n", dir, c.name, c.B, c.T, d);
        }
        /* each row of a batch alone gives the same logits as in the padded batch */
        if (c.B > 1) {
            int32_t *row = malloc((size_t)c.T * sizeof *row);
            for (int b = 0; b < c.B; b++) {
                int n = 0;
                for (int t = 0; t < c.T; t++)
                    if (c.ids[b * c.T + t] != 1) row[n++] = c.ids[b * c.T + t];
                s = sl_model_forward(m, row, 1, n, got, &err);
                double worst = 0;
                for (int i = 0; s == SL_OK && i < n * c.L; i++) {
                    double d = fabs((double)got[i] - c.logits[((size_t)b * c.T) * c.L + i]);
                    worst = d > worst ? d : worst;
                }
                CHECK(s == SL_OK && worst <= TOLERANCE, "%s row %d alone: diff %.3g", c.name, b, worst);
            }
            free(row);
        }
        free(got);
        free(c.ids);
        free(c.logits);
    }
    CHECK(n_cases >= 5, "%s: only %d cases", path, n_cases);
    if (f) fclose(f);

    /* the same conversion written to a file gives the same bytes */
    char tmpl[] = "/tmp/surligne-test-XXXXXX";
    if (mkdtemp(tmpl)) {
        snprintf(path, sizeof path, "%s/model.gguf", tmpl);
        s = sl_convert_hf(dir, NULL, path, NULL, NULL, &err);
        CHECK(s == SL_OK, "convert to file: %s", err.message);
        FILE *g = fopen(path, "rb");
        uint8_t *disk = malloc(size + 1);
        size_t got = g ? fread(disk, 1, size + 1, g) : 0;
        CHECK(got == size && memcmp(disk, gguf, size) == 0, "file and memory GGUF differ (%zu vs %zu bytes)",
              got, size);
        if (g) fclose(g);
        free(disk);
        unlink(path);
        rmdir(tmpl);
    }
    sl_model_free(m);
    free(gguf);
}

int main(void) {
    check_fixture("tests/fixtures/tiny-hf");
    check_fixture("tests/fixtures/tiny-hf-f16");
    check_fixture("tests/fixtures/tiny-hf-bf16");
    return check_report("test_model");
}
