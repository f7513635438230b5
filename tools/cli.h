/* What the subcommands share: option values, input reading, JSON string output, annotated data. */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "train.h"

/* Parses an integer option value in [lo, hi]; prints "surligne CMD: FLAG ..." and returns 0 on error. */
int cli_int(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *flag, const char *value, double lo, double hi, double *out);
/* The value following argv[*i] (advancing *i), or NULL with a message when missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole stream (stdin when path is NULL or "-"); malloc'ed, 0-terminated. */
char *cli_read_all(const char *cmd, const char *path, size_t *size);
/* Writes s[0, len) as a JSON string literal (quotes included). */
void cli_json_string(FILE *f, const char *s, size_t len);
/* A comma-separated list of integers, each at least lo ("32,128,512"); returns the count, 0 on error. */
int cli_int_list(const char *cmd, const char *flag, const char *value, long lo, long *out, int max);
/* The same for positive reals ("3,2.5,0.5"), such as weights. */
int cli_real_list(const char *cmd, const char *flag, const char *value, double *out, int max);

/* An option table: a flag, its kind, where its value goes and its range (integers and reals). */
typedef enum { CLI_STRING, CLI_INT, CLI_REAL, CLI_SWITCH } cli_kind;
typedef struct {
    const char *flag;
    cli_kind kind;
    void *value; /* const char **, long *, double *, int * (set to 1) */
    double lo, hi;
} cli_option;
enum { CLI_UNKNOWN = -1, CLI_ERROR = -2 };
/* argv[*i] against the table: stores its value (advancing *i past it) and returns the option's index;
   CLI_UNKNOWN for a flag not in the table (nothing consumed), CLI_ERROR after a message. */
int cli_option_parse(const char *cmd, const cli_option *opts, int n, int argc, char **argv, int *i);

/* A resumed training run must have the options of the run it continues: the state words `fields` name
   (with the flags that set them) must hold in `saved` what this run computed in `now`. Prints which one
   differs and returns 0. */
typedef struct {
    int word;
    const char *what; /* "--lr", "training examples (--train, --max-len)" */
    int real;         /* the word holds a double's bits */
} cli_state_field;
int cli_state_matches(const char *cmd, const char *resume, const uint64_t *saved, const uint64_t *now,
                      const cli_state_field *fields, int n);

/* --kernel NAME: sl_q8_kernel_select; -1 with a message for a kernel this processor does not run. */
int cli_kernel(const char *cmd, const char *value);

/* --precision auto|f32|bf16 (NULL: auto) -> SL_PRECISION_*; -1 with a message otherwise. */
int cli_precision(const char *cmd, const char *value);
/* What a run that asked for one precision and runs at another (sl_trainer_precision) computes in, for its
   log: "bf16 (AMX tiles)", "bf16 (AVX-512 BF16)", "f32 (no AVX-512 BF16 here)" where bf16 products fall back
   to f32, and with auto, why. */
const char *cli_precision_name(int asked, int used);

/* ---- annotated data for train and eval ---- */

/* "error" -> 0, "O" -> 1 (types the model lacks read as O); -1 with a message otherwise. */
int cli_unknown_labels(const char *cmd, const char *value);
/* --decoding: "viterbi" -> SL_DECODE_VITERBI, "argmax" -> SL_DECODE_ARGMAX; -1 with a message otherwise. */
int cli_decoding(const char *cmd, const char *value);
/* Reads a CoNLL file in the model's label set, so data and logits share label ids, and prints its counts
   to `log`. Returns 0 with a message naming file:line on error. */
int cli_read_conll(const char *cmd, const char *path, const sl_model *m, int unknown_to_o, sl_conll *out,
                   FILE *log);
/* Tokenises the sentences with the model's tokenizer and its <s>, </s> and padding ids (from the GGUF
   keys tokenizer.ggml.*_token_id), windows of at most max_len tokens, words glued as running text with
   probability `glue` (sl_dataset_build_text); prints the counts to `log`. */
int cli_build_dataset(const char *cmd, const sl_conll *c, const sl_model *m, int max_len, double glue,
                      uint64_t seed, sl_dataset *out, FILE *log);

/* Loads the models of an ensemble (--teacher, eval's extra -m) beside `like`, with `threads` threads each:
   each must have like's labels (in any order: label_of, (n, like's labels), receives each one's output index
   for each of like's labels, as sl_ensemble.label_of) and its vocabulary size, since they read the same token
   ids. Returns 0 with a message naming the file on error (and frees what it loaded). */
int cli_load_models_like(const char *cmd, const char *const *paths, int n, const sl_model *like, int threads,
                         sl_model **out, int *label_of);

/* The default model of weights/models.json: found in $SURLIGNE_WEIGHTS, ./weights or the weights folder
   beside the program's build directory (argv0/../weights). Writes its path into `path`; returns 0 with a
   message naming where it looked when there is none. */
int cli_default_model(const char *cmd, const char *argv0, char *path, size_t size);

#endif
