/* surligne pretrain: masked-language-model pre-training of the encoder on raw text (engine/mlm.h for the
   data and the masking, train.h for the objective), with the records of `surligne train`.

   Files written next to OUT.gguf (-o), each atomically (temporary file + rename):
     OUT.gguf           the weights after the last validation (and at the end), with the MLM head unless
                        --drop-mlm; `surligne train --init OUT.gguf` fine-tunes it for NER
     OUT.metrics.jsonl  a line per log interval {"step", "tokens", "loss", "accuracy", "lr", "grad_norm",
                        "tokens_per_s"} and per validation {"step", "tokens", "valid_loss", "valid_accuracy"}
     OUT.svg            training and validation loss against steps
     OUT.state.gguf     weights, Adam moments, step, the samplers' positions and the loop's sums: --resume
                        continues to the same weights, bit for bit, as a run that was never stopped;
                        --stop-at STEP ends a session there (validated and saved) without changing the
                        schedule, which still spans --steps: a long run done in slices

   Step s takes the global batch's samples g = s * batch ... s * batch + batch - 1 (engine/mlm.h's sampler),
   each masked with draws seeded by (seed, g). With mpirun, rank r of N trains on rows [r B/N, (r+1) B/N)
   of each global batch; every rank draws all samples (cheap) so that the samplers agree, rank 0 writes
   the files. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "fileio.h"
#include "gemm_bf16.h"
#include "mlm.h"
#include "parallel.h"
#include "train_log.h"

#define PRETRAIN_USAGE                                                                                       \
    "usage: surligne pretrain --config tiny|small|base | --layers L --hidden H --heads A --intermediate F "  \
    "|\n"                                                                                                    \
    "                         --init MODEL.gguf|HF_DIR   [--tokenizer SPM.model]\n"                          \
    "         --text FILE|DIR [--text FILE|DIR ...] [--weights W1,W2,...] -o OUT.gguf\n"                     \
    "         [--steps N | --tokens N] [--batch 32] [--max-len 128] [--lr 5e-4] [--warmup-ratio 0.06]\n"     \
    "         [--weight-decay 0.01] [--dropout 0.1] [--mask-prob 0.15] [--whole-word] [--seed 42]\n"         \
    "         [--threads 1] [--valid-fraction 0.005] [--valid-max 256] [--eval-every 500]\n"                 \
    "         [--log-every 20] [--save-every STEPS] [--drop-mlm] [--precision auto|f32|bf16]\n"              \
    "         [--init-std 0.02] [--local-heads] [--resume OUT.state.gguf] [--stop-at STEP]\n"

#define SAVE_SECONDS 600.0
#define VALID_SEED 0x76616c6964ull /* the validation masks: fixed, whatever --seed */

enum {
    STATE_VERSION,
    STATE_TOTAL_STEPS, /* the trajectory: */
    STATE_BATCH,
    STATE_MAX_LEN,
    STATE_SEED,
    STATE_LR,
    STATE_WARMUP,
    STATE_DROPOUT,
    STATE_MASK_PROB,
    STATE_WHOLE_WORD,
    STATE_N_SOURCES,
    STATE_N_BLOCKS,    /* training blocks over all sources: the data */
    STATE_WINDOW_LOSS, /* sums over the current log interval */
    STATE_WINDOW_STEPS,
    STATE_WINDOW_MASKED,
    STATE_WINDOW_CORRECT,
    STATE_TOKENS,      /* tokens trained on (global) */
    STATE_THREADS,
    STATE_RANKS,
    STATE_TAKEN,       /* + SL_MLM_MAX_SOURCES: the sampler's position in each source */
    N_STATE = STATE_TAKEN + SL_MLM_MAX_SOURCES + 8
};
#define STATE_FORMAT 1

typedef struct {
    const char *init, *config, *tokenizer, *out, *resume, *weights;
    const char *texts[SL_MLM_MAX_SOURCES];
    int n_texts;
    long layers, hidden, heads, ff;
    long steps, tokens, batch, max_len, seed, threads, valid_max, eval_every, log_every, save_every, stop_at;
    double lr, warmup, weight_decay, dropout, mask_prob, valid_fraction, init_std;
    int whole_word, drop_mlm, precision, local_heads;
} pretrain_args;


