/* Hostile sizes (issue 16, part 3): a model file (GGUF, safetensors, SentencePiece) declaring huge counts,
   lengths or dimensions is refused with a message naming the field before anything is allocated for it; a
   10 MB text of one "word" is recognised in bounded time and memory; JSON nested past the depth limit is an
   error, not a stack overflow; a model without labels (a masked-language model) answers sl_recognize with a
   clear error. The 10 MB texts are 1 MB under AddressSanitizer, whose build runs the suite several times
   slower. */
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
#include "safetensors.h"
#include "tokenizer.h"
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
    if (bytes == 8)
        put_u64(copy + at, value);
    else
        for (int i = 0; i < 4; i++) copy[at + i] = (uint8_t)(value >> (8 * i));
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
                 ff = after_name(gguf, size, "bert.feed_forward_length"),
                 ctx = after_name(gguf, size, "bert.context_length"),
                 labels = after_name(gguf, size, "surligne.labels");
    CHECK(arch && tokens && embd && layers && labels && ff && ctx, "the fields to patch are not found");
    if (!(arch && tokens && embd && layers && labels && ff && ctx)) return;
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
        /* the activations of a window, not the file, would be huge */
        {"FFN width", ff + 4, (1u << 24) - 1, 4, SL_ERR_FORMAT, "intermediate 16777215"},
        {"context length", ctx + 4, 1u << 20, 4, SL_ERR_FORMAT, "window of 1048574 tokens"},
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

static long max_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* LONG_MB (10) MB of one "word" of each kind: letters (one long Viterbi lattice, one word of millions of
   sub-word tokens), accented letters, digits (what the rule recogniser reads as numbers), a symbol that is no
   piece (unknown characters merge into one token). Each is recognised in windows of 16 tokens (the most
   windows for the least compute: hundreds of thousands) in bounded time; memory grows with the text (tokens
   and scores), not with its square. */
/* The other readers of model files: a safetensors header length or tensor shape, and a SentencePiece field
   length, declared huge. */
static void huge_other_files(void) {
    sl_error err;
    uint8_t st[64] = {0};
    put_u64(st, 1ull << 62);
    memcpy(st + 8, "{}", 2);
    sl_safetensors *t = NULL;
    sl_status s = sl_safetensors_parse(st, sizeof st, "huge.safetensors", &t, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "header length"), "safetensors header: '%s'",
          err.message);
    const char header[] =
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}";
    uint8_t st2[128] = {0};
    put_u64(st2, sizeof header - 1);
    memcpy(st2 + 8, header, sizeof header - 1);
    s = sl_safetensors_parse(st2, 8 + sizeof header - 1, "huge.safetensors", &t, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "'w'"), "safetensors shape: '%s'", err.message);
    printf("  %s\n", err.message);
    sl_safetensors_free(t);
    /* ModelProto field 1 (a piece), length 2^62 as a varint */
    const uint8_t spm[] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'x'};
    sl_spm_vocab *v = NULL;
    s = sl_spm_parse(spm, sizeof spm, "huge.model", &v, &err);
    CHECK(s == SL_ERR_FORMAT && strstr(err.message, "huge.model") && strstr(err.message, "length"),
          "SentencePiece length: '%s'", err.message);
    printf("  %s\n", err.message);
    sl_spm_vocab_free(v);
}

#if defined(__SANITIZE_ADDRESS__)
#define LONG_MB 1
#else
#define LONG_MB 10
#endif

static void long_word(sl_model *m) {
    const size_t size = (size_t)LONG_MB << 20;
    char *text = malloc(size);
    const char *units[] = {"a", "\xc3\xa9", "7", "\xe2\x98\x83"}; /* a, é, 7, ☃ */
    const char *names[] = {"a", "e-acute", "7", "snowman"};
    for (int u = 0; u < 4; u++) {
        const size_t ul = strlen(units[u]), len = size / ul * ul;
        for (size_t i = 0; i < len; i += ul) memcpy(text + i, units[u], ul);
        sl_entities e = {0};
        sl_error err;
        sl_options opt = sl_default_options();
        opt.aggregation = SL_AGG_FIRST;
        opt.max_tokens = 16; /* windows of 14 tokens: hundreds of thousands of them, little compute each */
        const double t0 = now();
        const long rss0 = max_rss_mb();
        sl_status s = sl_recognize(m, text, len, &opt, &e, &err);
        const double secs = now() - t0;
        const long grew = max_rss_mb() - rss0;
        CHECK(s == SL_OK, "%d MB of '%s': %s", LONG_MB, names[u], err.message);
        int inside = 1;
        for (size_t i = 0; i < e.n; i++) inside &= e.items[i].start < e.items[i].end && e.items[i].end <= len;
        CHECK(inside, "%d MB of '%s': an entity outside the text", LONG_MB, names[u]);
        /* a generous bound (the sanitizer build on a shared machine is ~10x slower): a quadratic pass over
           10 MB would take hours */
        CHECK(secs < 300, "%d MB of '%s': %.0f s", LONG_MB, names[u], secs);
        CHECK(grew < 2048, "%d MB of '%s': peak memory grew by %ld MB", LONG_MB, names[u], grew);
        printf("  %d MB of '%s': %zu entities in %.1f s, peak memory +%ld MB\n", LONG_MB, names[u], e.n, secs,
               grew);
        sl_entities_free(&e);
    }
    free(text);
}

