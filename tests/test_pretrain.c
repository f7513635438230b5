/* Pre-training: the data (engine/mlm.h) and `surligne pretrain` run as a program.
   - packing: every line becomes <s> tokens </s>, the stream is cut into full blocks; the held-out split is
     a fixed, disjoint part of them; the sampler visits every training block once per pass, mixes sources
     by weight, and continues identically from its saved position;
   - masking: Hugging Face's collator statistics (15 % of the non-special tokens; 80 / 10 / 10), specials
     never chosen, labels the original ids, deterministic per seed; whole words masked as wholes;
   - the program: a short run lowers the validation loss and writes its files; runs stopped by SIGKILL and
     by Ctrl-C and resumed end with the uninterrupted run's weights, bit for bit; `mpirun -np 2` gives the
     single-process weights to float rounding and resumes after a kill; `train --init` fine-tunes the
     result; bad inputs are named. */
#include <math.h>

#include "cli_run.h"
#include "convert.h"
#include "mlm.h"
#include "fileio.h"
#include "gguf.h"

#define TOKENIZER SL_SHARED_DATA "/camembert-base-tokenizer/sentencepiece.bpe.model"

static sl_model *model;
static uint8_t *model_bytes;

/* The first n lines of a text file, written to out. */
static int head_lines(const char *src, int n, const char *out) {
    char *text = read_text(src);
    if (!text) return 0;
    char *p = text;
    for (int i = 0; i < n && *p; i++) {
        char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    FILE *f = fopen(out, "w");
    int ok = f && fwrite(text, 1, (size_t)(p - text), f) == (size_t)(p - text);
    if (f) fclose(f);
    free(text);
    return ok;
}

/* ---- packing, split, sampling ---- */

static void test_corpus(void) {
    sl_error err;
    char a[512];
    snprintf(a, sizeof a, "%s", tmp("a.txt"));
    CHECK(write_text(a, "Il était une fois.\n\nUne seconde ligne, plus longue que la première.\r\nFin\n"), "write");
    sl_mlm_corpus c;
    sl_mlm_corpus_init(&c, 8);
    CHECK(sl_mlm_corpus_add(&c, a, 1, sl_model_tokenizer(model), NULL, &err) == SL_OK, "%s", err.message);
    const sl_mlm_source *s = &c.sources[0];
    sl_tokens tk = {0};
    const char *lines[3] = {"Il était une fois.", "Une seconde ligne, plus longue que la première.", "Fin"};
    int64_t at = 0;
    int same = 1;
    for (int l = 0; l < 3; l++) {
        sl_tokenize(sl_model_tokenizer(model), lines[l], strlen(lines[l]), &tk, &err);
        same &= at + tk.n + 2 <= s->n_ids && s->ids[at] == 5 && s->ids[at + tk.n + 1] == 6 &&
                !memcmp(s->ids + at + 1, tk.ids, (size_t)tk.n * sizeof(int32_t));
        at += tk.n + 2;
    }
    sl_tokens_free(&tk);
    CHECK(same && at == s->n_ids && s->n_lines == 3, "the stream is not <s> line </s> per non-empty line (%lld ids)",
          (long long)s->n_ids);
    CHECK(s->n_blocks == s->n_ids / 8, "%lld blocks of 8 from %lld ids", (long long)s->n_blocks, (long long)s->n_ids);
    sl_mlm_corpus_free(&c);

    /* a real text: the split, the sampler */
    char eltec[512], cv[512];
    snprintf(eltec, sizeof eltec, "%s", tmp("eltec.txt"));
    snprintf(cv, sizeof cv, "%s", tmp("cv.txt"));
    CHECK(head_lines(SL_SHARED_DATA "/french-text/raw-eltec-fra/eltec-fra-level1.txt", 1500, eltec), "eltec");
    CHECK(head_lines(SL_SHARED_DATA "/french-text/raw-commonvoice-fr/cv-fr-wikisource.txt", 3000, cv), "cv");
    sl_pool *pool = sl_pool_create(2);
    sl_mlm_corpus_init(&c, 32);
    CHECK(sl_mlm_corpus_add(&c, eltec, 3, sl_model_tokenizer(model), pool, &err) == SL_OK, "%s", err.message);
    CHECK(sl_mlm_corpus_add(&c, cv, 1, sl_model_tokenizer(model), pool, &err) == SL_OK, "%s", err.message);
    sl_pool_free(pool);
    /* the threads do not change the stream */
    sl_mlm_corpus one;
    sl_mlm_corpus_init(&one, 32);
    CHECK(sl_mlm_corpus_add(&one, eltec, 3, sl_model_tokenizer(model), NULL, &err) == SL_OK, "%s",
          err.message);
    CHECK(one.sources[0].n_ids == c.sources[0].n_ids &&
              !memcmp(one.sources[0].ids, c.sources[0].ids, (size_t)one.sources[0].n_ids * sizeof(int32_t)),
          "two threads tokenised another stream than one");
    sl_mlm_corpus_free(&one);
    CHECK(sl_mlm_corpus_split(&c, 0.05, &err) == SL_OK, "%s", err.message);
    for (int k = 0; k < 2; k++) {
        const sl_mlm_source *src = &c.sources[k];
        char *seen = calloc((size_t)src->n_blocks, 1);
        int ok = src->n_train + src->n_valid == src->n_blocks;
        for (int64_t i = 0; i < src->n_train; i++) ok &= !seen[src->train[i]]++;
        for (int64_t i = 0; i < src->n_valid; i++) ok &= !seen[src->valid[i]]++;
        const double f = (double)src->n_valid / src->n_blocks;
        CHECK(ok && f > 0.02 && f < 0.09, "source %d: %lld train + %lld held out of %lld blocks (%.3f)", k,
              (long long)src->n_train, (long long)src->n_valid, (long long)src->n_blocks, f);
        free(seen);
    }
    printf("  corpus: %lld + %lld tokens, %lld + %lld blocks of 32, %lld + %lld held out\n",
           (long long)c.sources[0].n_ids, (long long)c.sources[1].n_ids, (long long)c.sources[0].n_blocks,
           (long long)c.sources[1].n_blocks, (long long)c.sources[0].n_valid, (long long)c.sources[1].n_valid);

    /* mixing 3:1; every block of a source once per pass; a saved position continues the same way */
    sl_mlm_sampler smp, again;
    CHECK(sl_mlm_sampler_init(&smp, &c, 7, &err) == SL_OK, "%s", err.message);
    const int n = 4000;
    int from[2] = {0, 0};
    int32_t ids[32];
    char *seen = calloc((size_t)c.sources[1].n_blocks, 1);
    int repeats_in_pass = 0;
    uint64_t hash_after = 0;
    sl_mlm_sampler_init(&again, &c, 7, &err);
    for (int g = 0; g < n; g++) {
        if (g == n / 2) memcpy(again.taken, smp.taken, sizeof smp.taken);
        int k = sl_mlm_sampler_next(&smp, &c, (uint64_t)g, ids);
        from[k]++;
        if (k == 1 && smp.taken[1] <= c.sources[1].n_train) {
            /* find the block: its first token position in the stream */
            for (int64_t b = 0; b < c.sources[1].n_blocks; b++)
                if (!memcmp(sl_mlm_block(&c, 1, b), ids, sizeof ids)) {
                    repeats_in_pass += seen[b]++ > 0;
                    break;
                }
        }
        if (g >= n / 2)
            for (int i = 0; i < 32; i++) hash_after = sl_hash64(hash_after ^ (uint64_t)ids[i]);
    }
    uint64_t hash_again = 0;
    for (int g = n / 2; g < n; g++) {
        sl_mlm_sampler_next(&again, &c, (uint64_t)g, ids);
        for (int i = 0; i < 32; i++) hash_again = sl_hash64(hash_again ^ (uint64_t)ids[i]);
    }
    const double share = (double)from[0] / n;
    CHECK(share > 0.72 && share < 0.78, "weights 3:1 gave %.3f of the samples to the first source", share);
    CHECK(repeats_in_pass == 0, "%d blocks came twice within a pass", repeats_in_pass);
    CHECK(hash_after == hash_again, "a sampler continued from a saved position draws other blocks");
    printf("  sampler: %.3f of %d samples from the source of weight 3/4; a pass over %lld blocks without "
           "repeats; a resumed sampler continues identically\n",
           share, n, (long long)c.sources[1].n_train);
    free(seen);
    sl_mlm_sampler_free(&smp);
    sl_mlm_sampler_free(&again);

    /* ---- masking ---- */
    uint8_t *kinds;
    sl_mlm_masking m;
    CHECK(sl_mlm_masking_init(&m, model, &kinds, &err) == SL_OK, "%s", err.message);
    const sl_mlm_source *src = &c.sources[0];
    const int N = (int)src->n_ids;
    int32_t *in = malloc((size_t)N * sizeof *in), *lab = malloc((size_t)N * sizeof *lab),
            *in2 = malloc((size_t)N * sizeof *in2), *lab2 = malloc((size_t)N * sizeof *lab2);
    int masked = sl_mlm_mask(&m, src->ids, N, 99, in, lab);
    long normal = 0, chosen = 0, to_mask = 0, to_random = 0, kept = 0, special_chosen = 0, changed_unlabelled = 0,
         wrong_label = 0;
    for (int i = 0; i < N; i++) {
        const int special = kinds[src->ids[i]] == SL_MLM_SPECIAL;
        normal += !special;
        if (lab[i] == SL_IGNORE_LABEL) {
            changed_unlabelled += in[i] != src->ids[i];
            continue;
        }
        chosen++;
        special_chosen += special;
        wrong_label += lab[i] != src->ids[i];
        if (in[i] == m.mask_id) to_mask++;
        else if (in[i] == src->ids[i]) kept++;
        else to_random++;
    }
    CHECK(masked == chosen, "sl_mlm_mask returned %d, %ld labelled", masked, chosen);
    CHECK(special_chosen == 0 && changed_unlabelled == 0 && wrong_label == 0,
          "%ld specials chosen, %ld unlabelled tokens changed, %ld wrong labels", special_chosen, changed_unlabelled,
          wrong_label);
    const double p = (double)chosen / normal, pm = (double)to_mask / chosen, pr = (double)to_random / chosen,
                 pk = (double)kept / chosen;
    /* binomial standard deviations: sqrt(0.15 * 0.85 / 30000) = 0.002; sqrt(0.09 / 4500) = 0.0045 */
    CHECK(fabs(p - 0.15) < 0.01 && fabs(pm - 0.8) < 0.025 && fabs(pr - 0.1) < 0.02 && fabs(pk - 0.1) < 0.02,
          "masking: %.4f of the tokens chosen; of those %.4f <mask>, %.4f random, %.4f kept", p, pm, pr, pk);
    printf("  masking: %.4f of %ld tokens chosen; %.4f <mask>, %.4f random, %.4f kept; no special\n", p, normal, pm,
           pr, pk);
    sl_mlm_mask(&m, src->ids, N, 99, in2, lab2);
    CHECK(!memcmp(in, in2, (size_t)N * sizeof *in) && !memcmp(lab, lab2, (size_t)N * sizeof *lab),
          "the same seed gave other masks");
    sl_mlm_mask(&m, src->ids, N, 100, in2, lab2);
    CHECK(memcmp(lab, lab2, (size_t)N * sizeof *lab), "another seed gave the same masks");
    /* whole words: all the pieces of a word share its draw */
    m.whole_word = 1;
    sl_mlm_mask(&m, src->ids, N, 5, in, lab);
    long words = 0, words_chosen = 0, split = 0;
    for (int i = 0; i < N; i++) {
        const int kind = kinds[src->ids[i]];
        if (kind == SL_MLM_SPECIAL) continue;
        const int prev_normal = i > 0 && kinds[src->ids[i - 1]] != SL_MLM_SPECIAL;
        if (kind == SL_MLM_CONTINUATION && prev_normal) {
            split += (lab[i] != SL_IGNORE_LABEL) != (lab[i - 1] != SL_IGNORE_LABEL);
        } else {
            words++;
            words_chosen += lab[i] != SL_IGNORE_LABEL;
        }
    }
    const double pw = (double)words_chosen / words;
    CHECK(split == 0 && fabs(pw - 0.15) < 0.012, "whole words: %ld words cut, %.4f of %ld words chosen", split, pw,
          words);
    printf("  whole-word masking: %.4f of %ld words chosen, none cut\n", pw, words);
    free(in), free(lab), free(in2), free(lab2), free(kinds);
    sl_mlm_corpus_free(&c);
}

/* ---- the program ---- */

#ifdef SL_MPIRUN
/* The largest absolute difference between the tensors of two GGUF files (f32), or -1. The attention key
   biases are left out: their gradient is 0 in exact arithmetic, so rounding noise that Adam scales up to
   steps of order lr moves them, differently for every order of summation (tests/fixtures/train/README.md);
   they do not change any output. */
static double max_tensor_diff(const char *a, const char *b) {
    uint8_t *da = NULL, *db = NULL;
    size_t na, nb;
    sl_gguf *ga = NULL, *gb = NULL;
    sl_error err;
    double d = -1;
    if (!sl_read_file(a, &da, &na, &err) && !sl_read_file(b, &db, &nb, &err) && !sl_gguf_parse(da, na, a, &ga, &err) &&
        !sl_gguf_parse(db, nb, b, &gb, &err) && sl_gguf_n_tensors(ga) == sl_gguf_n_tensors(gb)) {
        d = 0;
        for (size_t i = 0; i < sl_gguf_n_tensors(ga) && d >= 0; i++) {
            const sl_gguf_tensor *x = sl_gguf_tensor_at(ga, i);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)x->name_len, x->name);
            const sl_gguf_tensor *y = sl_gguf_find_tensor(gb, name);
            if (!y || y->nbytes != x->nbytes || x->type != SL_GGML_F32 || y->type != SL_GGML_F32) {
                d = -1;
                break;
            }
            if (strstr(name, "attn_k.bias")) continue;
            for (size_t j = 0; j < x->nbytes / 4; j++) {
                float u, v;
                memcpy(&u, x->data + 4 * j, 4);
                memcpy(&v, y->data + 4 * j, 4);
                d = fmax(d, fabs((double)u - v));
            }
        }
    }
    sl_gguf_free(ga), sl_gguf_free(gb);
    free(da), free(db);
    return d;
}
#endif

