/* surligne eval: entity-level precision, recall and F1 of a model on a CoNLL file (seqeval's definition).
   Several -m: the ensemble of the models (the mean of their log-probabilities, sl_ensemble), decoded with
   the first one's label transitions: what a distillation teacher (`surligne train --teacher`) is worth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "evaluate.h"

#define EVAL_USAGE                                                                                           \
    "usage: surligne eval -m MODEL.gguf [-m MODEL2.gguf ...] FILE.conll [--json] [--batch B] [--threads T] " \
    "[--max-len L]\n"                                                                                        \
    "                     [--unknown-labels error|O] [--decoding viterbi|argmax] [--transition-weight W]\n"  \
    "                     [--kernel NAME] [--glue 0]\n"

int cmd_eval(int argc, char **argv) {
#define MAX_MODELS 16
    const char *model_paths[MAX_MODELS], *data_path = NULL, *v;
    int n_models = 0;
    int json = 0, unknown_to_o = 0, decoding = SL_DECODE_VITERBI;
    long batch = 16, threads = 1, max_len = 128;
    double transition_weight = -1; /* the model file's */
    double glue = 0; /* 1: the sentences as running text ("Darmanin," "(Nebraska)" "l'Europe") */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (n_models == MAX_MODELS) {
                fprintf(stderr, "surligne eval: at most %d models (-m)\n", MAX_MODELS);
                return 2;
            }
            if (!(model_paths[n_models++] = cli_value("eval", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--batch")) {
            if (!(v = cli_value("eval", argc, argv, &i)) || !cli_int("eval", "--batch", v, 1, 4096, &batch))
                return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(v = cli_value("eval", argc, argv, &i)) ||
                !cli_int("eval", "--threads", v, 1, 256, &threads))
                return 2;
        } else if (!strcmp(argv[i], "--max-len")) {
            if (!(v = cli_value("eval", argc, argv, &i)) ||
                !cli_int("eval", "--max-len", v, 3, 100000, &max_len))
                return 2;
        } else if (!strcmp(argv[i], "--unknown-labels")) {
            if (!(v = cli_value("eval", argc, argv, &i)) ||
                (unknown_to_o = cli_unknown_labels("eval", v)) < 0)
                return 2;
        } else if (!strcmp(argv[i], "--transition-weight")) {
            if (!(v = cli_value("eval", argc, argv, &i)) ||
                !cli_float("eval", "--transition-weight", v, 0, 100, &transition_weight))
                return 2;
        } else if (!strcmp(argv[i], "--glue")) {
            if (!(v = cli_value("eval", argc, argv, &i)) || !cli_float("eval", "--glue", v, 0, 1, &glue))
                return 2;
        } else if (!strcmp(argv[i], "--decoding")) {
            if (!(v = cli_value("eval", argc, argv, &i)) || (decoding = cli_decoding("eval", v)) < 0)
                return 2;
        } else if (!strcmp(argv[i], "--kernel")) {
            if (!(v = cli_value("eval", argc, argv, &i)) || cli_kernel("eval", v)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne eval: unknown option '%s'\n%s", argv[i], EVAL_USAGE);
            return 2;
        } else if (!data_path) {
            data_path = argv[i];
        } else {
            fprintf(stderr, "surligne eval: one data file only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!n_models || !data_path) {
        fprintf(stderr, "%s", EVAL_USAGE);
        return 2;
    }
    sl_error err;
    sl_model *models[MAX_MODELS] = {0}, *m;
    if (sl_model_load_file(model_paths[0], &m, &err)) {
        fprintf(stderr, "surligne eval: %s\n", err.message);
        return 1;
    }
    if (max_len > sl_model_max_tokens(m)) {
        fprintf(stderr, "surligne eval: --max-len %ld is longer than the model's %d tokens\n", max_len,
                sl_model_max_tokens(m));
        sl_model_free(m);
        return 2;
    }
    sl_conll conll = {0};
    sl_dataset d = {0};
    sl_metrics metrics = {0};
    int rc = 1;
    /* with --json, standard output holds the one object: the counts go to standard error */
    FILE *log = json ? stderr : stdout;
    /* the ensemble's label order is the first model's: its own row is the identity */
    const int L = sl_model_n_labels(m);
    int *label_of = malloc((size_t)n_models * (L > 0 ? L : 1) * sizeof *label_of);
    sl_ensemble ens = {.models = models, .n_models = n_models, .label_of = label_of};
    models[0] = m;
    if (sl_model_set_threads(m, (int)threads, &err) ||
        sl_metrics_init(&metrics, sl_model_labelset(m), &err)) {
        fprintf(stderr, "surligne eval: %s\n", err.message);
        goto done;
    }
    if (!label_of) {
        fprintf(stderr, "surligne eval: no memory\n");
        goto done;
    }
    for (int j = 0; j < L; j++) label_of[j] = j;
    if (!cli_load_models_like("eval", model_paths + 1, n_models - 1, m, (int)threads, models + 1, label_of + L))
        goto done;
    if (!cli_read_conll("eval", data_path, m, unknown_to_o, &conll, log) ||
        !cli_build_dataset("eval", &conll, m, (int)max_len, glue, 0, &d, log))
        goto done;
    /* Viterbi with the model's label transitions, weighted as its file says or as --transition-weight */
    sl_decoder dec = sl_model_decoder(m, (sl_decoding)decoding);
    if (transition_weight >= 0) dec.weight = (float)transition_weight;
    if (sl_evaluate(&conll, &d, (int)batch, n_models > 1 ? sl_ensemble_logits_fn : sl_model_logits_fn,
                    n_models > 1 ? (void *)&ens : (void *)m, sl_model_n_labels(m), &dec, &metrics, NULL,
                    &err)) {
        fprintf(stderr, "surligne eval: %s: %s\n", data_path, err.message);
        goto done;
    }
    if (json) {
        size_t n = sl_metrics_json(&metrics, NULL, 0);
        char *buf = malloc(n + 1);
        if (!buf) {
            fprintf(stderr, "surligne eval: no memory\n");
            goto done;
        }
        sl_metrics_json(&metrics, buf, n + 1);
        printf("%s\n", buf);
        free(buf);
    } else {
        sl_metrics_print(&metrics, 4, stdout);
    }
    rc = 0;
done:
    sl_metrics_free(&metrics);
    sl_dataset_free(&d);
    sl_conll_free(&conll);
    sl_ensemble_free(&ens);
    free(label_of);
    for (int k = n_models - 1; k >= 0; k--) sl_model_free(models[k]);
    return rc;
}