typedef struct {
    pretrain_args a;
    sl_parallel par;
    char *path_model, *path_metrics, *path_svg, *path_state;
    sl_model *model;
    uint8_t *model_bytes;
    sl_mlm_corpus corpus;
    sl_mlm_sampler sampler;
    sl_mlm_masking masking;
    uint8_t *kinds;
    sl_trainer *trainer;
    sl_train_options opt;
    uint64_t state[N_STATE];
    sl_history hist;
    int progress_open;
    /* validation: up to valid_max held-out blocks, masked once */
    int n_valid;
    int32_t *valid_ids, *valid_labels; /* (n_valid, max_len) */
} run;

static int is_root(const run *r) { return r->par.rank == 0; }

static void end_progress_line(run *r) {
    if (r->progress_open) fputc('\n', stderr);
    r->progress_open = 0;
}

static int save_run_logs(run *r) {
    if (!is_root(r)) return 1;
    const sl_plot p = {"surligne pretrain", r->a.out, r->opt.total_steps, 1, "validation loss (masked tokens)"};
    return save_logs(&r->hist, &p, r->path_metrics, r->path_svg);
}

static int save_state(run *r) {
    if (!is_root(r)) return 1;
    sl_error err;
    int ok = save_run_logs(r);
    for (int k = 0; k < SL_MLM_MAX_SOURCES; k++) r->state[STATE_TAKEN + k] = (uint64_t)r->sampler.taken[k];
    if (sl_trainer_save_state(r->trainer, r->path_state, r->state, N_STATE, &err) != SL_OK) {
        fprintf(stderr, "surligne pretrain: %s\n", err.message);
        return 0;
    }
    return ok;
}

static int save_model(run *r) {
    if (!is_root(r)) return 1;
    sl_error err;
    if (sl_trainer_save_as(r->trainer, r->path_model, r->a.drop_mlm, 0, &err) != SL_OK) {
        fprintf(stderr, "surligne pretrain: %s\n", err.message);
        return 0;
    }
    return 1;
}

/* This process's rows of a global batch of B: [lo, hi). */
static void my_rows(const run *r, int B, int *lo, int *hi) {
    *lo = (int)((long)B * r->par.rank / r->par.size);
    *hi = (int)((long)B * (r->par.rank + 1) / r->par.size);
}

/* Validation loss and accuracy over the held-out sequences (no dropout); each process evaluates its rows of
   each batch and the trainer sums over processes. */
static int validate(run *r, int step) {
    if (r->n_valid == 0) return save_model(r) && save_state(r); /* --valid-fraction 0: checkpoints only */
    const int B = (int)r->a.batch, T = (int)r->a.max_len;
    double loss = 0, masked = 0, correct = 0, t0 = now_seconds();
    for (int b0 = 0; b0 < r->n_valid; b0 += B) {
        const int nb = r->n_valid - b0 < B ? r->n_valid - b0 : B;
        int lo, hi;
        my_rows(r, nb, &lo, &hi);
        sl_step_stats st;
        sl_error err;
        {
            /* a process with no row of this batch still joins the sums: row 0 with the all-ignored labels
               row kept after the validation set */
            const int none = hi == lo;
            const int32_t *ids = r->valid_ids + (size_t)(none ? 0 : b0 + lo) * T;
            const int32_t *labels = r->valid_labels + (size_t)(none ? r->n_valid : b0 + lo) * T;
            if (sl_trainer_mlm_eval(r->trainer, ids, labels, none ? 1 : hi - lo, T, &st, &err) != SL_OK) {
                fprintf(stderr, "surligne pretrain: validation: %s\n", err.message);
                return 0;
            }
            loss += (double)st.loss * st.n_labelled;
            masked += st.n_labelled;
            correct += st.n_correct;
        }
    }
    const double vl = masked ? loss / masked : 0, va = masked ? correct / masked : 0;
    end_progress_line(r);
    if (is_root(r))
        printf("step %d: validation loss %.4f (perplexity %.1f), accuracy %.4f on %.0f masked tokens of %d "
               "sequences (%.1f s)\n",
               step, vl, exp(vl), va, masked, r->n_valid, now_seconds() - t0);
    fflush(stdout);
    char *line = format_line("{\"step\": %d, \"tokens\": %llu, \"valid_loss\": %.6g, \"valid_accuracy\": %.6g}",
                             step, (unsigned long long)r->state[STATE_TOKENS], vl, va);
    return history_push(&r->hist, line, step, 1, 0, vl) && save_model(r) && save_state(r);
}