static double json_number(const char *text, const char *key, int last) {
    const char *p = NULL;
    for (const char *q = text; q && (q = strstr(q, key)); q++) {
        p = q;
        if (!last) break;
    }
    return p ? atof(p + strlen(key)) : NAN;
}

static char common[1600];

static void test_run(void) {
    /* f32 products: the data-parallel run is compared with one process to f32 rounding (bf16 products, which
       --precision auto picks on AMX, would differ where a process's half batch falls under their size limit)
     */
    snprintf(
        common, sizeof common,
        "pretrain --config tiny --tokenizer %s --text %s --text %s --weights 3,1 --max-len 32 --batch 8 "
        "--steps 48 --lr 2e-3 --eval-every 16 --log-every 4 --valid-max 64 --valid-fraction 0.05 --seed 5 "
        "--threads 1 --save-every 4 --precision f32",
        TOKENIZER, tmp("eltec.txt"), tmp("cv.txt"));
    int rc = run_cli(tmp("straight.log"), "%s -o %s", common, tmp("straight.gguf"));
    char *log = read_text(tmp("straight.log")), *metrics = read_text(tmp("straight.metrics.jsonl"));
    CHECK(rc == 0, "pretrain: status %d\n%s", rc, log ? log : "");
    CHECK(exists(tmp("straight.gguf")) && exists(tmp("straight.svg")) && exists(tmp("straight.state.gguf")) && metrics,
          "the run's files are missing");
    const double v0 = metrics ? json_number(metrics, "\"valid_loss\": ", 0) : NAN,
                 v1 = metrics ? json_number(metrics, "\"valid_loss\": ", 1) : NAN;
    CHECK(v1 < v0 - 0.3, "validation loss %.4f -> %.4f: it should drop", v0, v1);
    printf("  48 steps of the tiny model: validation loss %.4f -> %.4f\n", v0, v1);
    free(log);
    free(metrics);

    const char *names[2] = {"killed", "interrupted"};
    const int signals[2] = {SIGKILL, SIGINT};
    for (int k = 0; k < 2; k++) {
        char out[512], state[600], logp[600], args[2300];
        snprintf(out, sizeof out, "%s", tmp(names[k]));
        snprintf(state, sizeof state, "%s.state.gguf", out);
        snprintf(logp, sizeof logp, "%s.log", out);
        snprintf(args, sizeof args, "%s -o %s.gguf", common, out);
        pid_t pid = start_cli(logp, args);
        for (int i = 0; i < 10000 && state_step(state) < 12 + 12 * k; i++) sleep_ms(1);
        kill(pid, signals[k]);
        int status;
        waitpid(pid, &status, 0);
        const int at = state_step(state);
        if (k == 0) CHECK(WIFSIGNALED(status), "the run was not killed (status %d): make it longer", status);
        else CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "Ctrl-C: status %d, expected exit 130", status);
        CHECK(at > 0 && at < 48, "%s run: state at step %d", names[k], at);
        snprintf(logp, sizeof logp, "%s.resumed.log", out);
        rc = run_cli(logp, "%s -o %s.gguf --resume %s", common, out, state);
        char *text = read_text(logp);
        CHECK(rc == 0 && text && strstr(text, "resuming"), "resume: status %d\n%s", rc, text ? text : "");
        free(text);
        char model[600], path[600];
        snprintf(model, sizeof model, "%s.gguf", out);
        const int d = differing_tensors(tmp("straight.gguf"), model);
        CHECK(d == 0, "%s at step %d and resumed: %d tensors differ from the uninterrupted run's", names[k], at, d);
        char *m1 = read_text(tmp("straight.metrics.jsonl"));
        snprintf(path, sizeof path, "%s.metrics.jsonl", out);
        char *m2 = read_text(path);
        strip_speeds(m1);
        strip_speeds(m2);
        CHECK(m1 && m2 && !strcmp(m1, m2), "the resumed run's metrics differ:\n%s\n%s", m1 ? m1 : "", m2 ? m2 : "");
        free(m1);
        free(m2);
        printf("  %s at step %d/48, resumed: the uninterrupted run's weights and log: %s\n", names[k], at,
               d == 0 ? "yes" : "NO");
    }
    /* --stop-at: a run in two slices (stopped at 20, then resumed) ends with the uninterrupted run's weights */
    rc = run_cli(tmp("slice1.log"), "%s -o %s --stop-at 20", common, tmp("sliced.gguf"));
    char *text1 = read_text(tmp("slice1.log"));
    CHECK(rc == 0 && text1 && strstr(text1, "stopped at step 20 of 48") && state_step(tmp("sliced.state.gguf")) == 20,
          "--stop-at 20: status %d, state at step %d\n%s", rc, state_step(tmp("sliced.state.gguf")),
          text1 ? text1 : "");
    free(text1);
    rc = run_cli(tmp("slice2.log"), "%s -o %s --resume %s", common, tmp("sliced.gguf"), tmp("sliced.state.gguf"));
    const int ds = differing_tensors(tmp("straight.gguf"), tmp("sliced.gguf"));
    CHECK(rc == 0 && ds == 0, "--stop-at 20 then --resume: status %d, %d tensors differ from the uninterrupted run's",
          rc, ds);
    printf("  --stop-at 20, then --resume: the uninterrupted run's weights: %s\n", ds == 0 ? "yes" : "NO");
    /* another option on resume is refused by name */
    rc = run_cli(tmp("seed.log"), "%s --seed 6 -o %s --resume %s", common, tmp("straight.gguf"),
                 tmp("straight.state.gguf"));
    char *text = read_text(tmp("seed.log"));
    CHECK(rc == 1 && text && strstr(text, "--seed"), "resume with another --seed: status %d: %s", rc, text ? text : "");
    free(text);

    /* the result fine-tunes for NER (a fresh head) and the fine-tuned model recognises */
    char conll[512];
    snprintf(conll, sizeof conll, "%s", tmp("ner.conll"));
    CHECK(write_text(conll, "Gérald\tB-PER\nDarmanin\tI-PER\nest\tO\nà\tO\nParis\tB-LOC\n.\tO\n\n"
                            "Nicolas\tB-PER\nSarkozy\tI-PER\nvisite\tO\nLyon\tB-LOC\n\n"),
          "conll");
    rc = run_cli(tmp("ft.log"), "train --init %s --train %s --epochs 2 --batch 2 -o %s", tmp("straight.gguf"), conll,
                 tmp("ft.gguf"));
    text = read_text(tmp("ft.log"));
    CHECK(rc == 0 && text && strstr(text, "fresh classification head"), "fine-tuning the pre-trained encoder: %d\n%s",
          rc, text ? text : "");
    free(text);
    rc = run_cli(tmp("ner.log"), "ner -m %s %s", tmp("ft.gguf"), conll);
    CHECK(rc == 0, "ner with the fine-tuned model: status %d", rc);
    rc = run_cli(tmp("ner-pt.log"), "ner -m %s %s", tmp("straight.gguf"), conll);
    text = read_text(tmp("ner-pt.log"));
    CHECK(rc == 1 && text && strstr(text, "no token-classification head"), "ner with the encoder alone: %d: %s", rc,
          text ? text : "");
    free(text);
}

