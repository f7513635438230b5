/* `surligne train` and `surligne eval`, run as programs on the tiny model (tests/fixtures/tiny-hf: hidden 32,
   2 layers) and the first sentences of WikiAnn:
   - a run over-fitting 32 sentences writes OUT.gguf, OUT.last.gguf, OUT.metrics.jsonl, OUT.svg and
     OUT.state.gguf; its loss really drops and its dev F1 rises; `eval --json` on the last checkpoint gives
     the same object as the last dev evaluation of the log and the F1 the run printed;
   - a run killed with SIGKILL at some step and resumed with --resume, and one stopped with Ctrl-C (SIGINT)
     and resumed, end with the same tensors, bit for bit, as a run never stopped;
   - bad inputs give status 1 (bad data, naming file:line) or 2 (bad options, naming the option). */
#include <math.h>

#include "cli_run.h"
#include "gemm_bf16.h"
#include "json.h"

/* A command's status, and a message naming `needle` in its output. */
static void expect(const char *what, int status, int want, const char *log, const char *needle) {
    char *text = read_text(log);
    CHECK(status == want, "%s: status %d, expected %d: %s", what, status, want, text ? text : "");
    CHECK(text && strstr(text, needle), "%s: '%s' does not name '%s'", what, text ? text : "", needle);
    free(text);
}