static int check_resumed_state(const run *r, const uint64_t *now) {
    if (r->state[STATE_VERSION] != STATE_FORMAT) {
        fprintf(stderr, "surligne pretrain: --resume %s: state format %llu, this program writes %d\n", r->a.resume,
                (unsigned long long)r->state[STATE_VERSION], STATE_FORMAT);
        return 0;
    }
    static const cli_state_field fields[] = {
        {STATE_N_SOURCES, "text sources (--text)", 0},
        {STATE_N_BLOCKS, "training sequences (--text, --max-len, --valid-fraction)", 0},
        {STATE_TOTAL_STEPS, "steps (--steps, --tokens)", 0},
        {STATE_BATCH, "--batch", 0},
        {STATE_MAX_LEN, "--max-len", 0},
        {STATE_SEED, "--seed", 0},
        {STATE_LR, "--lr", 1},
        {STATE_WARMUP, "--warmup-ratio", 1},
        {STATE_DROPOUT, "--dropout", 1},
        {STATE_MASK_PROB, "--mask-prob", 1},
        {STATE_WHOLE_WORD, "--whole-word", 0}};
    return cli_state_matches("pretrain", r->a.resume, r->state, now, fields, sizeof fields / sizeof *fields);
}

static int load_model(run *r) {
    sl_error err;
    const pretrain_args *a = &r->a;
    struct stat st;
    sl_status s;
    size_t size;
    if (a->resume) {
        s = sl_model_load_file(a->resume, &r->model, &err);
    } else if (a->init && stat(a->init, &st) == 0 && S_ISDIR(st.st_mode)) {
        sl_convert_options co = {NULL, 0, (uint64_t)a->seed};
        s = sl_convert_hf(a->init, &co, NULL, &r->model_bytes, &size, &err);
        if (s == SL_OK) s = sl_model_load_memory(r->model_bytes, size, a->init, &r->model, &err);
    } else if (a->init) {
        s = sl_model_load_file(a->init, &r->model, &err);
    } else {
        uint8_t *spm = NULL;
        size_t spm_size;
        sl_spm_vocab *vocab = NULL;
        int layers = (int)a->layers, hidden = (int)a->hidden, heads = (int)a->heads, ff = (int)a->ff;
        s = SL_OK;
        if (a->config) s = sl_model_shape(a->config, &layers, &hidden, &heads, &ff, &err);
        if (s == SL_OK && !(s = sl_read_file(a->tokenizer, &spm, &spm_size, &err)) &&
            !(s = sl_spm_parse(spm, spm_size, a->tokenizer, &vocab, &err)) &&
            !(s = sl_model_random_shape(layers, hidden, heads, ff, sl_spm_vocab_get(vocab), NULL, 0,
                                        (uint64_t)a->seed, &(sl_random_init){a->init_std, a->local_heads},
                                        &r->model_bytes, &size, &err)))
            s = sl_model_load_memory(r->model_bytes, size, "random model", &r->model, &err);
        sl_spm_vocab_free(vocab);
        free(spm);
    }
    if (s == SL_OK && !sl_model_config(r->model)->has_mlm)
        s = sl_fail(&err, SL_ERR_ARGUMENT, "%s has no masked-language-model head (a CamembertForMaskedLM or a "
                                           "model written by surligne pretrain is needed)",
                    a->resume ? a->resume : a->init);
    if (s != SL_OK) {
        fprintf(stderr, "surligne pretrain: %s\n", err.message);
        return 0;
    }
    return 1;
}

