/* surligne train: fine-tunes a model for token classification on CoNLL data, with the Hugging Face
   Trainer's semantics (train.h), a progress line, a dev evaluation after each epoch, checkpoints, a
   metrics log and a plot.

   Files written next to OUT.gguf (-o), each atomically (temporary file + rename), so a kill at any moment
   leaves either the old or the new version:
     OUT.gguf           the best checkpoint by dev micro F1 (without --dev: the last one)
     OUT.last.gguf      the last checkpoint (with --dev)
     OUT.metrics.jsonl  a line per log interval {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s"}
                        and per epoch {"epoch", "step", "train_loss", "dev": {...}}
     OUT.svg            training loss and dev F1 against steps
     OUT.state.gguf     weights, Adam moments, step and the loop's own position (STATE_* words below):
                        `--resume OUT.state.gguf` continues to the same weights, bit for bit, as a run that
                        was never stopped (dropout masks depend on seed and step, the shuffle on seed and
                        epoch, and everything else the loop carries is in the state).

   The loop is driven by the trainer's step count alone: epoch = step / n_batches and the batch within it
   = step % n_batches, so a resumed run needs no other position. An epoch's end (evaluation, checkpoints)
   is done once, recorded in STATE_EPOCHS_DONE; a state saved between an epoch's last step and its end
   does that end on resume.

   Distillation (--teacher, repeatable): before the first step the teachers (models with the same labels and
   vocabulary, e.g. other runs, or a larger model fine-tuned elsewhere) read every training example as the
   student will (the same tokens, glued or not); their ensemble's probabilities at each labelled token
   (the mean of their log-probabilities, divided by --distill-temperature, renormalised) are mixed with the
   one-hot label, weight --distill, as the step's target (sl_trainer_set_soft_targets). --unlabeled FILE.txt
   adds the sentences of a text file (one a line, words at white space; the first --unlabeled-lines) to the
   training examples with no labels of their own: their label is the teachers' best and their target the
   same mix, so the student learns from the teachers on text the labels do not cover. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "evaluate.h"
#include "fileio.h"
#include "json.h"
#include "parallel.h"
#include "train_log.h"

#define TRAIN_USAGE                                                                                          \
    "usage: surligne train --init MODEL.gguf|HF_DIR | --config tiny|small|base [--tokenizer SPM.model]\n"    \
    "         --train FILE.conll [--dev FILE.conll] -o OUT.gguf\n"                                           \
    "         [--epochs 3] [--batch 16] [--lr 5e-5] [--warmup-ratio 0.1] [--max-len 128] [--seed 42]\n"      \
    "         [--threads 1] [--max-steps N] [--shuffle none|epoch|grouped] [--dropout 0.1]\n"                \
    "         [--labels PER,ORG,LOC|FILE.conll] [--resume OUT.state.gguf] [--save-every STEPS]\n"            \
    "         [--log-every STEPS] [--unknown-labels error|O] [--precision auto|f32|bf16] [--init-std "       \
    "0.02]\n"                                                                                                \
    "         [--local-heads] [--transition-weight 0.5] [--glue 0]\n"                                        \
    "         [--teacher MODEL.gguf ...] [--distill 0.5] [--distill-temperature 1]\n"                        \
    "         [--unlabeled FILE.txt [--unlabeled-lines N]]\n"

/* Without --save-every, the state is also saved when this much time has passed since the last save. */
#define SAVE_SECONDS 600.0

/* The words of the training state beyond the trainer's own (sl_trainer_save_state's `extra`). Options
   that shape the trajectory are kept so that a resume with different ones is refused by name. */
enum {
    STATE_VERSION,      /* STATE_FORMAT */
    STATE_EPOCHS_DONE,  /* epochs whose end (evaluation, checkpoints) is done */
    STATE_TOTAL_STEPS,  /* the trajectory: */
    STATE_N_BATCHES,    /*   batches per epoch */
    STATE_N_EXAMPLES,   /*   training examples */
    STATE_BATCH,        /*   --batch */
    STATE_MAX_LEN,      /*   --max-len */
    STATE_SEED,         /*   --seed */
    STATE_LR,           /*   --lr (double bits) */
    STATE_WARMUP,       /*   --warmup-ratio (double bits) */
    STATE_DROPOUT,      /*   --dropout (double bits) */
    STATE_SHUFFLE,      /*   --shuffle */
    STATE_BEST_F1,      /* best dev micro F1 so far (double bits; -1 before any) */
    STATE_BEST_EPOCH,   /* its epoch (1-based; 0: none) */
    STATE_WINDOW_LOSS,  /* loss summed over the steps of the current log interval (double bits) */
    STATE_WINDOW_STEPS, /* and their count */
    STATE_EPOCH_LOSS,   /* loss summed over the steps of the current epoch (double bits) */
    STATE_EPOCH_STEPS,  /* and their count */
    STATE_THREADS,      /* --threads: another count gives the same run up to rounding, not bit for bit */
    STATE_GLUE,         /*   --glue (double bits; 0 in states written before it, which is glue 0) */
    STATE_TEACHERS,     /*   the number of --teacher (0 in states written before it) */
    STATE_DISTILL,      /*   --distill (double bits; 0 without teachers) */
    STATE_DISTILL_T,    /*   --distill-temperature (double bits; 0 without teachers) */
    STATE_UNLABELED,    /*   unlabelled words (--unlabeled, --unlabeled-lines; 0 without) */
    N_STATE = 24        /* room to append words without changing the count */
};
#define STATE_FORMAT 1

typedef struct {
    const char *init, *train, *dev, *out, *labels, *resume, *config, *tokenizer, *unlabeled;
    long epochs, batch, max_len, seed, threads, max_steps, save_every, log_every, unlabeled_lines;
    double lr, warmup, dropout, init_std, transition_weight, glue, distill, distill_t;
    int shuffle, unknown_to_o, precision, local_heads;
#define MAX_TEACHERS 16
    const char *teachers[MAX_TEACHERS];
    int n_teachers;
} train_args;