static void test_overfit(void) {
    char train[512];
    snprintf(train, sizeof train, "%s", tmp("small.conll"));
    CHECK(head_sentences(SL_SHARED_DATA "/wikiann-fr/train.conll", 32, train), "writing %s", train);
    int rc = run_cli(
        tmp("overfit.log"),
        "train --init tests/fixtures/tiny-hf --train %s --dev %s -o %s --epochs 30 --batch 8 --lr 1e-3 "
        "--dropout 0 --warmup-ratio 0.1 --seed 7 --threads 1 --log-every 2",
        train, train, tmp("overfit.gguf"));
    char *log = read_text(tmp("overfit.log"));
    CHECK(rc == 0, "over-fitting run: status %d\n%s", rc, log ? log : "");
    const char *outputs[] = {"overfit.gguf", "overfit.last.gguf", "overfit.metrics.jsonl", "overfit.svg",
                             "overfit.state.gguf"};
    for (int i = 0; i < 5; i++) CHECK(exists(tmp(outputs[i])), "%s was not written", outputs[i]);
    /* the default precision is auto, and the log says what it chose: bf16 only on AMX tiles */
    CHECK(log && strstr(log, "--precision auto") &&
              strstr(log, sl_gemm_bf16_kernel() && !strcmp(sl_gemm_bf16_kernel(), "amx")
                              ? "products bf16 (AMX"
                              : "products f32"),
          "the log does not name the precision auto chose:\n%s", log ? log : "");
    expect("train --precision f16",
           run_cli(tmp("f16.log"), "train --init tests/fixtures/tiny-hf --train %s -o %s --precision f16",
                   train, tmp("f16.gguf")),
           2, tmp("f16.log"), "--precision is auto, f32 or bf16, not 'f16'");

    /* the loss really drops: the mean of the last log intervals is well below the first ones' */
    char *jsonl = read_text(tmp("overfit.metrics.jsonl"));
    double first = 0, last = 0, losses[256];
    int n_loss = 0, n_epochs = 0;
    char last_dev[4096] = "";
    for (char *line = jsonl ? strtok(jsonl, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        sl_json *j;
        sl_error err;
        CHECK(sl_json_parse(line, strlen(line), "metrics.jsonl", &j, &err) == SL_OK, "%s", err.message);
        if (!j) continue;
        const sl_json *loss = sl_json_get(j, "loss");
        if (loss) {
            CHECK(sl_json_get(j, "step") && sl_json_get(j, "epoch") && sl_json_get(j, "lr") &&
                      sl_json_get(j, "grad_norm") && sl_json_get(j, "tokens_per_s"),
                  "log line without its keys: %s", line);
            if (n_loss < 256) losses[n_loss++] = loss->number;
        } else if (sl_json_get(j, "dev")) {
            n_epochs++;
            const char *dev = strstr(line, "\"dev\": ");
            if (dev) snprintf(last_dev, sizeof last_dev, "%.*s", (int)(strlen(dev + 7) - 1), dev + 7);
        }
        sl_json_free(j);
    }
    CHECK(n_loss >= 8 && n_epochs == 30, "%d log lines, %d epoch lines", n_loss, n_epochs);
    if (n_loss >= 8) {
        for (int i = 0; i < 4; i++) first += losses[i] / 4, last += losses[n_loss - 1 - i] / 4;
        printf(
            "  over-fitting 32 sentences: loss %.3f over the first 4 log intervals, %.3f over the last 4\n",
            first, last);
        CHECK(last < 0.3 * first, "the loss did not drop: %.3f -> %.3f", first, last);
    }

    /* the F1 the run printed last, and eval on the last checkpoint */
    double printed = -1;
    for (char *p = log; p && (p = strstr(p, "dev ")); p++) {
        const char *f = strstr(p, ", f1 ");
        if (f && f < strchr(p, '\n')) printed = atof(f + 5);
    }
    CHECK(printed > 0.8, "the run's last dev f1 is %.4f (over-fitting 32 sentences should pass 0.8)",
          printed);
    rc = run_cli(tmp("eval.json"), "eval -m %s %s --json --batch 8", tmp("overfit.last.gguf"), train);
    char *eval_out = read_text(tmp("eval.json"));
    CHECK(rc == 0, "eval --json: status %d: %s", rc, eval_out ? eval_out : "");
    /* standard error (the counts) comes first in the file; the object is the last line */
    char *obj = eval_out ? strstr(eval_out, "{\"precision\"") : NULL;
    sl_json *j = NULL;
    sl_error err;
    if (obj) {
        obj[strcspn(obj, "\n")] = 0;
        CHECK(sl_json_parse(obj, strlen(obj), "eval --json", &j, &err) == SL_OK, "%s", err.message);
    }
    CHECK(j && sl_json_get(j, "precision") && sl_json_get(j, "recall") && sl_json_get(j, "f1") &&
              sl_json_get(j, "per_type"),
          "eval --json: '%s'", obj ? obj : "");
    if (j && sl_json_get(j, "f1")) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.4f", sl_json_get(j, "f1")->number);
        snprintf(b, sizeof b, "%.4f", printed);
        CHECK(!strcmp(a, b), "eval f1 %s, the run printed %s", a, b);
        CHECK(obj && !strcmp(obj, last_dev),
              "eval's object differs from the run's last dev evaluation:\n%s\n%s", obj, last_dev);
        printf("  eval --json on the last checkpoint: f1 %s, as the run's last dev evaluation\n", a);
    }
    sl_json_free(j);
    /* the table */
    rc = run_cli(tmp("eval.txt"), "eval -m %s %s", tmp("overfit.gguf"), train);
    char *table = read_text(tmp("eval.txt"));
    CHECK(rc == 0 && table && strstr(table, "micro avg") && strstr(table, "PER"), "eval table: %s",
          table ? table : "");
    free(table);
    /* the relaxed-SIMD kernel's arithmetic natively, and a kernel that does not exist; the Hugging Face
       pipeline's per-word argmax instead of Viterbi decoding, and a decoding that does not exist */
    const char *out = tmp("eval.txt"), *m = tmp("overfit.gguf");
    expect("eval --kernel scalar-u7", run_cli(out, "eval -m %s %s --kernel scalar-u7", m, train), 0, out,
           "micro avg");
    expect("eval --kernel avx9000", run_cli(out, "eval -m %s %s --kernel avx9000", m, train), 2, out,
           "--kernel 'avx9000' is not a kernel this processor runs");
    expect("eval --decoding argmax", run_cli(out, "eval -m %s %s --decoding argmax", m, train), 0, out,
           "micro avg");
    expect("eval --decoding crf", run_cli(out, "eval -m %s %s --decoding crf", m, train), 2, out,
           "--decoding 'crf': expected viterbi or argmax");
    /* the run stored its training data's label transitions; `surligne transitions` rewrites or removes them
     */
    expect("inspect", run_cli(out, "inspect %s", m), 0, out, "surligne.label_transitions");
    const char *tr = tmp("tr.gguf");
    expect("transitions",
           run_cli(out, "transitions %s --from %s --from %s --weight 0.25 -o %s", m, train, train, tr), 0,
           out, "label transitions of 2 file(s), weight 0.25");
    expect("eval with them", run_cli(out, "eval -m %s %s --transition-weight 0", tr, train), 0, out,
           "micro avg");
    expect("transitions --weight 0", run_cli(out, "transitions %s --weight 0 -o %s", tr, tr), 0, out,
           "no label transitions");
    expect("inspect without", run_cli(out, "inspect %s", tr), 0, out, "surligne.labels");
    char *listing = read_text(out);
    CHECK(listing && !strstr(listing, "surligne.label_transitions"), "removed: %s", listing ? listing : "");
    free(listing);
    expect("transitions without data", run_cli(out, "transitions %s -o %s", m, tr), 2, out,
           "--from FILE.conll");
    free(eval_out);
    free(jsonl);
    free(log);
}