static int parse_args(int argc, char **argv, pretrain_args *a) {
    *a = (pretrain_args){.batch = 32, .max_len = 128, .seed = 42, .threads = 1, .valid_max = 256,
                         .eval_every = 500, .log_every = 20, .lr = 5e-4, .warmup = 0.06, .weight_decay = 0.01,
                         .dropout = 0.1, .mask_prob = 0.15, .valid_fraction = 0.005};
    const char *text = NULL, *precision = NULL; /* the last --text */
    const cli_option opts[] = {
        {"--init", CLI_STRING, &a->init, 0, 0},           {"--config", CLI_STRING, &a->config, 0, 0},
        {"--tokenizer", CLI_STRING, &a->tokenizer, 0, 0}, {"-o", CLI_STRING, &a->out, 0, 0},
        {"--output", CLI_STRING, &a->out, 0, 0},          {"--resume", CLI_STRING, &a->resume, 0, 0},
        {"--weights", CLI_STRING, &a->weights, 0, 0},     {"--text", CLI_STRING, &text, 0, 0},
        {"--precision", CLI_STRING, &precision, 0, 0},
        {"--whole-word", CLI_SWITCH, &a->whole_word, 0, 0}, {"--drop-mlm", CLI_SWITCH, &a->drop_mlm, 0, 0},
        {"--local-heads", CLI_SWITCH, &a->local_heads, 0, 0},
        {"--layers", CLI_INT, &a->layers, 1, 256},        {"--hidden", CLI_INT, &a->hidden, 1, 65536},
        {"--heads", CLI_INT, &a->heads, 1, 1024},         {"--intermediate", CLI_INT, &a->ff, 1, 0x1p20},
        {"--steps", CLI_INT, &a->steps, 1, 0x1p30},       {"--tokens", CLI_INT, &a->tokens, 1, 0x1p50},
        {"--batch", CLI_INT, &a->batch, 1, 0x1p16},       {"--max-len", CLI_INT, &a->max_len, 3, 0x1p16},
        {"--seed", CLI_INT, &a->seed, 0, 0x1p62},         {"--threads", CLI_INT, &a->threads, 1, 256},
        {"--valid-max", CLI_INT, &a->valid_max, 0, 0x1p24}, {"--eval-every", CLI_INT, &a->eval_every, 1, 0x1p30},
        {"--log-every", CLI_INT, &a->log_every, 1, 0x1p30}, {"--save-every", CLI_INT, &a->save_every, 1, 0x1p30},
        {"--stop-at", CLI_INT, &a->stop_at, 1, 0x1p30},
        {"--lr", CLI_REAL, &a->lr, 0, 1},                 {"--warmup-ratio", CLI_REAL, &a->warmup, 0, 1},
        {"--weight-decay", CLI_REAL, &a->weight_decay, 0, 1}, {"--dropout", CLI_REAL, &a->dropout, 0, 0.99},
        {"--mask-prob", CLI_REAL, &a->mask_prob, 1e-6, 1}, {"--valid-fraction", CLI_REAL, &a->valid_fraction, 0, 0.5},
        {"--init-std", CLI_REAL, &a->init_std, 1e-6, 1}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(PRETRAIN_USAGE, stdout);
            exit(0);
        }
        const int k = cli_option_parse("pretrain", opts, sizeof opts / sizeof *opts, argc, argv, &i);
        if (k == CLI_ERROR) return 0;
        if (k == CLI_UNKNOWN) {
            fprintf(stderr, "surligne pretrain: unknown option '%s'\n%s", argv[i], PRETRAIN_USAGE);
            return 0;
        }
        if (!strcmp(opts[k].flag, "--text")) { /* repeated: one source each */
            if (a->n_texts == SL_MLM_MAX_SOURCES) {
                fprintf(stderr, "surligne pretrain: at most %d --text sources\n", SL_MLM_MAX_SOURCES);
                return 0;
            }
            a->texts[a->n_texts++] = text;
        }
    }
    if ((a->precision = cli_precision("pretrain", precision)) < 0) return 0;
    const int shape = a->layers || a->hidden || a->heads || a->ff;
    if (shape && !(a->layers && a->hidden && a->heads && a->ff)) {
        fprintf(stderr, "surligne pretrain: give all of --layers, --hidden, --heads and --intermediate\n");
        return 0;
    }
    if ((a->config != NULL) + (a->init != NULL) + shape > 1) {
        fprintf(stderr, "surligne pretrain: give one of --config, --init or the shape options\n");
        return 0;
    }
    if ((a->init_std || a->local_heads) && a->init) { /* with --resume (the run's own options): the state's weights */
        fprintf(stderr, "surligne pretrain: --init-std and --local-heads set a random model's weights: not with --init\n");
        return 0;
    }
    if (!a->config && !a->init && !shape && !a->resume) {
        fprintf(stderr, "surligne pretrain: --config, --init or the shape options are required\n%s", PRETRAIN_USAGE);
        return 0;
    }
    if (!a->n_texts || !a->out) {
        fprintf(stderr, "surligne pretrain: %s is required\n%s", !a->n_texts ? "--text" : "-o", PRETRAIN_USAGE);
        return 0;
    }
    if (!a->steps && !a->tokens) {
        fprintf(stderr, "surligne pretrain: give --steps or --tokens\n");
        return 0;
    }
    if (!a->tokenizer) a->tokenizer = "weights/sentencepiece.bpe.model";
    return 1;
}

