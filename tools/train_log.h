/* What `surligne train` and `surligne pretrain` record of a run: the metrics log (JSON lines, kept in
   memory and rewritten whole, atomically), the SVG plot of the training loss with a second series (dev F1
   after each epoch, or the validation loss), the progress line's pieces. */
#ifndef SL_TRAIN_LOG_H
#define SL_TRAIN_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

uint64_t bits_of(double x); /* a double in a state word, and back */
double double_of(uint64_t u);
double now_seconds(void);   /* monotonic */
char *format_line(const char *fmt, ...) SL_PRINTF(1, 2); /* malloc'ed */
/* OUT.gguf -> OUT<suffix> (malloc'ed) */
char *path_with(const char *out, const char *suffix);
void format_duration(double s, char *buf, size_t size); /* 1h02m, 3m05s, 12s */

/* Ctrl-C (and SIGTERM) ask a training loop to save its state and stop after the current step: the handler
   is reset by the first signal, so a second Ctrl-C stops at once (the files on disk stay whole). */
void stop_on_signals(void);
int stop_requested(void);

/* One line of the metrics log, kept verbatim, with what the plot needs. */
typedef struct {
    char *line;
    int step;
    int mark;     /* 0: a log-interval line (loss); else an evaluation line (its epoch, or 1) */
    double loss;  /* log interval: mean training loss */
    double value; /* evaluation: dev F1 or validation loss, or -1 */
} sl_record;

typedef struct {
    sl_record *items;
    int n, cap;
} sl_history;

int history_push(sl_history *h, char *line, int step, int mark, double loss, double value); /* takes line */
void history_free(sl_history *h);
/* The lines of an earlier run's log up to the state being resumed: lines up to max_step, and epoch lines
   ({"epoch": e, ...} without "loss") up to epoch max_epoch (the log is written before the state, so it may
   be ahead). value_key: "f1" (inside "dev") or "valid_loss". */
void history_load(sl_history *h, const char *path, int max_step, int max_epoch, const char *value_key);

typedef struct {
    const char *command;     /* "surligne train" */
    const char *title;       /* the output's name */
    int total_steps;
    int value_is_loss;       /* the second series shares the loss axis (else: a 0..1 axis on the right) */
    const char *value_label; /* "dev F1 after each epoch" */
} sl_plot;

/* Writes OUT.metrics.jsonl and OUT.svg, each atomically; messages on stderr. 1 when both were written. */
int save_logs(const sl_history *h, const sl_plot *p, const char *path_metrics, const char *path_svg);

#endif