/* ---- surligne average: the mean of models' parameters ---- */

/* Largest |w - (a*x + b*y)| over every tensor of three f32 files with the same tensors (-1 if unreadable);
 *n_differ counts the tensors where x and y differ. */
static double mix_error(const char *wp, const char *xp, const char *yp, double a, double b, int *n_differ) {
    const char *paths[3] = {wp, xp, yp};
    uint8_t *d[3] = {0};
    size_t n[3];
    sl_gguf *g[3] = {0};
    sl_error err;
    double worst = -1;
    *n_differ = 0;
    int ok = 1;
    for (int k = 0; ok && k < 3; k++)
        ok = sl_read_file(paths[k], &d[k], &n[k], &err) == SL_OK &&
             sl_gguf_parse(d[k], n[k], paths[k], &g[k], &err) == SL_OK;
    if (!ok) fprintf(stderr, "%s\n", err.message);
    for (size_t i = 0; ok && i < sl_gguf_n_tensors(g[0]); i++) {
        const sl_gguf_tensor *w = sl_gguf_tensor_at(g[0], i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)w->name_len, w->name);
        const sl_gguf_tensor *x = sl_gguf_find_tensor(g[1], name), *y = sl_gguf_find_tensor(g[2], name);
        if (!x || !y || w->type != SL_GGML_F32 || x->type != SL_GGML_F32 || y->type != SL_GGML_F32 ||
            x->nbytes != w->nbytes || y->nbytes != w->nbytes) {
            fprintf(stderr, "tensor %s: missing, not f32 or of another size\n", name);
            worst = -1;
            break;
        }
        if (worst < 0) worst = 0;
        const float *wv = (const float *)w->data, *xv = (const float *)x->data, *yv = (const float *)y->data;
        *n_differ += memcmp(x->data, y->data, x->nbytes) != 0;
        for (size_t j = 0; j < w->nbytes / 4; j++) {
            const double e = fabs(wv[j] - (a * xv[j] + b * yv[j]));
            if (e > worst) worst = e;
        }
    }
    for (int k = 0; k < 3; k++) sl_gguf_free(g[k]), free(d[k]);
    return worst;
}