static void free_run(run *r) {
    sl_trainer_free(r->trainer);
    sl_mlm_sampler_free(&r->sampler);
    sl_mlm_corpus_free(&r->corpus);
    free(r->kinds);
    free(r->valid_ids);
    free(r->valid_labels);
    sl_model_free(r->model);
    free(r->model_bytes);
    history_free(&r->hist);
    free(r->path_model);
    free(r->path_metrics);
    free(r->path_svg);
    free(r->path_state);
}

/* The weights of --weights "a,b,c" for the sources. */
static int parse_weights(const pretrain_args *a, double *w) {
    for (int k = 0; k < a->n_texts; k++) w[k] = 1;
    if (!a->weights) return 1;
    const int n = cli_real_list("pretrain", "--weights", a->weights, w, SL_MLM_MAX_SOURCES);
    if (n && n != a->n_texts)
        fprintf(stderr, "surligne pretrain: --weights '%s': expected %d positive numbers, one per --text\n",
                a->weights, a->n_texts);
    return n == a->n_texts;
}

static int prepare(run *r) {
    sl_error err;
    const pretrain_args *a = &r->a;
    r->path_model = path_with(a->out, ".gguf");
    r->path_metrics = path_with(a->out, ".metrics.jsonl");
    r->path_svg = path_with(a->out, ".svg");
    r->path_state = path_with(a->out, ".state.gguf");
    if (!r->path_model || !r->path_metrics || !r->path_svg || !r->path_state) return 1;
    struct stat st;
    if (!a->resume && stat(r->path_state, &st) == 0) {
        fprintf(stderr,
                "surligne pretrain: %s exists: it holds a run that can be continued with --resume %s; remove it "
                "to start a new run with the same -o\n",
                r->path_state, r->path_state);
        return 1;
    }
    if (a->batch % r->par.size) {
        fprintf(stderr, "surligne pretrain: --batch %ld is not a multiple of the %d processes\n", a->batch,
                r->par.size);
        return 2;
    }
    double weights[SL_MLM_MAX_SOURCES];
    if (!parse_weights(a, weights) || !load_model(r)) return 1;
    const sl_config *c = sl_model_config(r->model);
    if (a->max_len > sl_model_max_tokens(r->model)) {
        fprintf(stderr, "surligne pretrain: --max-len %ld is longer than the model's %d tokens\n", a->max_len,
                sl_model_max_tokens(r->model));
        return 2;
    }
    /* the text: tokenised with the model's own vocabulary, on the run's threads */
    sl_pool *pool = a->threads > 1 ? sl_pool_create((int)a->threads) : NULL;
    const double t0 = now_seconds();
    sl_status s = SL_OK;
    sl_mlm_corpus_init(&r->corpus, (int)a->max_len);
    for (int k = 0; s == SL_OK && k < a->n_texts; k++)
        s = sl_mlm_corpus_add(&r->corpus, a->texts[k], weights[k], sl_model_tokenizer(r->model), pool, &err);
    sl_pool_free(pool);
    if (s == SL_OK) s = sl_mlm_corpus_split(&r->corpus, a->valid_fraction, &err);
    if (s == SL_OK) s = sl_mlm_sampler_init(&r->sampler, &r->corpus, (uint64_t)a->seed, &err);
    if (s == SL_OK) s = sl_mlm_masking_init(&r->masking, r->model, &r->kinds, &err);
    if (s != SL_OK) {
        fprintf(stderr, "surligne pretrain: %s\n", err.message);
        return 1;
    }
    r->masking.probability = a->mask_prob;
    r->masking.whole_word = a->whole_word;
    double wsum = 0;
    int64_t n_train = 0, n_valid = 0;
    for (int k = 0; k < r->corpus.n_sources; k++) wsum += r->corpus.sources[k].weight;
    if (is_root(r)) {
        printf("text: %d source(s) tokenised in %.1f s\n", r->corpus.n_sources, now_seconds() - t0);
        for (int k = 0; k < r->corpus.n_sources; k++) {
            const sl_mlm_source *src = &r->corpus.sources[k];
            printf("  %s: %lld lines, %.1f MB, %lld tokens -> %lld sequences of %ld (%lld held out), weight %.3f\n",
                   src->name, (long long)src->n_lines, src->n_bytes / 1e6, (long long)src->n_ids,
                   (long long)src->n_blocks, a->max_len, (long long)src->n_valid, src->weight / wsum);
        }
    }
    for (int k = 0; k < r->corpus.n_sources; k++) n_train += r->corpus.sources[k].n_train, n_valid += r->corpus.sources[k].n_valid;
    /* the validation set: held-out blocks taken in turn from each source, masked once */
    r->n_valid = (int)(n_valid < a->valid_max ? n_valid : a->valid_max);
    r->valid_ids = malloc(((size_t)r->n_valid + 1) * a->max_len * sizeof(int32_t));
    r->valid_labels = malloc(((size_t)r->n_valid + 1) * a->max_len * sizeof(int32_t));
    if (!r->valid_ids || !r->valid_labels) return 1;
    for (long i = 0; i < a->max_len; i++) r->valid_labels[(size_t)r->n_valid * a->max_len + i] = SL_IGNORE_LABEL;
    int32_t *tmp = malloc((size_t)a->max_len * sizeof *tmp);
    if (!tmp) return 1;
    for (int i = 0, round = 0; i < r->n_valid; round++)
        for (int k = 0; k < r->corpus.n_sources && i < r->n_valid; k++)
            if (round < r->corpus.sources[k].n_valid) {
                memcpy(tmp, sl_mlm_block(&r->corpus, k, r->corpus.sources[k].valid[round]), (size_t)a->max_len * sizeof *tmp);
                sl_mlm_mask(&r->masking, tmp, (int)a->max_len, sl_hash64(VALID_SEED + (uint64_t)i),
                            r->valid_ids + (size_t)i * a->max_len, r->valid_labels + (size_t)i * a->max_len);
                i++;
            }
    free(tmp);
    long total = a->steps ? a->steps : (a->tokens + a->batch * a->max_len - 1) / (a->batch * a->max_len);
    sl_train_options *o = &r->opt;
    *o = sl_train_default_options();
    o->batch = (int)(a->batch / r->par.size);
    o->max_len = (int)a->max_len;
    o->lr = a->lr;
    o->warmup_ratio = a->warmup;
    o->weight_decay = (float)a->weight_decay;
    o->dropout_hidden = o->dropout_attention = (float)a->dropout;
    o->dropout_classifier = 0;
    o->total_steps = (int)total;
    o->seed = (uint64_t)a->seed;
    o->n_threads = (int)a->threads;
    o->collective = parallel_collective(&r->par);
    o->precision = a->precision;
    if (sl_trainer_create(r->model, o, &r->trainer, &err) != SL_OK) {
        fprintf(stderr, "surligne pretrain: %s\n", err.message);
        return 1;
    }
    uint64_t *sw = r->state;
    sw[STATE_VERSION] = STATE_FORMAT;
    sw[STATE_TOTAL_STEPS] = (uint64_t)total;
    sw[STATE_BATCH] = (uint64_t)a->batch;
    sw[STATE_MAX_LEN] = (uint64_t)a->max_len;
    sw[STATE_SEED] = (uint64_t)a->seed;
    sw[STATE_LR] = bits_of(a->lr);
    sw[STATE_WARMUP] = bits_of(a->warmup);
    sw[STATE_DROPOUT] = bits_of(a->dropout);
    sw[STATE_MASK_PROB] = bits_of(a->mask_prob);
    sw[STATE_WHOLE_WORD] = (uint64_t)a->whole_word;
    sw[STATE_N_SOURCES] = (uint64_t)r->corpus.n_sources;
    sw[STATE_N_BLOCKS] = (uint64_t)n_train;
    sw[STATE_THREADS] = (uint64_t)a->threads;
    sw[STATE_RANKS] = (uint64_t)r->par.size;
    sw[STATE_WINDOW_LOSS] = bits_of(0.0);
    if (a->resume) {
        uint64_t now[N_STATE];
        memcpy(now, sw, sizeof now);
        if (sl_trainer_load_state(r->trainer, a->resume, sw, N_STATE, &err) != SL_OK) {
            fprintf(stderr, "surligne pretrain: --resume: %s\n", err.message);
            return 1;
        }
        if (!check_resumed_state(r, now)) return 1;
        if ((sw[STATE_THREADS] != (uint64_t)a->threads || sw[STATE_RANKS] != (uint64_t)r->par.size) && is_root(r))
            fprintf(stderr,
                    "surligne pretrain: the state was written with %llu thread(s) x %llu process(es): with %ld x %d "
                    "the sums are rounded in another order (same run up to rounding, not bit for bit)\n",
                    (unsigned long long)sw[STATE_THREADS], (unsigned long long)sw[STATE_RANKS], a->threads,
                    r->par.size);
        sw[STATE_THREADS] = (uint64_t)a->threads;
        sw[STATE_RANKS] = (uint64_t)r->par.size;
        for (int k = 0; k < SL_MLM_MAX_SOURCES; k++) r->sampler.taken[k] = (int64_t)sw[STATE_TAKEN + k];
        if (is_root(r))
            history_load(&r->hist, r->path_metrics, sl_trainer_step_count(r->trainer), 1 << 30, "valid_loss");
        if (is_root(r))
            printf("resuming %s at step %d/%ld\n", a->resume, sl_trainer_step_count(r->trainer), total);
    }
    if (is_root(r)) {
        size_t n_params = 0, n;
        const char *name;
        float *p, *g;
        for (int i = 0; sl_trainer_tensor(r->trainer, i, &name, &n, &p, &g); i++) n_params += n;
        printf("model: %d layers x %d, %d heads, intermediate %d, %.2fM parameters (MLM head included)\n",
               c->n_layer, c->n_embd, c->n_head, c->n_ff, n_params / 1e6);
        printf("training: %ld steps of %ld x %ld tokens (%.1fM tokens, %.2f passes over %lld sequences), "
               "warm-up "
               "%d, lr %g, masking %g%s, dropout %g, %s products, seed %ld, %ld thread(s) x %d process(es); "
               "validation: %d "
               "sequences every %ld steps\n",
               total, a->batch, a->max_len, total * a->batch * a->max_len / 1e6,
               (double)total * a->batch / (double)n_train, (long long)n_train, sl_train_warmup_steps(o),
               a->lr, a->mask_prob, a->whole_word ? " (whole words)" : "", a->dropout,
               cli_precision_name(a->precision, sl_trainer_precision(r->trainer)), a->seed, a->threads,
               r->par.size, r->n_valid, a->eval_every);
        fflush(stdout);
    }
    return -1;
}