static void test_mpi(void) {
#ifdef SL_MPIRUN
    /* two processes, one thread each, the same global batch: the single-process weights to float rounding */
    const char *mpi = SL_MPIRUN " --allow-run-as-root --oversubscribe -np 2 " SL_CLI;
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s %s -o %s > %s 2>&1 < /dev/null", mpi, common, tmp("mpi.gguf"), tmp("mpi.log"));
    fflush(NULL);
    int rc = system(cmd);
    char *text = read_text(tmp("mpi.log"));
    CHECK(rc == 0 && text && strstr(text, "2 process(es)"), "mpirun -np 2: status %d\n%s", rc, text ? text : "");
    free(text);
    const double d = max_tensor_diff(tmp("straight.gguf"), tmp("mpi.gguf"));
    CHECK(d >= 0 && d <= 1e-5, "mpirun -np 2 vs one process after 48 steps: max abs diff %.3g", d);
    printf("  mpirun -np 2 vs one process, 48 steps: max abs weight diff %.2e\n", d);
    /* killed mid-run and resumed by mpirun: the uninterrupted two-process run's weights, bit for bit */
    snprintf(cmd, sizeof cmd, "exec %s %s -o %s > %s 2>&1 < /dev/null", mpi, common, tmp("mpik.gguf"), tmp("mpik.log"));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 20000 && state_step(tmp("mpik.state.gguf")) < 20; i++) sleep_ms(1);
    kill(-pid, SIGKILL); /* the launcher and both ranks */
    waitpid(pid, NULL, 0);
    const int at = state_step(tmp("mpik.state.gguf"));
    CHECK(at > 0 && at < 48, "mpirun killed at step %d", at);
    snprintf(cmd, sizeof cmd, "%s %s -o %s --resume %s > %s 2>&1 < /dev/null", mpi, common, tmp("mpik.gguf"),
             tmp("mpik.state.gguf"), tmp("mpik2.log"));
    rc = system(cmd);
    CHECK(rc == 0, "mpirun --resume: status %d", rc);
    const int diff = differing_tensors(tmp("mpi.gguf"), tmp("mpik.gguf"));
    CHECK(diff == 0, "two processes killed at step %d and resumed: %d tensors differ", at, diff);
    printf("  mpirun -np 2 killed at step %d/48 and resumed: the uninterrupted run's weights: %s\n", at,
           diff == 0 ? "yes" : "NO");
    /* fine-tuning too (dropout on, batches padded): 2 processes = 1, to float rounding */
    char ner_args[1200];
    snprintf(ner_args, sizeof ner_args,
             "train --init tests/fixtures/tiny-hf --train %s --epochs 2 --batch 8 --lr 5e-4 --seed 3 "
             "--threads 1 --precision f32",
             tmp("wikiann.conll"));
    CHECK(run_cli(tmp("tr1.log"), "%s -o %s", ner_args, tmp("tr1.gguf")) == 0, "train, one process");
    snprintf(cmd, sizeof cmd, "%s %s -o %s > %s 2>&1 < /dev/null", mpi, ner_args, tmp("tr2.gguf"), tmp("tr2.log"));
    rc = system(cmd);
    CHECK(rc == 0, "mpirun -np 2 train: status %d", rc);
    const double dt = max_tensor_diff(tmp("tr1.gguf"), tmp("tr2.gguf"));
    CHECK(dt >= 0 && dt <= 1e-5, "mpirun -np 2 train vs one process: max abs diff %.3g", dt);
    printf("  mpirun -np 2 train (fine-tuning, dropout 0.1) vs one process: max abs weight diff %.2e\n", dt);