static void test_average(void) {
    char out[512], m[512], fresh[512], train[512]; /* copies: tmp() reuses its buffers */
    snprintf(out, sizeof out, "%s", tmp("average.txt"));
    snprintf(m, sizeof m, "%s", tmp("overfit.gguf"));
    snprintf(fresh, sizeof fresh, "%s", tmp("fresh.gguf"));
    snprintf(train, sizeof train, "%s", tmp("small.conll"));
    /* the checkpoint the run started from: the same labels, other values in every tensor */
    expect("convert", run_cli(out, "convert tests/fixtures/tiny-hf -o %s", fresh), 0, out, "wrote");
    /* a model averaged with itself is itself, bit for bit */
    expect("average m m", run_cli(out, "average %s %s -o %s", m, m, tmp("self.gguf")), 0, out,
           "the plain mean of 2 models");
    CHECK(differing_tensors(m, tmp("self.gguf")) == 0, "the mean of a model and itself differs from it");
    /* weighted: every parameter is 0.25 m + 0.75 its start (to float rounding), and the result evaluates */
    expect("average --weights", run_cli(out, "average %s %s --weights 1,3 -o %s", m, fresh, tmp("mix.gguf")),
           0, out, "the weighted mean of 2 models");
    int n_differ = 0;
    const double e = mix_error(tmp("mix.gguf"), m, fresh, 0.25, 0.75, &n_differ);
    CHECK(e >= 0 && e < 1e-6, "the weighted mean is off by %g", e);
    CHECK(n_differ >= 2, "the trained and the fresh model differ in %d tensors (the test needs some)",
          n_differ);
    printf("  average --weights 1,3: within %.1e of 0.25 x + 0.75 y over %d differing tensors\n", e,
           n_differ);
    expect("eval the mean", run_cli(out, "eval -m %s %s", tmp("mix.gguf"), train), 0, out, "micro avg");
    /* what cannot be averaged */
    expect("quantize", run_cli(out, "quantize %s -o %s --type q8_0", m, tmp("q8.gguf")), 0, out, "");
    expect("average q8_0", run_cli(out, "average %s %s -o %s", m, tmp("q8.gguf"), tmp("bad.gguf")), 1, out,
           "quantize the average afterwards");
    expect("convert PER", run_cli(out, "convert tests/fixtures/tiny-hf --labels PER -o %s", tmp("per.gguf")),
           0, out, "");
    expect("average other labels", run_cli(out, "average %s %s -o %s", m, tmp("per.gguf"), tmp("bad.gguf")),
           1, out, "labels");
    expect("average missing", run_cli(out, "average %s %s -o %s", m, tmp("none.gguf"), tmp("bad.gguf")), 1,
           out, "none.gguf");
    expect("average --weights count", run_cli(out, "average %s %s --weights 1 -o %s", m, m, tmp("bad.gguf")),
           2, out, "gives 1 weight(s) for 2 model(s)");
    expect("average --weights 0", run_cli(out, "average %s %s --weights 1,0 -o %s", m, m, tmp("bad.gguf")), 2,
           out, "positive numbers");
    expect("average one model", run_cli(out, "average %s -o %s", m, tmp("bad.gguf")), 2, out, "usage");
    CHECK(!exists(tmp("bad.gguf")), "a failed average wrote its output");
}

/* ---- ensembles and distillation ---- */

/* The micro F1 of `eval --json` on a file with one or more -m (given as "-m A -m B"); -1 on failure. */
static double eval_f1(const char *models, const char *data) {
    const char *out = tmp("ensemble.json");
    if (run_cli(out, "eval %s %s --json", models, data) != 0) return -1;
    char *text = read_text(out), *f = text ? strstr(text, "\"f1\": ") : NULL;
    const double v = f ? atof(f + 6) : -1;
    free(text);
    return v;
}

