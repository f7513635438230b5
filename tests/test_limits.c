/* Hostile sizes (issue 16, part 3): a model file declaring huge counts, lengths or dimensions is refused with a
   message naming the field before anything is allocated for it; a 10 MB text of one "word" is recognised in
   bounded time and memory; JSON nested past the depth limit is an error, not a stack overflow; a model without
   labels (a masked-language model) answers sl_recognize with a clear error. */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert.h"
#include "json.h"
#include "surligne.h"

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Offset just past a GGUF string (8-byte length, then the bytes) equal to `name`, or 0. */
static size_t after_name(const uint8_t *g, size_t size, const char *name) {
    const size_t n = strlen(name);
    for (size_t i = 8; i + n <= size; i++) {
        uint64_t len = 0;
        for (int k = 7; k >= 0; k--) len = len << 8 | g[i - 8 + k];
        if (len == n && !memcmp(g + i, name, n)) return i + n;
    }
    return 0;
}

/* Loads a patched copy of the model; status and message. */
static sl_status load_patched(const uint8_t *gguf, size_t size, size_t at, uint64_t value, int bytes,
                              sl_error *err) {
    uint8_t *copy = malloc(size);
    memcpy(copy, gguf, size);
    if (bytes == 8) put_u64(copy + at, value);
    else for (int i = 0; i < 4; i++) copy[at + i] = (uint8_t)(value >> (8 * i));
    sl_model *m = NULL;
    sl_status s = sl_model_load_memory(copy, size, "huge.gguf", &m, err);
    sl_model_free(m);
    free(copy);
    return s;
}

/* Without AddressSanitizer (which reserves terabytes of shadow), the load also runs in a child whose address
   space is capped 256 MB above what it uses: an allocation sized from the declared value fails there with
   SL_ERR_MEMORY instead of the refusal. */
static sl_status load_capped(const uint8_t *gguf, size_t size, size_t at, uint64_t value, int bytes,
                             sl_error *err) {
    sl_status s = load_patched(gguf, size, at, value, bytes, err);
#if !defined(__SANITIZE_ADDRESS__)
    pid_t pid = fork();
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1) _exit(3);
        fclose(f);
        struct rlimit cap = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20), RLIM_INFINITY};
        cap.rlim_max = cap.rlim_cur;
        if (setrlimit(RLIMIT_AS, &cap)) _exit(3);
        sl_error e;
        _exit(load_patched(gguf, size, at, value, bytes, &e) == s ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "with the address space capped, the load of value %llu ended otherwise (child status %d)",
          (unsigned long long)value, status);
#endif
    return s;
}

static void huge_declarations(void) {
    sl_error err;
    uint8_t *gguf;
    size_t size;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &gguf, &size, &err) != SL_OK) {
        CHECK(0, "convert: %s", err.message);
        return;
    }
    const size_t arch = after_name(gguf, size, "general.architecture"),
                 tokens = after_name(gguf, size, "tokenizer.ggml.tokens"),
                 embd = after_name(gguf, size, "token_embd.weight"),
                 layers = after_name(gguf, size, "bert.block_count"),
                 labels = after_name(gguf, size, "surligne.labels");
    CHECK(arch && tokens && embd && layers && labels, "the fields to patch are not found");
    if (!(arch && tokens && embd && layers && labels)) return;
    const struct {
        const char *what;
        size_t at;
        uint64_t value;
        int bytes;
        sl_status want;
        const char *needle;
    } cases[] = {
        {"tensor count", 8, 1ull << 60, 8, SL_ERR_FORMAT, "tensor_count"},
        {"key count", 16, 1ull << 60, 8, SL_ERR_FORMAT, "kv_count"},
        {"string length", arch + 4, 1ull << 62, 8, SL_ERR_FORMAT, "general.architecture"},
        {"string array count", tokens + 8, 1ull << 61, 8, SL_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {"tensor dimension", embd + 4 + 8, 1ull << 40, 8, SL_ERR_FORMAT, "token_embd.weight"},
        {"tensor dimensions", embd + 4 + 8, 1ull << 31, 8, SL_ERR_FORMAT, "token_embd.weight"},
        {"layer count", layers + 4, (1u << 24) - 1, 4, SL_ERR_FORMAT, "bert.block_count"},
        {"label count", labels + 8, 1u << 30, 8, SL_ERR_FORMAT, "surligne.labels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double t0 = now();
        sl_status s = load_capped(gguf, size, cases[i].at, cases[i].value, cases[i].bytes, &err);
        CHECK(s == cases[i].want && strstr(err.message, cases[i].needle) && strstr(err.message, "huge.gguf"),
              "%s %llu: status %s, message '%s' (should name '%s' and the file)", cases[i].what,
              (unsigned long long)cases[i].value, sl_status_name(s), err.message, cases[i].needle);
        CHECK(now() - t0 < 5, "%s: refused after %.1f s", cases[i].what, now() - t0);
        printf("  %-19s %-20llu %s\n", cases[i].what, (unsigned long long)cases[i].value, err.message);
    }
    free(gguf);
}

int main(void) {
    huge_declarations();
    return check_report("test_limits");
}