int cmd_pretrain(int argc, char **argv) {
    run r = {0};
    parallel_init(&r.par, &argc, &argv);
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
    const pretrain_args *a = &r.a;
    const int total = r.opt.total_steps, B = (int)a->batch, T = (int)a->max_len;
    /* --stop-at: this session ends there, validated and saved; the schedule still spans all the steps */
    const int end = a->stop_at && a->stop_at < total ? (int)a->stop_at : total;
    uint64_t *state = r.state;
    int lo, hi;
    my_rows(&r, B, &lo, &hi);
    int32_t *sample = malloc((size_t)T * sizeof *sample), *ids = malloc((size_t)B * T * sizeof *ids),
            *labels = malloc((size_t)B * T * sizeof *labels);
    if (!sample || !ids || !labels) {
        fprintf(stderr, "surligne pretrain: no memory\n");
        free(sample), free(ids), free(labels), free_run(&r);
        return 1;
    }
    stop_on_signals();
    const int tty = isatty(2);
    const int first_step = sl_trainer_step_count(r.trainer);
    const double t_start = now_seconds();
    double t_window = t_start, t_saved = t_start, t_drawn = 0;
    long window_tokens = 0, session_tokens = 0;
    rc = 0;
    if (first_step == 0 && !validate(&r, 0)) rc = 1;
    while (rc == 0) {
        const int step = sl_trainer_step_count(r.trainer);
        if (step >= end) break;
        /* every process draws the whole global batch (the samplers stay equal) and keeps its rows */
        for (int j = 0; j < B; j++) {
            const uint64_t g = (uint64_t)step * (uint64_t)B + (uint64_t)j;
            sl_mlm_sampler_next(&r.sampler, &r.corpus, g, sample);
            if (j >= lo && j < hi)
                sl_mlm_mask(&r.masking, sample, T, sl_hash64((uint64_t)a->seed * 0x9e3779b97f4a7c15ull ^ g),
                            ids + (size_t)(j - lo) * T, labels + (size_t)(j - lo) * T);
        }
        sl_step_stats st;
        sl_error err;
        sl_trainer_set_row0(r.trainer, lo);
        if (sl_trainer_mlm_step(r.trainer, ids, labels, hi - lo, T, &st, &err) != SL_OK) {
            end_progress_line(&r);
            fprintf(stderr, "surligne pretrain: %s\n", err.message);
            rc = 1;
            break;
        }
        const int now_step = step + 1;
        state[STATE_TOKENS] += (uint64_t)B * T;
        window_tokens += (long)B * T;
        session_tokens += (long)B * T;
        state[STATE_WINDOW_LOSS] = bits_of(double_of(state[STATE_WINDOW_LOSS]) + (double)st.loss * st.n_labelled);
        state[STATE_WINDOW_MASKED] += (uint64_t)st.n_labelled;
        state[STATE_WINDOW_CORRECT] += (uint64_t)st.n_correct;
        state[STATE_WINDOW_STEPS]++;
        const double t = now_seconds();
        if (now_step % a->log_every == 0 || now_step == total) {
            const double masked = (double)state[STATE_WINDOW_MASKED];
            const double mean = masked ? double_of(state[STATE_WINDOW_LOSS]) / masked : 0;
            const double acc = masked ? state[STATE_WINDOW_CORRECT] / masked : 0;
            char *line = format_line("{\"step\": %d, \"tokens\": %llu, \"loss\": %.6g, \"accuracy\": %.6g, "
                                     "\"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.1f}",
                                     now_step, (unsigned long long)state[STATE_TOKENS], mean, acc, st.lr,
                                     st.grad_norm, window_tokens / fmax(t - t_window, 1e-9));
            history_push(&r.hist, line, now_step, 0, mean, -1);
            state[STATE_WINDOW_LOSS] = bits_of(0.0);
            state[STATE_WINDOW_STEPS] = state[STATE_WINDOW_MASKED] = state[STATE_WINDOW_CORRECT] = 0;
            window_tokens = 0;
            t_window = t;
            if (is_root(&r) && !tty) {
                const double per_step = (t - t_start) / (now_step - first_step);
                char eta[32];
                format_duration(per_step * (total - now_step), eta, sizeof eta);
                fprintf(stderr, "step %d/%d  loss %.4f  acc %.3f  lr %.3g  %.0f tok/s  ETA %s\n", now_step, total,
                        mean, acc, st.lr, session_tokens / fmax(t - t_start, 1e-9), eta);
            }
        }
        if (is_root(&r) && tty && (t - t_drawn >= 0.1 || now_step == total)) {
            const double per_step = (t - t_start) / (now_step - first_step);
            char eta[32];
            format_duration(per_step * (total - now_step), eta, sizeof eta);
            fprintf(stderr, "\rstep %d/%d  loss %.4f  lr %.3g  %.0f tok/s  ETA %s\x1b[K", now_step, total, st.loss,
                    st.lr, session_tokens / fmax(t - t_start, 1e-9), eta);
            r.progress_open = 1;
            t_drawn = t;
        }
        if (now_step % a->eval_every == 0 || now_step == total || now_step == end) {
            if (!validate(&r, now_step)) rc = 1;
            t_saved = now_seconds();
        } else {
            /* the time-based save is decided by rank 0 and followed by all (they must agree on the step) */
            int save_now = a->save_every ? now_step % a->save_every == 0 : t - t_saved >= SAVE_SECONDS;
            save_now = !parallel_all(&r.par, !save_now);
            if (save_now) {
                if (!save_state(&r)) rc = 1;
                t_saved = now_seconds();
            }
        }
        const int stop = !parallel_all(&r.par, !stop_requested());
        if (stop && rc == 0) {
            end_progress_line(&r);
            if (save_state(&r) && is_root(&r))
                fprintf(stderr,
                        "surligne pretrain: stopped at step %d/%d: the state is in %s; continue with the same "
                        "options and --resume %s\n",
                        now_step, total, r.path_state, r.path_state);
            rc = 130;
        }
    }
    end_progress_line(&r);
    if (rc == 0 && is_root(&r)) {
        char took[32];
        format_duration(now_seconds() - t_start, took, sizeof took);
        printf("done: %d steps in %s; model in %s, metrics in %s, plot in %s, state in %s\n",
               sl_trainer_step_count(r.trainer) - first_step, took, r.path_model, r.path_metrics, r.path_svg,
               r.path_state);
        if (end < total)
            printf("stopped at step %d of %d (--stop-at): continue with the same options and --resume %s\n", end,
                   total, r.path_state);
    }
    free(sample);
    free(ids);
    free(labels);
    free_run(&r);
    parallel_finish(&r.par);
    return rc;
}