static void test_distill(void) {
    char out[512], m[512], fresh[512], train[512], arg[2048];
    snprintf(out, sizeof out, "%s", tmp("distill.txt"));
    snprintf(m, sizeof m, "%s", tmp("overfit.gguf"));
    snprintf(fresh, sizeof fresh, "%s", tmp("fresh.gguf")); /* test_average's: tiny-hf untrained */
    snprintf(train, sizeof train, "%s", tmp("small.conll"));
    /* an ensemble of a model with itself decodes as the model */
    snprintf(arg, sizeof arg, "-m %s", m);
    const double one = eval_f1(arg, train);
    snprintf(arg, sizeof arg, "-m %s -m %s", m, m);
    const double two = eval_f1(arg, train);
    snprintf(arg, sizeof arg, "-m %s -m %s", m, fresh);
    const double mixed = eval_f1(arg, train);
    CHECK(one > 0.5 && two == one && mixed >= 0 && mixed != one, "eval F1: m %g, m + m %g, m + fresh %g", one,
          two, mixed);
    printf("  eval -m: the trained model %.4f, with itself %.4f, with the untrained one %.4f\n", one, two,
           mixed);
    expect("eval ensemble of other labels", run_cli(out, "eval -m %s -m %s %s", m, tmp("per.gguf"), train), 1,
           out, "labels");
    /* the same labels in another order are matched by name */
    expect("convert LOC,ORG,PER",
           run_cli(out, "convert tests/fixtures/tiny-hf --labels LOC,ORG,PER -o %s", tmp("perm.gguf")), 0,
           out, "");
    snprintf(arg, sizeof arg, "-m %s -m %s", m, tmp("perm.gguf"));
    CHECK(eval_f1(arg, train) >= 0, "an ensemble with the labels in another order is refused");
    expect("eval ensemble missing", run_cli(out, "eval -m %s -m %s %s", m, tmp("none.gguf"), train), 1, out,
           "none.gguf");
    /* the teachers steer the training: with the untrained model as the only target (--distill 1), the run
       that over-fits the labels (test_overfit) learns that model's guesses instead */
    const char *common =
        "train --init tests/fixtures/tiny-hf --train %s --dev %s -o %s --epochs 30 --batch 8 "
        "--lr 1e-3 --dropout 0 --warmup-ratio 0.1 --seed 7 --threads 1 --teacher %s";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --distill 1", common);
    expect("train --teacher untrained --distill 1",
           run_cli(out, cmd, train, train, tmp("taught.gguf"), fresh), 0, out, "teachers: 1 model(s)");
    const double taught = eval_f1((snprintf(arg, sizeof arg, "-m %s", tmp("taught.last.gguf")), arg), train);
    CHECK(taught >= 0 && taught < one - 0.3, "taught by an untrained model: F1 %g, by the labels %g", taught,
          one);
    printf("  train --teacher (untrained) --distill 1: F1 %.4f on its training data, %.4f from the labels\n",
           taught, one);
    /* a resume must keep the teachers and their weight */
    snprintf(cmd, sizeof cmd, "%s --distill 0.5 --resume %s", common, tmp("taught.state.gguf"));
    expect("resume with another --distill", run_cli(out, cmd, train, train, tmp("taught.gguf"), fresh), 1,
           out, "--distill");
    expect("--teacher of other labels",
           run_cli(out, "train --init tests/fixtures/tiny-hf --train %s -o %s --teacher %s", train,
                   tmp("bad-teacher.gguf"), tmp("per.gguf")),
           1, out, "labels");
    /* --unlabeled: the lines of a text file join the training examples, labelled by the teachers */
    char text[512];
    snprintf(text, sizeof text, "%s", tmp("unlabeled.txt"));
    FILE *f = fopen(text, "w");
    CHECK(f != NULL, "writing %s", text);
    if (f) {
        fputs("Jacques Chirac est né à Paris.\n\n  La parole est à Monsieur Dominique Tian.\r\nFin\n", f);
        fclose(f);
    }
    const char *unl =
        "train --init tests/fixtures/tiny-hf --train %s -o %s --epochs 1 --teacher %s --unlabeled %s";
    expect("train --unlabeled", run_cli(out, unl, train, tmp("unlabeled.gguf"), m, text), 0, out,
           "3 sentences, 14 words with no labels");
    expect("train --unlabeled: the examples", 0, 0, out, "35 examples");
    expect("train --unlabeled: the teachers' labels", 0, 0, out, "of the 14 unlabelled words labelled");
    snprintf(cmd, sizeof cmd, "%s --unlabeled-lines 1", unl);
    expect("train --unlabeled-lines 1", run_cli(out, cmd, train, tmp("unlabeled1.gguf"), m, text), 0, out,
           "1 sentences, 6 words with no labels");
    expect("--unlabeled without --teacher",
           run_cli(out, "train --init tests/fixtures/tiny-hf --train %s -o %s --unlabeled %s", train,
                   tmp("bad-teacher.gguf"), text),
           2, out, "needs a --teacher");
    expect(
        "--distill-temperature 0",
        run_cli(out,
                "train --init tests/fixtures/tiny-hf --train %s -o %s --teacher %s --distill-temperature 0",
                train, tmp("bad-teacher.gguf"), m),
        2, out, "--distill-temperature");
}

/* ---- surligne stack: a deeper model of a model's layers ---- */

/* The tensors of `stacked` that are not, bit for bit, their source in `orig` (blk.j.X: orig's blk.from[j].X,
   others: the same name), plus the tensors of orig that stacked should have and lacks; -1 if unreadable. */