#else
    printf("  (no MPI in this build: the data-parallel checks are skipped)\n");
#endif
}

static void expect(const char *what, int status, int want, const char *log, const char *needle) {
    char *text = read_text(log);
    CHECK(status == want && text && strstr(text, needle), "%s: status %d (want %d), output lacks '%s':\n%s", what,
          status, want, needle, text ? text : "");
    free(text);
}

static void test_errors(void) {
    const char *base = "pretrain --config tiny --tokenizer " TOKENIZER " --max-len 32 --batch 8 --steps 2";
    int rc = run_cli(tmp("e1.log"), "%s --text %s -o %s", base, tmp("missing.txt"), tmp("e.gguf"));
    expect("missing text", rc, 1, tmp("e1.log"), "missing.txt");
    CHECK(write_text(tmp("bad.txt"), "une ligne\nune autre \xff ligne\n"), "write");
    rc = run_cli(tmp("e2.log"), "%s --text %s -o %s", base, tmp("bad.txt"), tmp("e.gguf"));
    expect("invalid UTF-8", rc, 1, tmp("e2.log"), "line 2");
    rc = run_cli(tmp("e3.log"), "%s --text %s --text %s --weights 1 -o %s", base, tmp("eltec.txt"), tmp("cv.txt"),
                 tmp("e.gguf"));
    expect("weights", rc, 1, tmp("e3.log"), "--weights");
    rc = run_cli(tmp("e4.log"), "%s --text %s", base, tmp("eltec.txt"));
    expect("no -o", rc, 2, tmp("e4.log"), "-o");
    rc = run_cli(tmp("e5.log"), "pretrain --init tests/fixtures/tiny-hf --text %s --steps 2 -o %s", tmp("eltec.txt"),
                 tmp("e.gguf"));
    expect("no MLM head", rc, 1, tmp("e5.log"), "masked-language-model head");
}

