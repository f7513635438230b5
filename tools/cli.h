/* What the subcommands share: option values, input reading, JSON string output. */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Parses an integer option value in [lo, hi]; prints "surligne CMD: FLAG ..." and returns 0 on error. */
int cli_int(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *flag, const char *value, double lo, double hi, double *out);
/* The value following argv[*i] (advancing *i), or NULL with a message when missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole stream (stdin when path is NULL or "-"); malloc'ed, 0-terminated. */
char *cli_read_all(const char *cmd, const char *path, size_t *size);
/* Writes s[0, len) as a JSON string literal (quotes included). */
void cli_json_string(FILE *f, const char *s, size_t len);
/* A comma-separated list of positive integers ("32,128,512"); returns the count, 0 on error. */
int cli_int_list(const char *cmd, const char *flag, const char *value, long *out, int max);

#endif