static int stack_mismatches(const char *orig, const char *stacked, const int *from, int n_layer) {
    const char *paths[2] = {orig, stacked};
    uint8_t *d[2] = {0};
    size_t n[2];
    sl_gguf *g[2] = {0};
    sl_error err;
    int ok = 1, bad = 0, per_layer = 0, others = 0;
    for (int k = 0; ok && k < 2; k++)
        ok = sl_read_file(paths[k], &d[k], &n[k], &err) == SL_OK &&
             sl_gguf_parse(d[k], n[k], paths[k], &g[k], &err) == SL_OK;
    if (!ok) fprintf(stderr, "%s\n", err.message);
    for (size_t i = 0; ok && i < sl_gguf_n_tensors(g[0]); i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g[0], i);
        if (t->name_len > 6 && !memcmp(t->name, "blk.0.", 6))
            per_layer++;
        else if (t->name_len < 4 || memcmp(t->name, "blk.", 4))
            others++;
    }
    for (size_t i = 0; ok && i < sl_gguf_n_tensors(g[1]); i++) {
        const sl_gguf_tensor *y = sl_gguf_tensor_at(g[1], i);
        char name[128], src[160];
        snprintf(name, sizeof name, "%.*s", (int)y->name_len, y->name);
        int j, at = 0;
        if (sscanf(name, "blk.%d.%n", &j, &at) == 1 && at > 0 && j >= 0 && j < n_layer)
            snprintf(src, sizeof src, "blk.%d.%s", from[j], name + at);
        else
            snprintf(src, sizeof src, "%s", name);
        const sl_gguf_tensor *x = sl_gguf_find_tensor(g[0], src);
        bad += !x || x->nbytes != y->nbytes || x->type != y->type || memcmp(x->data, y->data, x->nbytes);
    }
    if (ok) bad += abs((int)sl_gguf_n_tensors(g[1]) - (others + n_layer * per_layer));
    uint32_t blocks = 0;
    if (ok && (sl_gguf_get_u32(g[1], "bert.block_count", &blocks, &err) || blocks != (uint32_t)n_layer))
        bad++;
    for (int k = 0; k < 2; k++) sl_gguf_free(g[k]), free(d[k]);
    return ok ? bad : -1;
}

static void test_stack(void) {
    char out[512], m[512], train[512];
    snprintf(out, sizeof out, "%s", tmp("stack.txt"));
    snprintf(m, sizeof m, "%s", tmp("overfit.gguf"));
    snprintf(train, sizeof train, "%s", tmp("small.conll"));
    /* the same layers in the same order: the model itself */
    expect("stack 0,1", run_cli(out, "stack %s --layers 0,1 -o %s", m, tmp("same.gguf")), 0, out, "2 layers");
    CHECK(differing_tensors(m, tmp("same.gguf")) == 0, "stacking a model's own layers changed it");
    /* deeper, reordered, repeated: each new layer its source's tensors, the rest untouched; it runs */
    const int from[] = {1, 0, 1, 1};
    expect("stack 1,0,1,1", run_cli(out, "stack %s --layers 1,0,1,1 -o %s", m, tmp("deep.gguf")), 0, out,
           "4 layers");
    const int bad = stack_mismatches(m, tmp("deep.gguf"), from, 4);
    CHECK(bad == 0, "the 4-layer stack has %d tensor(s) or keys that are not their source's", bad);
    expect("eval the stack", run_cli(out, "eval -m %s %s", tmp("deep.gguf"), train), 0, out, "micro avg");
    /* what cannot be stacked */
    expect("stack a layer it lacks", run_cli(out, "stack %s --layers 0,2 -o %s", m, tmp("bad.gguf")), 1, out,
           "no layer 2 (new layer 1)");
    expect("stack -1", run_cli(out, "stack %s --layers 0,-1 -o %s", m, tmp("bad.gguf")), 2, out,
           "integers of at least 0");
    expect("stack without --layers", run_cli(out, "stack %s -o %s", m, tmp("bad.gguf")), 2, out, "usage");
    CHECK(!exists(tmp("bad.gguf")), "a failed stack wrote its output");
    printf("  stack: 0,1 is the model bit for bit; 1,0,1,1 copies each layer's tensors and evaluates\n");
}

