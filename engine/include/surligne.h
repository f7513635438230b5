/* surligne.h — French named-entity recognition with a CamemBERT encoder, in C.

   One C library, two builds: native (training, conversion, command line) and WebAssembly (the browser).
   A model is one GGUF file holding the config, the labels, the SentencePiece vocabulary and the tensors.

   Example (a whole program; tests/install/run.sh builds it against the installed library with
   `cc example.c $(pkg-config --cflags --libs surligne)` and runs it on the default model):

       #include <stdio.h>
       #include <string.h>
       #include <surligne.h>

       int main(int argc, char **argv) {
           const char *path = argc > 1 ? argv[1] : "weights/surligne-small-fr.gguf";
           sl_error err;
           sl_model *m = NULL;
           if (sl_model_load_file(path, &m, &err) != SL_OK) {
               fprintf(stderr, "%s\n", err.message);
               return 1;
           }
           sl_options opt = sl_default_options();
           opt.aggregation = SL_AGG_FIRST;
           sl_entities ents = {0};
           const char *text = "Gérald Darmanin a rendu visite à Nicolas Sarkozy le 3 mars 2024.";
           int rc = sl_recognize(m, text, strlen(text), &opt, &ents, &err) == SL_OK ? 0 : 1;
           if (rc) fprintf(stderr, "%s\n", err.message);
           // prints "PER 1.000 Gérald Darmanin", "PER 1.000 Nicolas Sarkozy", "DATE 1.000 le 3 mars 2024 2024-03-03"
           for (size_t i = 0; i < ents.n; i++)
               printf("%s %.3f %.*s %s\n", ents.items[i].label, ents.items[i].score,
                      (int)(ents.items[i].end - ents.items[i].start), text + ents.items[i].start,
                      ents.items[i].value);
           sl_entities_free(&ents);
           sl_model_free(m);
           return rc;
       }

   Offsets are byte offsets into the caller's original UTF-8 text, never into normalised text.
   Errors travel as values: every fallible call returns an sl_status and fills an sl_error whose message
   names the file, the field, the line or the byte position that was wrong; `err` may be NULL (the status
   alone then says what went wrong). No call exits or aborts: NULL pointers, bad options and bad bytes are
   errors. (The library keeps two assert()s, on invariants that model loading establishes and no argument
   can break: the q8_0 products are given weights packed at load time for the kernel that runs them.)
   Strings the model gives out (sl_model_label, sl_entity.label) belong to the model: they stay valid until
   sl_model_free, also in entities kept after other calls.
   Threads: a loaded model is read-only and can be shared by threads, each recognising with a context of its
   own (sl_context_create, sl_context_recognize); sl_recognize uses the model's own context, one call at a
   time.
*/
#ifndef SURLIGNE_H
#define SURLIGNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public API: the library is built with -fvisibility=hidden, so these are the only symbols the
   shared library exports (and the only global ones of the installed static library). */
#if defined(__GNUC__) || defined(__clang__)
#define SL_API __attribute__((visibility("default")))
#else
#define SL_API
#endif

/* Status codes. Values are only ever appended. */
typedef enum {
    SL_OK = 0,
    SL_ERR_IO = 1,          /* a file could not be opened, read or written */
    SL_ERR_FORMAT = 2,      /* malformed bytes: GGUF, safetensors, SentencePiece, JSON, CoNLL */
    SL_ERR_UNSUPPORTED = 3, /* well formed but not supported: architecture, dtype, option */
    SL_ERR_SHAPE = 4,       /* a tensor's shape or type does not match the config */
    SL_ERR_ARGUMENT = 5,    /* a caller passed an invalid argument */
    SL_ERR_UTF8 = 6,        /* the text is not valid UTF-8 */
    SL_ERR_MEMORY = 7,      /* an allocation failed */
} sl_status;

typedef struct {
    sl_status status;
    char message[512];
} sl_error;

SL_API const char *sl_status_name(sl_status s);

/* ---- model ---------------------------------------------------------------------------------- */

typedef struct sl_model sl_model;