/* JSON nested deeper than its limit (64) is refused at the limit, however deep it goes: the parser recurses,
   and a million levels would otherwise overflow the stack. */
static void deep_json(void) {
    const size_t deep = 1000000;
    char *text = malloc(2 * deep);
    for (size_t i = 0; i < deep; i++) text[i] = '[', text[2 * deep - 1 - i] = ']';
    sl_json *root = NULL;
    sl_error err;
    for (int k = 0; k < 2; k++) { /* arrays, then objects {"a":{"a":...}} */
        size_t len = 2 * deep;
        if (k) {
            len = 0;
            for (size_t i = 0; i < deep / 8; i++) memcpy(text + len, "{\"a\": ", 6), len += 6;
            text[len++] = '1';
            for (size_t i = 0; i < deep / 8; i++) text[len++] = '}';
        }
        sl_status s = sl_json_parse(text, len, "deep.json", &root, &err);
        CHECK(s == SL_ERR_FORMAT && strstr(err.message, "deep.json") && strstr(err.message, "64"),
              "%s nested deep: %s '%s'", k ? "objects" : "arrays", sl_status_name(s), err.message);
        printf("  %s\n", err.message);
        sl_json_free(root);
        root = NULL;
    }
    /* at the limit it parses, one past it does not */
    for (int depth = 63; depth <= 65; depth++) {
        for (int i = 0; i < depth; i++) text[i] = '[', text[2 * depth - 1 - i] = ']';
        sl_status s = sl_json_parse(text, (size_t)(2 * depth), "limit.json", &root, &err);
        CHECK((s == SL_OK) == (depth <= 64), "depth %d: %s", depth, s == SL_OK ? "parsed" : err.message);
        sl_json_free(root);
        root = NULL;
    }
    free(text);
}

/* A model without labels: the masked-language model of tests/fixtures/tiny-mlm-hf converts and loads (it is
   an encoder to fine-tune), and sl_recognize says it has no labels instead of running a head it lacks. */
static void zero_labels(void) {
    uint8_t *gguf;
    size_t size;
    sl_error err;
    sl_model *m = NULL;
    if (sl_convert_hf("tests/fixtures/tiny-mlm-hf", NULL, NULL, &gguf, &size, &err) != SL_OK ||
        sl_model_load_memory(gguf, size, "mlm.gguf", &m, &err) != SL_OK) {
        CHECK(0, "the masked-LM fixture: %s", err.message);
        return;
    }
    CHECK(sl_model_n_labels(m) == 0 && !sl_model_label(m, 0), "%d labels", sl_model_n_labels(m));
    sl_entities e = {0};
    const char text[] = "Emmanuel Macron est à Paris le 3 mars 2024.";
    sl_status s = sl_recognize(m, text, sizeof text - 1, NULL, &e, &err);
    CHECK(s == SL_ERR_UNSUPPORTED && strstr(err.message, "no token-classification head") && e.n == 0,
          "recognise: %s '%s', %zu entities", sl_status_name(s), err.message, e.n);
    printf("  0 labels: %s\n", err.message);
    sl_entities_free(&e);
    sl_model_free(m);
    free(gguf);
}

int main(void) {
    huge_declarations();
    huge_other_files();
    deep_json();
    zero_labels();
    uint8_t *gguf;
    size_t size;
    sl_error err;
    sl_model *m = NULL;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &gguf, &size, &err) != SL_OK ||
        sl_model_load_memory(gguf, size, "tiny", &m, &err) != SL_OK) {
        CHECK(0, "tiny-hf: %s", err.message);
    } else {
        long_word(m);
    }
    sl_model_free(m);
    free(gguf);
    return check_report("test_limits");
}