/* ---- stopped runs resume to the same weights ---- */

static void test_resume(void) {
    char train[512], dev[512];
    snprintf(train, sizeof train, "%s", tmp("t200.conll"));
    snprintf(dev, sizeof dev, "%s", tmp("dev.conll"));
    CHECK(head_sentences(SL_SHARED_DATA "/wikiann-fr/train.conll", 200, train), "writing %s", train);
    CHECK(head_sentences(SL_SHARED_DATA "/wikiann-fr/dev.conll", 60, dev), "writing %s", dev);
    char common[1400];
    snprintf(
        common, sizeof common,
        "train --init tests/fixtures/tiny-hf --train %s --dev %s --epochs 6 --batch 8 --lr 1e-3 --seed 3 "
        "--threads 1 --save-every 3",
        train, dev);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = run_cli(tmp("straight.log"), "%s -o %s", common, tmp("straight.gguf"));
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(rc == 0, "uninterrupted run: status %d", rc);
    printf("  uninterrupted run: 150 steps in %.2f s\n",
           (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);

    const char *names[2] = {"killed", "interrupted"};
    const int signals[2] = {SIGKILL, SIGINT};
    for (int k = 0; k < 2; k++) {
        char out[512], state[600], log[600], args[2048];
        snprintf(out, sizeof out, "%s", tmp(names[k]));
        snprintf(state, sizeof state, "%s.state.gguf", out);
        snprintf(log, sizeof log, "%s.log", out);
        snprintf(args, sizeof args, "%s -o %s.gguf", common, out);
        pid_t pid = start_cli(log, args);
        /* wait for a state past the first epoch (25 steps) or the second, then stop the run wherever it is */
        for (int i = 0; i < 5000 && state_step(state) < 30 + 25 * k; i++) sleep_ms(2);
        kill(pid, signals[k]);
        int status;
        waitpid(pid, &status, 0);
        int at = state_step(state);
        if (k == 0)
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the run was not killed (it ended first, status %d): make it longer", status);
        else
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "Ctrl-C: status %d, expected exit 130",
                  status);
        CHECK(at > 0 && at < 150, "%s run: state at step %d", names[k], at);
        char *text = read_text(log);
        if (k == 1)
            CHECK(text && strstr(text, "--resume"), "Ctrl-C: no word of --resume in '%s'", text ? text : "");
        free(text);
        snprintf(log, sizeof log, "%s.resumed.log", out);
        rc = run_cli(log, "%s -o %s.gguf --resume %s", common, out, state);
        text = read_text(log);
        CHECK(rc == 0 && text && strstr(text, "resuming"), "resume: status %d\n%s", rc, text ? text : "");
        free(text);
        char best[600], last[600];
        snprintf(best, sizeof best, "%s.gguf", out);
        snprintf(last, sizeof last, "%s.last.gguf", out);
        int d1 = differing_tensors(tmp("straight.gguf"), best),
            d2 = differing_tensors(tmp("straight.last.gguf"), last);
        CHECK(d1 == 0 && d2 == 0,
              "%s at step %d and resumed: %d tensors of the best and %d of the last checkpoint "
              "differ from the uninterrupted run's",
              names[k], at, d1, d2);
        printf("  %s at step %d/150, resumed: best and last checkpoints identical to the uninterrupted "
               "run's: %s\n",
               names[k], at, d1 == 0 && d2 == 0 ? "yes" : "NO");
        /* the log of the resumed run is the uninterrupted run's, line for line (speeds aside) */
        char *m1 = read_text(tmp("straight.metrics.jsonl")), path[600];
        snprintf(path, sizeof path, "%s.metrics.jsonl", out);
        char *m2 = read_text(path);
        strip_speeds(m1);
        strip_speeds(m2);
        CHECK(m1 && m2 && !strcmp(m1, m2),
              "the resumed run's metrics differ from the uninterrupted run's:\n%s\n%s", m1 ? m1 : "",
              m2 ? m2 : "");
        free(m1);
        free(m2);
    }

    /* a resume with other options is refused by name; a new run does not overwrite a state */
    rc = run_cli(tmp("lr.log"), "%s --lr 2e-3 -o %s --resume %s", common, tmp("straight.gguf"),
                 tmp("straight.state.gguf"));
    char *text = read_text(tmp("lr.log"));
    CHECK(rc == 1 && text && strstr(text, "--lr"), "resume with another --lr: status %d: %s", rc,
          text ? text : "");
    free(text);
    rc = run_cli(tmp("again.log"), "%s -o %s", common, tmp("straight.gguf"));
    text = read_text(tmp("again.log"));
    CHECK(rc == 1 && text && strstr(text, "--resume"), "a new run over a state: status %d: %s", rc,
          text ? text : "");
    free(text);
}