/* ---- the run ----------------------------------------------------------------------------------- */

typedef struct {
    train_args a;
    char *path_best, *path_last, *path_metrics, *path_svg, *path_state;
    sl_model *model;
    uint8_t *model_bytes; /* a converted Hugging Face folder, in memory: outlives the model */
    sl_conll train_conll, dev_conll;
    sl_conll mixed_conll; /* with --unlabeled: the training file's words, then the unlabelled ones */
    int n_labelled_words; /* words of the training file: the words after them have no label of their own */
    sl_dataset train, dev;
    float *soft; /* (train.n_tokens, n_labels) the teachers' probabilities at the labelled tokens, or NULL */
    sl_trainer *trainer;
    sl_metrics metrics;
    sl_train_options opt;
    int n_batches, n_epochs;
    uint64_t state[N_STATE];
    sl_history hist;
    int progress_open; /* a \r progress line is on the terminal */
    sl_parallel par;   /* mpirun: this process's rank; rank 0 alone writes files and prints */
} run;

static void end_progress_line(run *r) {
    if (r->progress_open) fputc('\n', stderr);
    r->progress_open = 0;
}

/* The checkpoints, the log and the state are rank 0's to write (all ranks hold the same weights). */
static sl_status save_checkpoint(run *r, const char *path, sl_error *err) {
    return r->par.rank ? SL_OK : sl_trainer_save(r->trainer, path, err);
}

static int save_run_logs(run *r) {
    if (r->par.rank) return 1;
    const sl_plot p = {"surligne train", r->a.out, r->opt.total_steps, 0, "dev F1 after each epoch"};
    return save_logs(&r->hist, &p, r->path_metrics, r->path_svg);
}

/* The log first, then the state: a kill in between leaves a log ahead of the state, which a resume trims. */
static int save_state(run *r) {
    if (r->par.rank) return 1;
    sl_error err;
    int ok = save_run_logs(r);
    if (sl_trainer_save_state(r->trainer, r->path_state, r->state, N_STATE, &err) != SL_OK) {
        fprintf(stderr, "surligne train: %s\n", err.message);
        return 0;
    }
    return ok;
}

/* The end of epoch e (1-based): dev evaluation, checkpoints, the epoch's log line, the plot, the state. */
static int end_epoch(run *r, int e) {
    sl_error err;
    const int step = sl_trainer_step_count(r->trainer);
    const double epoch_loss = r->state[STATE_EPOCH_STEPS] ? double_of(r->state[STATE_EPOCH_LOSS]) /
                                                                (double)r->state[STATE_EPOCH_STEPS]
                                                          : 0;
    end_progress_line(r);
    printf("epoch %d/%d done (step %d/%d), training loss %.4f\n", e, r->n_epochs, step, r->opt.total_steps,
           epoch_loss);
    char *line;
    double f1 = -1;
    if (r->a.dev) {
        double t0 = now_seconds();
        sl_metrics_reset(&r->metrics);
        const sl_decoder dec = sl_trainer_decoder(r->trainer);
        if (sl_evaluate(&r->dev_conll, &r->dev, r->opt.batch, sl_trainer_logits_fn, r->trainer,
                        sl_model_n_labels(r->model), &dec, &r->metrics, NULL, &err) != SL_OK) {
            fprintf(stderr, "surligne train: evaluating on %s: %s\n", r->a.dev, err.message);
            return 0;
        }
        sl_scores micro = sl_metrics_scores(&r->metrics, SL_METRICS_MICRO);
        f1 = micro.f1;
        printf("dev %s, epoch %d: precision %.4f, recall %.4f, f1 %.4f (%.1f s)\n", r->a.dev, e,
               micro.precision, micro.recall, micro.f1, now_seconds() - t0);
        sl_metrics_print(&r->metrics, 4, stdout);
        size_t n = sl_metrics_json(&r->metrics, NULL, 0);
        char *dev_json = malloc(n + 1);
        if (!dev_json) return 0;
        sl_metrics_json(&r->metrics, dev_json, n + 1);
        line = format_line("{\"epoch\": %d, \"step\": %d, \"train_loss\": %.6g, \"dev\": %s}", e, step,
                           epoch_loss, dev_json);
        free(dev_json);
        if (save_checkpoint(r, r->path_last, &err) != SL_OK) {
            fprintf(stderr, "surligne train: %s\n", err.message);
            return 0;
        }
        if (f1 > double_of(r->state[STATE_BEST_F1])) {
            if (save_checkpoint(r, r->path_best, &err) != SL_OK) {
                fprintf(stderr, "surligne train: %s\n", err.message);
                return 0;
            }
            r->state[STATE_BEST_F1] = bits_of(f1);
            r->state[STATE_BEST_EPOCH] = (uint64_t)e;
            printf("best dev f1 so far: saved %s\n", r->path_best);
        } else {
            printf("best dev f1 is still %.4f (epoch %d, in %s)\n", double_of(r->state[STATE_BEST_F1]),
                   (int)r->state[STATE_BEST_EPOCH], r->path_best);
        }
    } else {
        line = format_line("{\"epoch\": %d, \"step\": %d, \"train_loss\": %.6g}", e, step, epoch_loss);
        if (save_checkpoint(r, r->path_best, &err) != SL_OK) {
            fprintf(stderr, "surligne train: %s\n", err.message);
            return 0;
        }
        printf("saved %s\n", r->path_best);
    }
    fflush(stdout);
    if (!history_push(&r->hist, line, step, e, 0, f1)) return 0;
    r->state[STATE_EPOCHS_DONE] = (uint64_t)e;
    r->state[STATE_EPOCH_LOSS] = bits_of(0);
    r->state[STATE_EPOCH_STEPS] = 0;
    return save_state(r);
}