/* The std of a random model's attention query weights of layer 0, from the GGUF file written */
static double query_std(const char *path) {
    uint8_t *data = NULL;
    size_t size = 0;
    sl_gguf *g = NULL;
    sl_error err;
    double sum = 0, sq = 0;
    int64_t n = 0;
    if (sl_read_file(path, &data, &size, &err) == SL_OK && sl_gguf_parse(data, size, path, &g, &err) == SL_OK) {
        const sl_gguf_tensor *t = sl_gguf_find_tensor(g, "blk.0.attn_q.weight");
        if (t && t->type == SL_GGML_F32) {
            n = (int64_t)(t->nbytes / sizeof(float));
            for (int64_t i = 0; i < n; i++) {
                float x;
                memcpy(&x, t->data + i * sizeof x, sizeof x);
                sum += x, sq += (double)x * x;
            }
        }
    }
    sl_gguf_free(g);
    free(data);
    return n > 1 ? sqrt((sq - sum * sum / n) / (n - 1)) : -1;
}

/* --init-std: the random model's normal(0, std) weights (Hugging Face's initializer_range), 0.02 by default */
static void test_init_std(void) {
    const char *base = "pretrain --config tiny --tokenizer " TOKENIZER " --max-len 32 --batch 8 --steps 1 --lr 0 "
                       "--valid-max 0";
    int rc = run_cli(tmp("i1.log"), "%s --text %s -o %s", base, tmp("eltec.txt"), tmp("i1.gguf"));
    CHECK(rc == 0, "pretrain with the default init: exit %d", rc);
    const double d = query_std(tmp("i1.gguf"));
    CHECK(fabs(d - 0.02) < 0.003, "default init: query std %.4f, want 0.02", d);
    rc = run_cli(tmp("i2.log"), "%s --init-std 0.1 --text %s -o %s", base, tmp("eltec.txt"), tmp("i2.gguf"));
    CHECK(rc == 0, "pretrain --init-std 0.1: exit %d", rc);
    const double w = query_std(tmp("i2.gguf"));
    CHECK(fabs(w - 0.1) < 0.015, "--init-std 0.1: query std %.4f", w);
    rc = run_cli(tmp("i3.log"), "pretrain --init %s --init-std 0.1 --text %s --steps 1 -o %s", tmp("i1.gguf"),
                 tmp("eltec.txt"), tmp("i3.gguf"));
    expect("--init-std with --init", rc, 2, tmp("i3.log"), "--init-std");
}