/* ---- bad inputs ---- */

static void test_errors(void) {
    const char *init = "train --init tests/fixtures/tiny-hf --epochs 1";
    const char *log = tmp("error.log");
    int rc = run_cli(log, "%s --train %s -o %s", init, tmp("nope.conll"), tmp("e.gguf"));
    expect("missing --train file", rc, 1, log, "nope.conll");

    const char *no_tag = tmp("no_tag.conll");
    write_text(no_tag, "Paris B-LOC\nest O\n\nLyon\n");
    rc = run_cli(log, "%s --train %s -o %s", init, no_tag, tmp("e.gguf"));
    expect("a line with no tag", rc, 1, log, "no_tag.conll:4");

    char misc[1024]; /* tmp()'s 8 buffers are reused by the calls below */
    snprintf(misc, sizeof misc, "%s", tmp("misc.conll"));
    write_text(misc, "Paris B-LOC\nest O\n\nle O\nTour B-MISC\nde I-MISC\nFrance I-MISC\n");
    rc = run_cli(log, "%s --train %s -o %s --unknown-labels error", init, misc, tmp("e.gguf"));
    expect("an unknown label", rc, 1, log, "misc.conll:5");
    rc = run_cli(log, "eval -m tests/fixtures/tiny-hf/config.json %s", misc);
    expect("eval of a non-model", rc, 1, log, "config.json");
    rc = run_cli(log, "%s --train %s -o %s --unknown-labels O --max-steps 1", init, misc, tmp("o.gguf"));
    expect("an unknown label read as O", rc, 0, log, "3 tags of unknown types read as O");

    rc = run_cli(log, "%s --train %s -o %s --lr fast", init, misc, tmp("e.gguf"));
    expect("a bad --lr", rc, 2, log, "--lr 'fast'");
    rc = run_cli(log, "%s --train %s", init, misc);
    expect("no -o", rc, 2, log, "-o is required");
    /* random weights of a named shape, labels from the data, the vocabulary of weights/ */
    rc = run_cli(log, "train --config tiny --train %s --epochs 1 -o %s", misc, tmp("c.gguf"));
    expect("--config tiny", rc, 0, log, "MISC");
    rc = run_cli(log, "eval -m %s %s --json", tmp("c.gguf"), misc);
    expect("eval of a --config model", rc, 0, log, "\"f1\"");
    /* a Hugging Face CamembertForMaskedLM folder (no labels): a fresh head for the labels of the data */
    rc = run_cli(log, "train --init tests/fixtures/tiny-mlm-hf --train %s --epochs 1 -o %s", misc, tmp("m.gguf"));
    expect("--init of a masked-LM folder", rc, 0, log, "a fresh classification head for the 5 labels");
    rc = run_cli(log, "eval -m %s %s --json", tmp("m.gguf"), misc);
    expect("eval of a model trained from a masked-LM folder", rc, 0, log, "\"f1\"");
    rc = run_cli(log, "train --config huge --train %s -o %s", misc, tmp("h.gguf"));
    expect("an unknown --config", rc, 1, log, "unknown model shape 'huge'");
    rc = run_cli(log, "%s --train %s -o %s --shuffle sometimes", init, misc, tmp("e.gguf"));
    expect("a bad --shuffle", rc, 2, log, "--shuffle 'sometimes': expected none, epoch or grouped");
}

int main(void) {
    if (!tmpdir_create()) return 1;
    test_overfit();
    test_average();
    test_distill();
    test_stack();
    test_resume();
    test_errors();
    tmpdir_finish();
    return check_report("test_cli_train");
}