/* A resumed run must follow the same trajectory: the options that shape it must be the state's. */
static int check_resumed_state(const run *r, const uint64_t *now) {
    if (r->state[STATE_VERSION] != STATE_FORMAT) {
        fprintf(stderr, "surligne train: --resume %s: state format %llu, this program writes %d\n", r->a.resume,
                (unsigned long long)r->state[STATE_VERSION], STATE_FORMAT);
        return 0;
    }
    static const cli_state_field fields[] = {
        {STATE_N_EXAMPLES, "training examples (--train, --max-len)", 0},
        {STATE_BATCH, "--batch", 0},
        {STATE_MAX_LEN, "--max-len", 0},
        {STATE_SEED, "--seed", 0},
        {STATE_SHUFFLE, "--shuffle (1 = epoch, 2 = grouped)", 0},
        {STATE_TOTAL_STEPS, "total steps (--epochs, --max-steps)", 0},
        {STATE_LR, "--lr", 1},
        {STATE_WARMUP, "--warmup-ratio", 1},
        {STATE_DROPOUT, "--dropout", 1},
        {STATE_GLUE, "--glue", 1},
        {STATE_TEACHERS, "the number of --teacher", 0},
        {STATE_DISTILL, "--distill", 1},
        {STATE_DISTILL_T, "--distill-temperature", 1},
        {STATE_UNLABELED, "unlabelled words (--unlabeled, --unlabeled-lines)", 0}};
    return cli_state_matches("train", r->a.resume, r->state, now, fields, sizeof fields / sizeof *fields);
}

/* The labels of a fresh head: --labels (a FILE.conll, or a list such as PER,ORG,LOC), or else those of the
   training data. */
static sl_status fresh_labels(const train_args *a, char ***labels, int *n_labels, sl_error *err) {
    struct stat st;
    const char *from = a->labels ? a->labels : a->train;
    return from == a->train || (stat(from, &st) == 0 && S_ISREG(st.st_mode))
               ? sl_labels_from_conll(from, labels, n_labels, err)
               : sl_labels_from_list(from, labels, n_labels, err);
}

/* --config: random weights of a named shape, the vocabulary of a SentencePiece model, and the labels of
   --labels or else of the training data. */
static int random_model(run *r) {
    sl_error err;
    const train_args *a = &r->a;
    uint8_t *spm = NULL;
    size_t spm_size, size;
    sl_spm_vocab *vocab = NULL;
    char **labels = NULL;
    int n_labels = 0, ok = 0;
    sl_status s = fresh_labels(a, &labels, &n_labels, &err);
    if (s == SL_OK && !(s = sl_read_file(a->tokenizer, &spm, &spm_size, &err)) &&
        !(s = sl_spm_parse(spm, spm_size, a->tokenizer, &vocab, &err)) &&
        !(s = sl_model_random(a->config, sl_spm_vocab_get(vocab), (const char *const *)labels, n_labels,
                              (uint64_t)a->seed, &(sl_random_init){a->init_std, a->local_heads}, &r->model_bytes,
                              &size, &err)))
        s = sl_model_load_memory(r->model_bytes, size, a->config, &r->model, &err);
    if (s != SL_OK) fprintf(stderr, "surligne train: --config %s: %s\n", a->config, err.message);
    ok = s == SL_OK;
    sl_labels_free(labels, n_labels);
    sl_spm_vocab_free(vocab);
    free(spm);
    return ok;
}

/* The model to train: --resume's state, --config's random start, or --init's model file or Hugging Face folder
   (converted in memory; --labels gives it a fresh head in place of any classifier). A model without labels
   (an encoder from surligne pretrain, a CamembertForMaskedLM folder) gets a fresh head for the labels of
   --labels or of the training data; a model file that has labels keeps them. */
static int load_model(run *r) {
    sl_error err;
    const train_args *a = &r->a;
    const char *from = a->resume ? a->resume : a->init;
    struct stat st;
    if (a->config && !a->resume) return random_model(r);
    int folder = !a->resume && stat(a->init, &st) == 0 && S_ISDIR(st.st_mode);
    char **labels = NULL;
    int n_labels = 0;
    size_t size = 0;
    sl_status s = SL_OK;
    if (folder) {
        char **given = NULL;
        int n_given = 0;
        if (a->labels) s = fresh_labels(a, &given, &n_given, &err);
        sl_convert_options co = {(const char *const *)given, n_given, (uint64_t)a->seed};
        if (s == SL_OK) s = sl_convert_hf(a->init, &co, NULL, &r->model_bytes, &size, &err);
        sl_labels_free(given, n_given);
    } else {
        s = sl_read_file(from, &r->model_bytes, &size, &err);
    }
    if (s == SL_OK) s = sl_model_load_memory(r->model_bytes, size, from, &r->model, &err);
    if (s != SL_OK) {
        fprintf(stderr, "surligne train: %s: %s\n", a->resume ? "--resume" : "--init", err.message);
        return 0;
    }
    if (a->resume) return 1;
    if (sl_model_n_labels(r->model) > 0) {
        if (a->labels && !folder) {
            fprintf(stderr,
                    "surligne train: --labels gives a fresh head to a pre-trained encoder or a Hugging Face "
                    "folder; %s is a model file with its own labels\n",
                    a->init);
            return 0;
        }
        return 1;
    }
    uint8_t *encoder = r->model_bytes;
    sl_model_free(r->model);
    r->model = NULL, r->model_bytes = NULL;
    s = fresh_labels(a, &labels, &n_labels, &err);
    if (s == SL_OK)
        s = sl_model_with_fresh_head(encoder, size, a->init, (const char *const *)labels, n_labels,
                                     (uint64_t)a->seed, &r->model_bytes, &size, &err);
    free(encoder);
    sl_labels_free(labels, n_labels);
    if (s == SL_OK) s = sl_model_load_memory(r->model_bytes, size, a->init, &r->model, &err);
    if (s != SL_OK) {
        fprintf(stderr, "surligne train: --init: %s\n", err.message);
        return 0;
    }
    printf("%s: %s without labels: a fresh classification head for the %d labels of %s\n", a->init,
           folder ? "a Hugging Face folder" : "a pre-trained encoder", n_labels, a->labels ? a->labels : a->train);
    return 1;
}

