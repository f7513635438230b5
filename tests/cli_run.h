/* What the command-line tests share: a temporary folder, running the program (in the foreground or in
   the background), reading its outputs, comparing GGUF files. Include once per test program. */
#ifndef SL_CLI_RUN_H
#define SL_CLI_RUN_H

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "gguf.h"

static char tmpdir[] = "/tmp/surligne-cli-XXXXXX";
static char path_buf[8][512];

/* A path in the temporary folder (8 rotating buffers: enough for one command line). */
static inline const char *tmp(const char *name) {
    static int k;
    char *p = path_buf[k++ % 8];
    snprintf(p, sizeof path_buf[0], "%s/%s", tmpdir, name);
    return p;
}

static inline char *read_text(const char *path) {
    uint8_t *data;
    size_t size;
    sl_error err;
    return sl_read_file(path, &data, &size, &err) == SL_OK ? (char *)data : NULL;
}

/* Runs the program with `args` (a printf format), output to `log`; returns its exit status. */
static inline int run_cli(const char *log, const char *fmt, ...) SL_PRINTF(2, 3);
static inline int run_cli(const char *log, const char *fmt, ...) {
    char args[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1 < /dev/null", SL_CLI, args, log);
    fflush(NULL); /* or the child's copy of our buffers is written twice */
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Starts the program in the background (argv split at spaces), output to `log`. */
static inline pid_t start_cli(const char *log, const char *args) {
    static char copy[4096];
    char *argv[64];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", args);
    argv[n++] = SL_CLI;
    for (char *t = strtok(copy, " "); t && n < 63; t = strtok(NULL, " ")) argv[n++] = t;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0) _exit(127);
        execv(SL_CLI, argv);
        _exit(127);
    }
    return pid;
}


/* The first n sentences of a CoNLL file, written to out. */
static inline int head_sentences(const char *src, int n, const char *out) {
    char *text = read_text(src);
    if (!text) return 0;
    char *p = text;
    for (int s = 0; s < n && *p; s++) {
        char *blank = strstr(p, "\n\n");
        p = blank ? blank + 2 : p + strlen(p);
    }
    FILE *f = fopen(out, "w");
    int ok = f && fwrite(text, 1, (size_t)(p - text), f) == (size_t)(p - text);
    if (f) fclose(f);
    free(text);
    return ok;
}

static inline int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fputs(text, f);
    fclose(f);
    return 1;
}

static inline int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

/* Tensors of two GGUF files that are missing from the other or differ in a byte; -1 if one is unreadable. */
static inline int differing_tensors(const char *a, const char *b) {
    uint8_t *da = NULL, *db = NULL;
    size_t na, nb;
    sl_gguf *ga = NULL, *gb = NULL;
    sl_error err;
    int diff = -1;
    if (sl_read_file(a, &da, &na, &err) || sl_read_file(b, &db, &nb, &err) ||
        sl_gguf_parse(da, na, a, &ga, &err) || sl_gguf_parse(db, nb, b, &gb, &err)) {
        fprintf(stderr, "%s\n", err.message);
    } else {
        diff = sl_gguf_n_tensors(ga) != sl_gguf_n_tensors(gb);
        for (size_t i = 0; i < sl_gguf_n_tensors(ga); i++) {
            const sl_gguf_tensor *x = sl_gguf_tensor_at(ga, i);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)x->name_len, x->name);
            const sl_gguf_tensor *y = sl_gguf_find_tensor(gb, name);
            if (!y || y->nbytes != x->nbytes || memcmp(x->data, y->data, x->nbytes)) diff++;
        }
    }
    sl_gguf_free(ga);
    sl_gguf_free(gb);
    free(da);
    free(db);
    return diff;
}

/* The optimisation steps recorded in a state file, or -1. */
static inline int state_step(const char *path) {
    uint8_t *d;
    size_t n;
    sl_gguf *g;
    sl_error err;
    uint32_t step = 0;
    int ok = 0;
    if (sl_read_file(path, &d, &n, &err) != SL_OK) return -1;
    if (sl_gguf_parse(d, n, path, &g, &err) == SL_OK) {
        ok = sl_gguf_get_u32(g, "surligne.train.step", &step, &err) == SL_OK;
        sl_gguf_free(g);
    }
    free(d);
    return ok ? (int)step : -1;
}

/* Removes the "tokens_per_s" fields of a metrics log (they are timings, never equal twice). */
static inline void strip_speeds(char *s) {
    const char *key = ", \"tokens_per_s\": ";
    for (char *p; s && (p = strstr(s, key));) {
        char *end = p + strlen(key);
        while (*end && *end != '}') end++;
        memmove(p, end, strlen(end) + 1);
    }
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a short over-fitting run, then eval ---- */

/* Creates the temporary folder; at the end, removes it when every check passed (else says where it is). */
static inline int tmpdir_create(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 0;
    }
    return 1;
}

static inline void tmpdir_finish(void) {
    if (!check_failures) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "outputs kept in %s\n", tmpdir);
    }
}

#endif