/* A tensor of an f32 GGUF file as floats (malloc'ed), or NULL. */
static float *f32_tensor(const sl_gguf *g, const char *name, size_t want) {
    const sl_gguf_tensor *t = sl_gguf_find_tensor(g, name);
    if (!t || t->type != SL_GGML_F32 || t->nbytes != want * sizeof(float)) return NULL;
    float *x = malloc(t->nbytes);
    if (x) memcpy(x, t->data, t->nbytes);
    return x;
}

/* The attention of layer 0's heads 0 and 1 on the previous and the next token, over T positions of random
   words, computed from the file's embeddings, LayerNorm and query/key weights: {prev of head 0, next of head 1,
   the most any head puts on one neighbour otherwise}; -1 when the file is not read. */
static void neighbour_attention(const char *path, double out[3]) {
    enum { C = 256, NH = 4, HD = C / NH, T = 96 };
    uint8_t *data = NULL;
    size_t size = 0;
    sl_gguf *g = NULL;
    sl_error err;
    out[0] = out[1] = out[2] = -1;
    if (sl_read_file(path, &data, &size, &err) || sl_gguf_parse(data, size, path, &g, &err)) {
        free(data);
        return;
    }
    const sl_gguf_tensor *te = sl_gguf_find_tensor(g, "token_embd.weight");
    const size_t V = te ? (size_t)te->ne[1] : 0;
    float *tok = f32_tensor(g, "token_embd.weight", V * C), *pos = f32_tensor(g, "position_embd.weight", 514 * C),
          *type = f32_tensor(g, "token_types.weight", C), *lw = f32_tensor(g, "token_embd_norm.weight", C),
          *lb = f32_tensor(g, "token_embd_norm.bias", C), *wq = f32_tensor(g, "blk.0.attn_q.weight", C * C),
          *wk = f32_tensor(g, "blk.0.attn_k.weight", C * C);
    static float x[T][C], q[T][C], k[T][C];
    if (V > 10 && tok && pos && type && lw && lb && wq && wk) {
        uint64_t rng = 7;
        for (int t = 0; t < T; t++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const size_t id = 5 + (rng >> 33) % (V - 10);
            double mean = 0, var = 0;
            for (int c = 0; c < C; c++) mean += x[t][c] = tok[id * C + c] + pos[(size_t)(t + 2) * C + c] + type[c];
            mean /= C;
            for (int c = 0; c < C; c++) var += (x[t][c] - mean) * (x[t][c] - mean);
            const double inv = 1 / sqrt(var / C + 1e-5);
            for (int c = 0; c < C; c++) x[t][c] = (float)((x[t][c] - mean) * inv * lw[c] + lb[c]);
        }
        for (int t = 0; t < T; t++)
            for (int o = 0; o < C; o++) {
                double a = 0, b = 0;
                for (int c = 0; c < C; c++) a += (double)wq[o * C + c] * x[t][c], b += (double)wk[o * C + c] * x[t][c];
                q[t][o] = (float)a, k[t][o] = (float)b;
            }
        out[0] = out[1] = out[2] = 0;
        for (int h = 0; h < NH; h++) {
            double prev = 0, next = 0;
            for (int i = 1; i < T - 1; i++) {
                double s[T], mx = -1e30, z = 0;
                for (int j = 0; j < T; j++) {
                    s[j] = 0;
                    for (int d = h * HD; d < (h + 1) * HD; d++) s[j] += (double)q[i][d] * k[j][d];
                    s[j] /= sqrt(HD);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++) z += s[j] = exp(s[j] - mx);
                prev += s[i - 1] / z / (T - 2), next += s[i + 1] / z / (T - 2);
            }
            if (h == 0) out[0] = prev, out[2] = fmax(out[2], next);
            else if (h == 1) out[1] = next, out[2] = fmax(out[2], prev);
            else out[2] = fmax(out[2], fmax(prev, next));
        }
    }
    free(tok), free(pos), free(type), free(lw), free(lb), free(wq), free(wk);
    sl_gguf_free(g);
    free(data);
}