static int parse_args(int argc, char **argv, train_args *a) {
    *a = (train_args){.epochs = 3,
                      .batch = 16,
                      .max_len = 128,
                      .seed = 42,
                      .threads = 1,
                      .lr = 5e-5,
                      .warmup = 0.1,
                      .dropout = 0.1,
                      .shuffle = 1,
                      .transition_weight = 0.5,
                      .distill = 0.5,
                      .distill_t = 1};
    const char *shuffle = NULL, *unknown = NULL, *precision = NULL;
    const cli_option opts[] = {{"--init", CLI_STRING, &a->init, 0, 0},
                               {"--config", CLI_STRING, &a->config, 0, 0},
                               {"--train", CLI_STRING, &a->train, 0, 0},
                               {"--dev", CLI_STRING, &a->dev, 0, 0},
                               {"-o", CLI_STRING, &a->out, 0, 0},
                               {"--output", CLI_STRING, &a->out, 0, 0},
                               {"--labels", CLI_STRING, &a->labels, 0, 0},
                               {"--resume", CLI_STRING, &a->resume, 0, 0},
                               {"--tokenizer", CLI_STRING, &a->tokenizer, 0, 0},
                               {"--shuffle", CLI_STRING, &shuffle, 0, 0},
                               {"--unknown-labels", CLI_STRING, &unknown, 0, 0},
                               {"--precision", CLI_STRING, &precision, 0, 0},
                               {"--epochs", CLI_INT, &a->epochs, 1, 100000},
                               {"--batch", CLI_INT, &a->batch, 1, 4096},
                               {"--max-len", CLI_INT, &a->max_len, 3, 100000},
                               {"--seed", CLI_INT, &a->seed, 0, 0x1p62},
                               {"--threads", CLI_INT, &a->threads, 1, 256},
                               {"--max-steps", CLI_INT, &a->max_steps, 1, 0x1p30},
                               {"--save-every", CLI_INT, &a->save_every, 1, 0x1p30},
                               {"--log-every", CLI_INT, &a->log_every, 1, 0x1p30},
                               {"--lr", CLI_REAL, &a->lr, 0, 1},
                               {"--warmup-ratio", CLI_REAL, &a->warmup, 0, 1},
                               {"--dropout", CLI_REAL, &a->dropout, 0, 0.99},
                               {"--glue", CLI_REAL, &a->glue, 0, 1},
                               {"--distill", CLI_REAL, &a->distill, 0, 1},
                               {"--unlabeled", CLI_STRING, &a->unlabeled, 0, 0},
                               {"--unlabeled-lines", CLI_INT, &a->unlabeled_lines, 1, 0x1p30},
                               {"--distill-temperature", CLI_REAL, &a->distill_t, 0.05, 100},
                               {"--init-std", CLI_REAL, &a->init_std, 1e-6, 1},
                               {"--local-heads", CLI_SWITCH, &a->local_heads, 0, 0},
                               {"--transition-weight", CLI_REAL, &a->transition_weight, 0, 100}};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(TRAIN_USAGE, stdout);
            exit(0);
        }
        if (o[0] != '-') {
            fprintf(stderr, "surligne train: unexpected argument '%s' (the data is given with --train)\n%s",
                    o, TRAIN_USAGE);
            return 0;
        }
        if (!strcmp(o, "--teacher")) {
            if (a->n_teachers == MAX_TEACHERS) {
                fprintf(stderr, "surligne train: at most %d --teacher\n", MAX_TEACHERS);
                return 0;
            }
            if (!(a->teachers[a->n_teachers++] = cli_value("train", argc, argv, &i))) return 0;
            continue;
        }
        const int k = cli_option_parse("train", opts, sizeof opts / sizeof *opts, argc, argv, &i);
        if (k == CLI_ERROR) return 0;
        if (k == CLI_UNKNOWN) {
            fprintf(stderr, "surligne train: unknown option '%s'\n%s", o, TRAIN_USAGE);
            return 0;
        }
    }
    if (shuffle) {
        if (strcmp(shuffle, "none") && strcmp(shuffle, "epoch") && strcmp(shuffle, "grouped")) {
            fprintf(stderr, "surligne train: --shuffle '%s': expected none, epoch or grouped\n", shuffle);
            return 0;
        }
        a->shuffle = !strcmp(shuffle, "epoch") ? 1 : !strcmp(shuffle, "grouped") ? 2 : 0;
    }
    if (unknown && (a->unknown_to_o = cli_unknown_labels("train", unknown)) < 0) return 0;
    if ((a->precision = cli_precision("train", precision)) < 0) return 0;
    if (a->config && a->init) {
        fprintf(stderr, "surligne train: give --init or --config, not both\n");
        return 0;
    }
    if ((a->init_std || a->local_heads) && !a->config) {
        fprintf(stderr, "surligne train: --init-std and --local-heads set the weights of a --config model's random start\n");
        return 0;
    }
    if ((a->unlabeled || a->unlabeled_lines) && !a->n_teachers) {
        fprintf(stderr, "surligne train: --unlabeled needs a --teacher to label its sentences\n");
        return 0;
    }
    if (!a->tokenizer) a->tokenizer = "weights/sentencepiece.bpe.model";
    if ((!a->init && !a->config && !a->resume) || !a->train || !a->out) {
        fprintf(stderr, "surligne train: %s is required\n%s",
                !a->init && !a->config && !a->resume ? "--init (or --config)"
                : !a->train            ? "--train"
                                       : "-o",
                TRAIN_USAGE);
        return 0;
    }
    return 1;
}