/* Reads a GGUF model file. */
SL_API sl_status sl_model_load_file(const char *path, sl_model **out, sl_error *err);
/* Uses `size` bytes of GGUF in memory; tensors are used in place, so `data` must outlive the model.
   `name` is used in error messages (a file name or URL). */
SL_API sl_status sl_model_load_memory(const void *data, size_t size, const char *name, sl_model **out,
                                      sl_error *err);
/* sl_model_load_memory for bytes the model may rewrite: the q8_0 weights are packed over their own bytes
   instead of into a copy (half the memory), so the bytes are no longer that GGUF file afterwards (nor after a
   failure). They must outlive the model. sl_model_load_file and the WebAssembly build load this way. */
SL_API sl_status sl_model_load_writable(void *data, size_t size, const char *name, sl_model **out,
                                        sl_error *err);
SL_API void sl_model_free(sl_model *m);

SL_API int sl_model_n_labels(const sl_model *m);
/* id2label[i], e.g. "B-PER"; NULL out of range; valid until sl_model_free(m) */
SL_API const char *sl_model_label(const sl_model *m, int i);
SL_API int sl_model_max_tokens(const sl_model *m); /* longest window, specials included */
/* The entity types sl_recognize gives (with an aggregation other than SL_AGG_NONE): the model's, its labels
   without their B-/I-/E-/S- prefixes in order of first appearance ("PER", "ORG", ...), then the rule
   recogniser's "DATE", "TIME", "MONEY", "PERCENT" that the model lacks. sl_model_type: NULL out of range;
   valid until sl_model_free(m). */
SL_API int sl_model_n_types(const sl_model *m);
SL_API const char *sl_model_type(const sl_model *m, int i);

/* The name of the q8_0 matrix-product kernel this processor runs ("avx512vnni", "avx2", "wasm-relaxed",
   "wasm-simd128", "scalar"), for reports and benchmarks. */
SL_API const char *sl_q8_kernel_name(void);
/* Makes the products run the kernel of that name instead: one this processor runs, or "scalar-u7", the
   relaxed-SIMD kernel's 7-bit arithmetic in C (natively, the numbers Chromium's engine computes). NULL goes
   back to the fastest. Call it before loading a model (weights are packed for the kernel at load time) and
   before any other thread runs a product. Returns 0, or -1 for a name this processor cannot run (nothing
   changes then). */
SL_API int sl_q8_kernel_select(const char *name);

/* ---- recognition ---------------------------------------------------------------------------- */

/* The Hugging Face token-classification pipeline's aggregation strategies. */
typedef enum {
    SL_AGG_NONE = 0,    /* one entity per token, label as in the model ("B-PER") */
    SL_AGG_SIMPLE = 1,  /* adjacent tokens grouped by B-/I- tags */
    SL_AGG_FIRST = 2,   /* a word takes the label of its first token */
    SL_AGG_AVERAGE = 3, /* a word takes the label of its averaged scores */
    SL_AGG_MAX = 4,     /* a word takes the label of its highest-scoring token */
} sl_aggregation;

/* How the words' labels are read from their scores (aggregations first, average and max). */
typedef enum {
    SL_DECODE_VITERBI = 0, /* the most probable sequence of labels the label set's scheme allows (no I-ORG
                              after B-PER or O); the words' scores as with argmax */
    SL_DECODE_ARGMAX = 1,  /* each word its own best label, as the Hugging Face pipeline */
} sl_decoding;

typedef struct {
    sl_aggregation aggregation;
    float threshold; /* entities scoring below are dropped (0 keeps all) */
    int max_tokens;  /* window length including <s> and </s>; 0 = the model's maximum */
    int stride;      /* tokens shared by consecutive windows of a long text; 0 (default) = automatic: 128,
                        or a quarter of the window where that is less */
    int n_threads;   /* 0 = 1 */
    int keep_punctuation; /* 1: spans as the HF pipeline makes them ("Sarkozy."); 0: punctuation at the
                             edges of an entity trimmed ("Sarkozy") */
    int dates; /* 1 (default): dates, times, amounts and percentages (DATE, TIME, MONEY, PERCENT) from the
                  rule recogniser, merged with the model's entities; where the two overlap, a model entity
                  holding the rule's whole and more than prepositions wins ("Mai 68" as an event), else
                  the rule's does ("en 2015" as a place loses to the date "2015"). 0: the model's entities
                  only */
    sl_decoding decoding; /* SL_DECODE_VITERBI (default); SL_DECODE_ARGMAX gives the HF pipeline's labels */
} sl_options;