/* --local-heads: layer 0's heads 0 and 1 attend to the previous and the next token from the start (the
   others, and a model without it, spread their attention evenly: 1/T on a neighbour) */
static void test_local_heads(void) {
    const char *base = "pretrain --config small --tokenizer " TOKENIZER " --max-len 32 --batch 8 --steps 1 --lr 0 "
                       "--valid-max 0";
    int rc = run_cli(tmp("l1.log"), "%s --local-heads --text %s -o %s", base, tmp("eltec.txt"), tmp("l1.gguf"));
    CHECK(rc == 0, "pretrain --local-heads: exit %d", rc);
    double local[3], plain[3];
    neighbour_attention(tmp("l1.gguf"), local);
    rc = run_cli(tmp("l2.log"), "%s --text %s -o %s", base, tmp("eltec.txt"), tmp("l2.gguf"));
    CHECK(rc == 0, "pretrain --config small: exit %d", rc);
    neighbour_attention(tmp("l2.gguf"), plain);
    printf("  --local-heads: head 0 on the previous token %.3f, head 1 on the next %.3f, others at most %.3f; "
           "without: at most %.3f\n",
           local[0], local[1], local[2], fmax(plain[0], fmax(plain[1], plain[2])));
    CHECK(local[0] > 0.5 && local[1] > 0.5, "--local-heads: previous %.3f, next %.3f (want > 0.5)", local[0],
          local[1]);
    CHECK(local[2] >= 0 && local[2] < 0.05, "--local-heads: the other heads' neighbour attention %.3f", local[2]);
    CHECK(plain[0] >= 0 && plain[0] < 0.05 && plain[1] < 0.05 && plain[2] < 0.05,
          "without --local-heads: neighbour attention %.3f %.3f %.3f", plain[0], plain[1], plain[2]);
    rc = run_cli(tmp("l3.log"), "pretrain --init %s --local-heads --text %s --steps 1 -o %s", tmp("l2.gguf"),
                 tmp("eltec.txt"), tmp("l3.gguf"));
    expect("--local-heads with --init", rc, 2, tmp("l3.log"), "--local-heads");
}

int main(void) {
    sl_error err;
    size_t size;
    if (!tmpdir_create()) return 1;
    if (sl_convert_hf("tests/fixtures/tiny-mlm-hf", NULL, NULL, &model_bytes, &size, &err) ||
        sl_model_load_memory(model_bytes, size, "tiny-mlm", &model, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return 1;
    }
    test_corpus();
    CHECK(head_sentences(SL_SHARED_DATA "/wikiann-fr/train.conll", 100, tmp("wikiann.conll")), "wikiann");
    test_run();
    test_mpi();
    test_errors();
    test_init_std();
    test_local_heads();
    sl_model_free(model);
    free(model_bytes);
    tmpdir_finish();
    return check_report("test_pretrain");
}