static void free_run(run *r) {
    sl_trainer_free(r->trainer);
    free(r->soft);
    sl_metrics_free(&r->metrics);
    sl_dataset_free(&r->train);
    sl_dataset_free(&r->dev);
    sl_conll_free(&r->train_conll);
    sl_conll_free(&r->mixed_conll);
    sl_conll_free(&r->dev_conll);
    sl_model_free(r->model);
    free(r->model_bytes);
    history_free(&r->hist);
    free(r->path_best);
    free(r->path_last);
    free(r->path_metrics);
    free(r->path_svg);
    free(r->path_state);
}

/* --unlabeled: r->mixed_conll = the training file followed by the first --unlabeled-lines non-empty lines of
   FILE, one sentence a line, its words at white space written in the training file's columns with tag O. */
static int add_unlabeled(run *r) {
    const train_args *a = &r->a;
    sl_error err;
    uint8_t *lab = NULL, *raw = NULL;
    size_t n_lab, n_raw;
    if (sl_read_file(a->train, &lab, &n_lab, &err) || sl_read_file(a->unlabeled, &raw, &n_raw, &err)) {
        fprintf(stderr, "surligne train: %s\n", err.message);
        free(lab);
        return 0;
    }
    const sl_conll *c = &r->train_conll;
    /* a word becomes at most n_columns fields of at most its length + 1 (or "1\t", "_\t", "O\n") */
    char *buf = malloc(n_lab + 2 + n_raw * (size_t)(c->n_columns * 2 + 1) + 4);
    if (!buf) {
        fprintf(stderr, "surligne train: no memory for %s\n", a->unlabeled);
        free(lab), free(raw);
        return 0;
    }
    size_t n = n_lab;
    memcpy(buf, lab, n_lab);
    buf[n++] = '\n', buf[n++] = '\n';
    long lines = 0;
    for (size_t p = 0; p < n_raw && (!a->unlabeled_lines || lines < a->unlabeled_lines);) {
        size_t e = p;
        while (e < n_raw && raw[e] != '\n') e++;
        int words = 0;
        for (size_t w = p; w < e;) {
            while (w < e && (raw[w] == ' ' || raw[w] == '\t' || raw[w] == '\r')) w++;
            size_t we = w;
            while (we < e && raw[we] != ' ' && raw[we] != '\t' && raw[we] != '\r') we++;
            if (we == w) break;
            for (int k = 0; k < c->n_columns; k++) {
                if (k == c->token_column) {
                    memcpy(buf + n, raw + w, we - w), n += we - w;
                } else {
                    buf[n++] = k == c->n_columns - 1 ? 'O' : k == 0 ? '1' : '_';
                }
                buf[n++] = k == c->n_columns - 1 ? '\n' : '\t';
            }
            words++, w = we;
        }
        if (words) buf[n++] = '\n', lines++;
        p = e + 1;
    }
    free(lab), free(raw);
    sl_conll_options opt = {sl_model_labelset(r->model), a->unknown_to_o};
    const sl_status s = sl_conll_parse(buf, n, a->train, &opt, &r->mixed_conll, &err);
    free(buf);
    if (s != SL_OK) {
        fprintf(stderr, "surligne train: %s (with the words of --unlabeled %s)\n", err.message, a->unlabeled);
        return 0;
    }
    printf("%s: %ld sentences, %d words with no labels, for the teachers to label\n", a->unlabeled, lines,
           r->mixed_conll.n_words - r->n_labelled_words);
    return 1;
}

/* The teachers' target probabilities at every labelled token of the training examples (r->soft). */
static int teach(run *r) {
    const train_args *a = &r->a;
    const int L = sl_model_n_labels(r->model);
    sl_model *models[MAX_TEACHERS] = {0};
    int *label_of = malloc((size_t)a->n_teachers * L * sizeof *label_of);
    if (!label_of || !cli_load_models_like("train", a->teachers, a->n_teachers, r->model, (int)a->threads,
                                           models, label_of)) {
        free(label_of);
        return 0;
    }
    sl_ensemble ens = {.models = models, .n_models = a->n_teachers, .label_of = label_of};
    sl_error err;
    const double t0 = now_seconds();
    r->soft = calloc(((size_t)r->train.n_tokens + 1) * L, sizeof *r->soft);
    sl_status s = r->soft ? sl_dataset_log_probs(&r->train, 32, sl_ensemble_logits_fn, &ens, L, r->soft, &err)
                          : sl_fail(&err, SL_ERR_MEMORY, "no memory for the teachers' targets");
    sl_ensemble_free(&ens);
    free(label_of);
    for (int k = 0; k < a->n_teachers; k++) sl_model_free(models[k]);
    if (s != SL_OK) {
        fprintf(stderr, "surligne train: the teachers: %s\n", err.message);
        return 0;
    }
    /* softmax(mean log-probability / temperature) at the labelled tokens; how often the teachers' best
       label is the training data's */
    long agree = 0, n = 0, found = 0, n_unlabelled = 0;
    for (int i = 0; i < r->train.n_tokens; i++) {
        if (r->train.labels[i] == SL_IGNORE_LABEL) continue;
        float *q = r->soft + (size_t)i * L;
        for (int j = 0; j < L; j++) q[j] = (float)(q[j] / a->distill_t);
        sl_log_softmax(q, L, q);
        int best = 0;
        for (int j = 0; j < L; j++) {
            q[j] = expf(q[j]);
            if (q[j] > q[best]) best = j;
        }
        if (r->train.word_of[i] >= r->n_labelled_words) { /* an unlabelled word: the teachers' label */
            r->train.labels[i] = best;
            found += sl_model_labelset(r->model)->tag_of[best] != 'O', n_unlabelled++;
        } else
            agree += best == r->train.labels[i], n++;
    }
    printf(
        "teachers: %d model(s) read %d examples in %.0f s; their best label is the data's on %.2f%% of %ld "
        "labelled tokens; targets %.2f x label + %.2f x teachers (temperature %g)\n",
        a->n_teachers, r->train.n_examples, now_seconds() - t0, n ? 100.0 * agree / n : 0.0, n,
        1 - a->distill, a->distill, a->distill_t);
    if (n_unlabelled)
        printf("teachers: %ld of the %ld unlabelled words labelled as part of an entity\n", found,
               n_unlabelled);
    return 1;
}