SL_API sl_options sl_default_options(void);

typedef struct {
    const char *label; /* entity group ("PER") or, with SL_AGG_NONE, the token label ("B-PER"); the rule
                          recogniser's "DATE", "TIME", "MONEY", "PERCENT". Not a copy: a model's label lives
                          as long as the model (until sl_model_free), the rule recogniser's forever */
    float score;       /* the rule recogniser's entities score 1 */
    size_t start, end; /* byte offsets into the original text: text[start, end) */
    char value[32];    /* the normalised value of a rule entity, "" when none (model entities; relative or
                          vague dates): DATE ISO 8601 ("1789-07-14", "2024-03", "1998", "--07-14" without a
                          year, "2026-06-03/2026-06-07" for a range), TIME "HH:MM", MONEY "<amount> <ISO 4217>"
                          ("12000000 EUR"), PERCENT the number ("7.1") */
} sl_entity;

typedef struct {
    sl_entity *items;
    size_t n, cap;
} sl_entities;

/* Appends the entities of `text` (UTF-8, `len` bytes) to `out`, in text order, with the model's own
   context: calls on one model must not overlap (see sl_context for several threads). */
SL_API sl_status sl_recognize(sl_model *m, const char *text, size_t len, const sl_options *opt,
                              sl_entities *out, sl_error *err);
SL_API void sl_entities_free(sl_entities *e);

/* One entity as a JSON object, the same field names as sl_entity's (the command line and the JavaScript API
   use them too): {"label":"PER","score":0.999234259,"text":"Gérald Darmanin","start":0,"end":16}, and
   "value":"2024-03-03" where the entity has one. "text" is text[start, end) of the recognised `text`, left
   out when text is NULL. Strings are escaped as Python's json.dumps does; the score has 9 significant digits
   (the float's exact value). Like snprintf: writes at most `cap` bytes into buf (0-terminated when cap > 0;
   buf may be NULL when cap is 0) and returns the length of the whole object; 0 when e is NULL. */
SL_API size_t sl_entity_json(const sl_entity *e, const char *text, char *buf, size_t cap);

/* ---- contexts: one model, several threads ----------------------------------------------------- */

/* A loaded model is read-only. What recognising writes (activations, scratch buffers, the thread pool of
   opt->n_threads) lives in a context: sl_recognize uses the one each model has, and a program that shares
   one model between threads gives each thread a context of its own (whisper.cpp's context/state):

       sl_context *ctx;                                  // in each thread
       if (sl_context_create(m, &ctx, &err) == SL_OK) {
           sl_context_recognize(ctx, text, len, &opt, &ents, &err);
           sl_context_free(ctx);
       }

   A context is used by one thread at a time and freed before its model; sl_recognize(m, ...), which uses the
   model's own context, may run meanwhile in one other thread. A context allocates when it first meets a
   longer text, then reuses its buffers. */
typedef struct sl_context sl_context;
SL_API sl_status sl_context_create(const sl_model *m, sl_context **out, sl_error *err);
SL_API void sl_context_free(sl_context *ctx);
/* sl_recognize with this context's buffers and threads */
SL_API sl_status sl_context_recognize(sl_context *ctx, const char *text, size_t len, const sl_options *opt,
                                      sl_entities *out, sl_error *err);

/* Appends the dates, times, amounts and percentages of `text` (UTF-8, `len` bytes; invalid bytes are
   skipped, never an error) to `out`, in text order, without a model: what sl_recognize merges in when
   opt->dates is set. */
SL_API sl_status sl_recognize_dates(const char *text, size_t len, sl_entities *out, sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
