/* Runs a harness of tests/fuzz/ without libFuzzer: each file named, or each file of each folder named, is
   given to LLVMFuzzerTestOneInput once. The normal builds (Release, and ASan + UBSan) link every harness with
   this and ctest runs it on tests/fuzz/regressions/<harness>/, so an input that once crashed a reader keeps
   being read, by every compiler and sanitizer of the suite. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Harnesses without set-up do not define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path) {
    uint8_t *data;
    size_t size;
    sl_error err;
    if (sl_read_file(path, &data, &size, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    /* an exact-size copy, so that AddressSanitizer sees a read one past the input as libFuzzer would */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 1;
    memcpy(copy, data, size);
    free(data);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    return 0;
}

int main(int argc, char **argv) {
    int n = 0, failed = 0;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "%s: no such file or folder\n", argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[a]);
            n++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) return 1;
        char **names = NULL;
        size_t count = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char **grown = realloc(names, (count + 1) * sizeof *names);
            if (!grown) return 1;
            names = grown;
            size_t len = strlen(argv[a]) + strlen(e->d_name) + 2;
            if (!(names[count] = malloc(len))) return 1;
            snprintf(names[count++], len, "%s/%s", argv[a], e->d_name);
        }
        closedir(d);
        qsort(names, count, sizeof *names, by_name);
        for (size_t i = 0; i < count; i++) {
            printf("%s\n", names[i]);
            fflush(stdout);
            failed |= run_file(names[i]);
            n++;
            free(names[i]);
        }
        free(names);
    }
    printf("%d inputs read without a finding\n", n);
    return failed;
}