/* Sets up the run: model, data, trainer, and the state when resuming. Returns the exit status, or -1. */
static int prepare(run *r) {
    sl_error err;
    const train_args *a = &r->a;
    r->path_best = path_with(a->out, ".gguf");
    r->path_last = path_with(a->out, ".last.gguf");
    r->path_metrics = path_with(a->out, ".metrics.jsonl");
    r->path_svg = path_with(a->out, ".svg");
    r->path_state = path_with(a->out, ".state.gguf");
    if (!r->path_best || !r->path_last || !r->path_metrics || !r->path_svg || !r->path_state) return 1;
    if (strcmp(r->path_best, a->out)) {
        /* -o without .gguf: the checkpoint is OUT.gguf */
        fprintf(stderr, "surligne train: the best checkpoint goes to %s\n", r->path_best);
    }
    struct stat st;
    if (!a->resume && stat(r->path_state, &st) == 0) {
        fprintf(stderr,
                "surligne train: %s exists: it holds a run that can be continued with --resume %s; remove it "
                "to start a new run with the same -o\n",
                r->path_state, r->path_state);
        return 1;
    }
    if (a->resume && a->init)
        fprintf(stderr, "surligne train: resuming: the weights come from %s\n", a->resume);
    if (!load_model(r)) return 1;
    const sl_config *c = sl_model_config(r->model);
    if (a->max_len > sl_model_max_tokens(r->model)) {
        fprintf(stderr, "surligne train: --max-len %ld is longer than the model's %d tokens\n", a->max_len,
                sl_model_max_tokens(r->model));
        return 2;
    }
    if (!cli_read_conll("train", a->train, r->model, a->unknown_to_o, &r->train_conll, stdout)) return 1;
    r->n_labelled_words = r->train_conll.n_words;
    if (a->unlabeled && !add_unlabeled(r)) return 1;
    if (!cli_build_dataset("train", a->unlabeled ? &r->mixed_conll : &r->train_conll, r->model,
                           (int)a->max_len, a->glue, (uint64_t)a->seed, &r->train, stdout))
        return 1;
    if (a->dev &&
        (!cli_read_conll("train", a->dev, r->model, a->unknown_to_o, &r->dev_conll, stdout) ||
         !cli_build_dataset("train", &r->dev_conll, r->model, (int)a->max_len, 0, 0, &r->dev, stdout)))
        return 1;
    if (r->train.n_examples == 0) {
        fprintf(stderr, "surligne train: %s: no example to train on (every word gave no token)\n", a->train);
        return 1;
    }
    if (sl_metrics_init(&r->metrics, sl_model_labelset(r->model), &err) != SL_OK) {
        fprintf(stderr, "surligne train: %s\n", err.message);
        return 1;
    }
    if (a->n_teachers && !teach(r)) return 1;
    r->n_batches = sl_dataset_n_batches(&r->train, (int)a->batch);
    long total = a->epochs * (long)r->n_batches;
    if (a->max_steps && a->max_steps < total) total = a->max_steps;
    if (total > 1L << 30) {
        fprintf(stderr, "surligne train: %ld steps are too many\n", total);
        return 2;
    }
    r->n_epochs = (int)((total + r->n_batches - 1) / r->n_batches);
    sl_train_options *o = &r->opt;
    *o = sl_train_default_options();
    o->batch = (int)a->batch;
    o->max_len = (int)a->max_len;
    o->lr = a->lr;
    o->warmup_ratio = a->warmup;
    o->dropout_hidden = o->dropout_attention = o->dropout_classifier = (float)a->dropout;
    o->total_steps = (int)total;
    o->seed = (uint64_t)a->seed;
    o->n_threads = (int)a->threads;
    /* data-parallel: each process trains on its rows of every batch (at most this many) */
    o->batch = (int)((a->batch + r->par.size - 1) / r->par.size);
    o->collective = parallel_collective(&r->par);
    o->precision = a->precision;
    if (sl_trainer_create(r->model, o, &r->trainer, &err) != SL_OK) {
        fprintf(stderr, "surligne train: %s\n", err.message);
        return 1;
    }
    /* the training data's label transitions, for Viterbi decoding (the dev scores and the files) */
    if (a->transition_weight > 0 && c->n_labels > 0) {
        const size_t n = (size_t)(c->n_labels + 1) * c->n_labels;
        double *counts = calloc(n, sizeof *counts);
        float *table = malloc(n * sizeof *table);
        sl_status st =
            counts && table ? SL_OK : sl_fail(&err, SL_ERR_MEMORY, "no memory for label transitions");
        if (st == SL_OK) {
            sl_conll_count_transitions(&r->train_conll, counts);
            sl_ner_transitions_from_counts(counts, c->n_labels, table);
            st = sl_trainer_set_transitions(r->trainer, table, (float)a->transition_weight, &err);
        }
        free(counts);
        free(table);
        if (st != SL_OK) {
            fprintf(stderr, "surligne train: %s\n", err.message);
            return 1;
        }
    }
    uint64_t *s = r->state;
    s[STATE_VERSION] = STATE_FORMAT;
    s[STATE_TOTAL_STEPS] = (uint64_t)total;
    s[STATE_N_BATCHES] = (uint64_t)r->n_batches;
    s[STATE_N_EXAMPLES] = (uint64_t)r->train.n_examples;
    s[STATE_BATCH] = (uint64_t)a->batch;
    s[STATE_MAX_LEN] = (uint64_t)a->max_len;
    s[STATE_SEED] = (uint64_t)a->seed;
    s[STATE_LR] = bits_of(a->lr);
    s[STATE_WARMUP] = bits_of(a->warmup);
    s[STATE_DROPOUT] = bits_of(a->dropout);
    s[STATE_SHUFFLE] = (uint64_t)a->shuffle;
    s[STATE_THREADS] = (uint64_t)a->threads;
    s[STATE_GLUE] = bits_of(a->glue);
    s[STATE_TEACHERS] = (uint64_t)a->n_teachers;
    s[STATE_DISTILL] = bits_of(a->n_teachers ? a->distill : 0.0);
    s[STATE_DISTILL_T] = bits_of(a->n_teachers ? a->distill_t : 0.0);
    s[STATE_UNLABELED] = (uint64_t)(a->unlabeled ? r->mixed_conll.n_words - r->n_labelled_words : 0);
    s[STATE_BEST_F1] = bits_of(-1.0);
    s[STATE_WINDOW_LOSS] = s[STATE_EPOCH_LOSS] = bits_of(0.0);
    if (a->resume) {
        uint64_t now[N_STATE];
        memcpy(now, s, sizeof now);
        if (sl_trainer_load_state(r->trainer, a->resume, s, N_STATE, &err) != SL_OK) {
            fprintf(stderr, "surligne train: --resume: %s\n", err.message);
            return 1;
        }
        if (!check_resumed_state(r, now)) return 1;
        if (s[STATE_THREADS] != (uint64_t)a->threads)
            fprintf(
                stderr,
                "surligne train: the state was written with --threads %llu: with %ld the sums are rounded "
                "in another order, so the weights will not be bit for bit those of an uninterrupted run\n",
                (unsigned long long)s[STATE_THREADS], a->threads);
        s[STATE_THREADS] = (uint64_t)a->threads;
        history_load(&r->hist, r->path_metrics, sl_trainer_step_count(r->trainer), (int)s[STATE_EPOCHS_DONE], "f1");
        printf("resuming %s at step %d/%ld (epoch %d)\n", a->resume, sl_trainer_step_count(r->trainer), total,
               sl_trainer_step_count(r->trainer) / r->n_batches + 1);
    }
    size_t n_params = 0;
    const char *name;
    size_t n;
    float *p, *g;
    for (int i = 0; sl_trainer_tensor(r->trainer, i, &name, &n, &p, &g); i++) n_params += n;
    printf("model: %d layers x %d, %d heads, %.2fM parameters, labels", c->n_layer, c->n_embd, c->n_head,
           n_params / 1e6);
    for (int i = 0; i < sl_model_n_labels(r->model); i++) printf(" %s", sl_model_label(r->model, i));
    printf(
        "\ntraining: %d epoch(s) of %d batches of %ld, %ld steps (warm-up %d), lr %g, dropout %g, seed %ld, "
        "%ld thread(s), shuffle %s, products %s\n",
        r->n_epochs, r->n_batches, a->batch, total, sl_train_warmup_steps(o), a->lr, a->dropout, a->seed,
        a->threads,
        a->shuffle == 2 ? "each epoch, batches grouped by length"
        : a->shuffle    ? "each epoch"
                        : "none",
        cli_precision_name(a->precision, sl_trainer_precision(r->trainer)));
    fflush(stdout);
    return -1;
}

