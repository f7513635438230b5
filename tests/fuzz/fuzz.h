/* What the libFuzzer harnesses of tests/fuzz/ share: the entry point's declaration, a check that stops the
   run with a message (a finding, as a sanitizer report is), and the small vocabulary and model the
   model-reading harnesses and their seeds are made of.

   Each fuzz_<reader>.c defines LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize when it loads fixtures); it
   is linked two ways (tests/fuzz/CMakeLists.txt): with libFuzzer in the clang build (-DSURLIGNE_FUZZ=ON,
   tests/fuzz/run.sh), and with replay.c in every normal build, where ctest runs it on the kept inputs of
   tests/fuzz/regressions/<harness>/. Fixtures are found under SL_SOURCE_DIR, which the build defines. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tokenizer.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Set-up before the first input (loading fixtures), defined by the harnesses that need one: libFuzzer calls
   it once, outside the time limit of an input; so does replay.c. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken promise of a reader (an entity outside the text, a span going backwards): a finding. */
#define FUZZ_CHECK(cond, ...)                                                                                \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* Set-up that cannot fail without the fixtures being broken: stop with the reason. */
#define FUZZ_SETUP(ok, what, err)                                                                            \
    do {                                                                                                     \
        if (!(ok)) {                                                                                         \
            fprintf(stderr, "fuzz set-up: %s: %s\n", what, (err)->message);                                  \
            exit(2);                                                                                         \
        }                                                                                                    \
    } while (0)

/* The fixtures' CamemBERT vocabulary (tests/fixtures/tiny-hf/sentencepiece.bpe.model), parsed once. */
static inline const sl_spm_vocab *fuzz_fixture_vocab(void) {
    static sl_spm_vocab *v;
    if (!v) {
        sl_error err;
        uint8_t *bytes;
        size_t size;
        sl_status s = sl_read_file(SL_SOURCE_DIR "/tests/fixtures/tiny-hf/sentencepiece.bpe.model", &bytes,
                                   &size, &err);
        FUZZ_SETUP(s == SL_OK, "the fixture's SentencePiece model", &err);
        s = sl_spm_parse(bytes, size, "sentencepiece.bpe.model", &v, &err);
        free(bytes);
        FUZZ_SETUP(s == SL_OK, "the fixture's SentencePiece model", &err);
    }
    return v;
}

/* A small vocabulary in the CamemBERT layout: the fixture's first FUZZ_TINY_VOCAB - 1 ids (the fairseq
   ids, <unk>, <s>, </s> and the most frequent pieces) and <mask>; with the fixture's charsmap or none.
   Small enough that a model of it is a seed of a few tens of KB and loads in well under a millisecond. */
#define FUZZ_TINY_VOCAB 96
typedef struct {
    sl_vocab v;
    const char *pieces[FUZZ_TINY_VOCAB];
    size_t lens[FUZZ_TINY_VOCAB];
    float scores[FUZZ_TINY_VOCAB];
    int32_t types[FUZZ_TINY_VOCAB];
} fuzz_tiny_vocab;

static inline void fuzz_make_tiny_vocab(fuzz_tiny_vocab *t, int with_charsmap) {
    const sl_vocab *full = sl_spm_vocab_get(fuzz_fixture_vocab());
    const int n = FUZZ_TINY_VOCAB;
    for (int i = 0; i < n - 1; i++) {
        t->pieces[i] = full->pieces[i];
        t->lens[i] = full->piece_lens[i];
        t->scores[i] = full->scores[i];
        t->types[i] = full->types[i];
    }
    t->pieces[n - 1] = "<mask>";
    t->lens[n - 1] = 6;
    t->types[n - 1] = full->types[full->n_tokens - 1]; /* the fixture's <mask> */
    t->scores[n - 1] = full->scores[full->n_tokens - 1];
    t->v = *full;
    t->v.n_tokens = n;
    t->v.pieces = t->pieces;
    t->v.piece_lens = t->lens;
    t->v.scores = t->scores;
    t->v.types = t->types;
    t->v.mask_id = n - 1;
    if (!with_charsmap) t->v.charsmap = NULL, t->v.charsmap_len = 0;
}

/* The tiny model of the seeds: one layer, hidden 32 (a multiple of q8_0's block), two heads. */
static const char *const FUZZ_LABELS[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
enum { FUZZ_N_LABELS = 5, FUZZ_LAYERS = 1, FUZZ_HIDDEN = 32, FUZZ_HEADS = 2, FUZZ_FF = 32 };

#endif