int cmd_train(int argc, char **argv) {
    run r = {0};
    parallel_init(&r.par, &argc, &argv);
    if (r.par.rank && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 reports */
    if (!parse_args(argc, argv, &r.a)) {
        parallel_finish(&r.par);
        return 2;
    }
    int rc = prepare(&r);
    if (!parallel_all(&r.par, rc < 0)) {
        free_run(&r);
        parallel_finish(&r.par);
        return rc >= 0 ? rc : 1;
    }
    const train_args *a = &r.a;
    const int total = r.opt.total_steps, B = (int)a->batch;
    uint64_t *state = r.state;
    const long log_every = a->log_every ? a->log_every
                                        : (r.n_batches / 20 < 1    ? 1
                                           : r.n_batches / 20 > 50 ? 50
                                                                   : r.n_batches / 20);
    int *order = malloc((size_t)r.train.n_examples * sizeof *order);
    int32_t *ids = malloc((size_t)B * a->max_len * sizeof *ids),
            *labels = malloc((size_t)B * a->max_len * sizeof *labels);
    const int L = sl_model_n_labels(r.model);
    float *soft = r.soft ? malloc((size_t)B * a->max_len * L * sizeof *soft) : NULL;
    if (!order || !ids || !labels || (r.soft && !soft)) {
        fprintf(stderr, "surligne train: no memory\n");
        free(order), free(ids), free(labels), free(soft), free_run(&r);
        return 1;
    }
    sl_batch batch = {.ids = ids, .labels = labels};
    stop_on_signals();

    const int tty = isatty(2) && r.par.rank == 0;
    const int first_step = sl_trainer_step_count(r.trainer);
    const double t_start = now_seconds();
    double t_window = t_start, t_saved = t_start, t_drawn = 0;
    long window_tokens = 0, session_tokens = 0; /* real tokens, padding excluded */
    int order_epoch = -1;
    rc = 0;
    for (;;) {
        const int step = sl_trainer_step_count(r.trainer), done = (int)state[STATE_EPOCHS_DONE];
        if (done < r.n_epochs && (step >= (done + 1) * r.n_batches || step >= total)) {
            if (!end_epoch(&r, done + 1)) {
                rc = 1;
                break;
            }
            t_saved = now_seconds();
        } else if (step >= total) {
            break;
        } else {
            const int epoch = step / r.n_batches, k = step % r.n_batches;
            if (epoch != order_epoch) {
                /* each epoch's order depends on the seed and the epoch only */
                const uint64_t seed = sl_hash64((uint64_t)a->seed * 0x9e3779b97f4a7c15ull + epoch + 1);
                if (a->shuffle != 2) {
                    sl_dataset_order(&r.train, a->shuffle, seed, order);
                } else if (sl_dataset_order_grouped(&r.train, (int)a->batch, seed, order)) {
                    fprintf(stderr, "surligne train: no memory to order the examples\n");
                    rc = 1;
                    break;
                }
                order_epoch = epoch;
            }
            sl_dataset_batch(&r.train, order, k, B, &batch);
            sl_step_stats st;
            sl_error err;
            /* this process's rows of the batch; a process left without any runs one row with no label
               (it adds nothing to the loss or the gradients, but joins the sums) */
            int lo = (int)((long)batch.B * r.par.rank / r.par.size), hi = (int)((long)batch.B * (r.par.rank + 1) / r.par.size);
            if (hi == lo) {
                for (int i = 0; i < batch.T; i++) batch.labels[i] = SL_IGNORE_LABEL;
                lo = 0, hi = 1;
            }
            sl_trainer_set_row0(r.trainer, lo);
            if (soft) { /* the teachers' targets of the batch's rows, as its labels */
                for (int row = 0; row < batch.B; row++) {
                    const int e = order[batch.first + row];
                    memcpy(soft + (size_t)row * batch.T * L, r.soft + (size_t)r.train.start[e] * L,
                           (size_t)r.train.len[e] * L * sizeof *soft);
                }
                sl_trainer_set_soft_targets(r.trainer, soft + (size_t)lo * batch.T * L, (float)a->distill);
            }
            if (sl_trainer_step(r.trainer, batch.ids + (size_t)lo * batch.T, batch.labels + (size_t)lo * batch.T,
                                hi - lo, batch.T, &st, &err) != SL_OK) {
                end_progress_line(&r);
                fprintf(stderr, "surligne train: %s\n", err.message);
                rc = 1;
                break;
            }
            long batch_tokens = 0;
            for (int i = 0; i < batch.B * batch.T; i++) batch_tokens += batch.ids[i] != r.train.pad_id;
            window_tokens += batch_tokens;
            session_tokens += batch_tokens;
            state[STATE_WINDOW_LOSS] = bits_of(double_of(state[STATE_WINDOW_LOSS]) + st.loss);
            state[STATE_WINDOW_STEPS]++;
            state[STATE_EPOCH_LOSS] = bits_of(double_of(state[STATE_EPOCH_LOSS]) + st.loss);
            state[STATE_EPOCH_STEPS]++;
            const int now_step = step + 1;
            const double t = now_seconds();
            const double epoch_mean = double_of(state[STATE_EPOCH_LOSS]) / (double)state[STATE_EPOCH_STEPS];
            const int log_now = now_step % log_every == 0 || now_step == total;
            if (log_now) {
                const double window_mean =
                    double_of(state[STATE_WINDOW_LOSS]) / (double)state[STATE_WINDOW_STEPS];
                const double tps = window_tokens / fmax(t - t_window, 1e-9);
                char *line = format_line("{\"step\": %d, \"epoch\": %.4f, \"loss\": %.6g, \"lr\": %.6g, "
                                         "\"grad_norm\": %.6g, \"tokens_per_s\": %.1f}",
                                         now_step, (double)now_step / r.n_batches, window_mean, st.lr,
                                         st.grad_norm, tps);
                history_push(&r.hist, line, now_step, 0, window_mean, -1);
                state[STATE_WINDOW_LOSS] = bits_of(0.0);
                state[STATE_WINDOW_STEPS] = 0;
                window_tokens = 0;
                t_window = t;
            }
            /* the progress line: redrawn in place on a terminal (at most 10 times a second), a line per
               log interval otherwise */
            if (r.par.rank == 0 && (tty ? t - t_drawn >= 0.1 || now_step == total : log_now)) {
                const double per_step = (t - t_start) / (now_step - first_step);
                char eta[32];
                format_duration(per_step * (total - now_step), eta, sizeof eta);
                fprintf(stderr, "%sstep %d/%d  epoch %.2f/%d  loss %.4f  lr %.3g  %.0f tok/s  ETA %s%s",
                        tty ? "\r" : "", now_step, total, (double)now_step / r.n_batches, r.n_epochs,
                        epoch_mean, st.lr, session_tokens / fmax(t - t_start, 1e-9), eta,
                        tty ? "\x1b[K" : "\n");
                r.progress_open = tty;
                t_drawn = t;
            }
            int save_now = a->save_every ? now_step % a->save_every == 0 : t - t_saved >= SAVE_SECONDS;
            save_now = !parallel_all(&r.par, !save_now); /* every process saves at the same step */
            if (save_now && now_step < total) {
                if (!save_state(&r)) {
                    rc = 1;
                    break;
                }
                t_saved = now_seconds();
            }
        }
        if (!parallel_all(&r.par, !stop_requested())) {
            end_progress_line(&r);
            if (save_state(&r)) {
                fprintf(stderr,
                        "surligne train: stopped at step %d/%d: the state is in %s; continue with the same "
                        "options and --resume %s\n",
                        sl_trainer_step_count(r.trainer), total, r.path_state, r.path_state);
                rc = 130;
            } else {
                rc = 1;
            }
            break;
        }
    }
    end_progress_line(&r);
    if (rc == 0) {
        const double secs = now_seconds() - t_start;
        char took[32];
        format_duration(secs, took, sizeof took);
        printf("done: %d steps in %s", total - first_step, took);
        if (a->dev)
            printf("; best dev f1 %.4f at epoch %d in %s, last in %s", double_of(state[STATE_BEST_F1]),
                   (int)state[STATE_BEST_EPOCH], r.path_best, r.path_last);
        else
            printf("; model in %s", r.path_best);
        printf("; metrics in %s, plot in %s, state in %s\n", r.path_metrics, r.path_svg, r.path_state);
    }
    free(order);
    free(ids);
    free(labels);
    free(soft);
    free_run(&r);
    parallel_finish(&r.par);
    return rc;
}
