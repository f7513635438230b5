/* Masked-language-model data: raw text -> packed sequences of token ids -> masked inputs and labels.

   Packing is RoBERTa's FULL-SENTENCES as Hugging Face's run_mlm.py does it without --line_by_line: every
   non-empty line of the text becomes <s> tokens </s>, the lines of a source are concatenated in file order,
   and the stream is cut into blocks of `block` tokens (the remainder dropped), so no token is padding.
   Several sources (files or folders of .txt files) are mixed by weight; a fixed slice of each source's blocks
   (chosen by a hash of the block index, whatever the seed) is held out for validation.

   Masking is DataCollatorForLanguageModeling's: each non-special token is chosen with probability 0.15; a
   chosen token becomes <mask> with probability 0.8, a token drawn uniformly from the whole vocabulary with
   0.1, and stays itself with 0.1; its label is the original id, SL_IGNORE_LABEL (-100) elsewhere. With
   whole_word, a word (a token whose piece starts with U+2581, and the pieces that follow it) is chosen as a
   whole. Draws are hashes of (seed, sample, position): the same on every process and thread, and dynamic
   (a block seen again at another step gets other masks).

   Example:
       sl_mlm_corpus corpus;
       sl_mlm_corpus_init(&corpus, 128);
       sl_mlm_corpus_add(&corpus, "french-text/raw-eltec-fra", 1.0, tok, pool, &err);
       sl_mlm_corpus_split(&corpus, 0.005);
       sl_mlm_sampler smp;  sl_mlm_sampler_init(&smp, &corpus, seed);
       for each sample g: sl_mlm_sampler_next(&smp, &corpus, ids);  // then sl_mlm_mask(...)
*/
#ifndef SL_MLM_H
#define SL_MLM_H

#include <stdint.h>
#include "model.h"
#include "threads.h"
#include "train.h" /* SL_IGNORE_LABEL */

#define SL_MLM_MAX_SOURCES 16

typedef struct {
    char *name;         /* the path given */
    double weight;      /* share of the samples, normalised over the sources */
    int32_t *ids;       /* (n_ids) the source's token stream: <s> line </s> <s> line </s> ... */
    int64_t n_ids, n_lines, n_bytes;
    int64_t n_blocks;   /* n_ids / block */
    int64_t *train;     /* (n_train) block indices used for training */
    int64_t n_train;
    int64_t *valid;     /* (n_valid) held-out block indices */
    int64_t n_valid;
} sl_mlm_source;

typedef struct {
    int block; /* tokens per sequence */
    sl_mlm_source sources[SL_MLM_MAX_SOURCES];
    int n_sources;
} sl_mlm_corpus;

void sl_mlm_corpus_init(sl_mlm_corpus *c, int block);
/* Reads a UTF-8 text file, or every regular file ending in .txt of a folder (sorted by name, not recursive),
   and tokenises its lines (in parallel over the pool's threads). Invalid UTF-8 fails naming file:line. */
sl_status sl_mlm_corpus_add(sl_mlm_corpus *c, const char *path, double weight, const sl_tokenizer *tok,
                            sl_pool *pool, sl_error *err);
/* Holds out about `fraction` of each source's blocks (at least one when the source has two or more). */
sl_status sl_mlm_corpus_split(sl_mlm_corpus *c, double fraction, sl_error *err);
void sl_mlm_corpus_free(sl_mlm_corpus *c);
/* Block k of source s: block tokens. */
static inline const int32_t *sl_mlm_block(const sl_mlm_corpus *c, int s, int64_t k) {
    return c->sources[s].ids + k * c->block;
}

/* The order of training samples: sample g comes from a source drawn by weight (a hash of seed and g), and
   is that source's next block in a seeded permutation of its training blocks (a new permutation each pass).
   The state is the count of blocks taken from each source: save it to resume. */
typedef struct {
    uint64_t seed;
    int64_t taken[SL_MLM_MAX_SOURCES];
    int64_t *perm[SL_MLM_MAX_SOURCES]; /* the current pass's permutation of each source's training blocks */
    int64_t perm_pass[SL_MLM_MAX_SOURCES];
} sl_mlm_sampler;

sl_status sl_mlm_sampler_init(sl_mlm_sampler *s, const sl_mlm_corpus *c, uint64_t seed, sl_error *err);
void sl_mlm_sampler_free(sl_mlm_sampler *s);
/* Sample g (0, 1, 2, ... in order; g picks the source): copies its block tokens into ids; returns the source. */
int sl_mlm_sampler_next(sl_mlm_sampler *s, const sl_mlm_corpus *c, uint64_t g, int32_t *ids);

/* ---- masking ------------------------------------------------------------------------------------ */

enum { SL_MLM_CONTINUATION = 0, SL_MLM_WORD_START = 1, SL_MLM_SPECIAL = 2 };

typedef struct {
    double probability;   /* 0.15 */
    double mask_fraction; /* 0.8: of the chosen tokens, those that become <mask> */
    double random_fraction; /* 0.1: those that become a random token (the rest stay) */
    int whole_word;
    int32_t mask_id;
    int n_vocab;
    const uint8_t *kinds; /* (n_vocab) SL_MLM_* of each id */
} sl_mlm_masking;

/* The kind of every token id of a model's vocabulary: special (a piece type other than normal, and <mask>),
   word start (piece begins with U+2581) or continuation; malloc'ed. Also fills m's vocabulary fields with
   HF's defaults (0.15, 0.8, 0.1). */
sl_status sl_mlm_masking_init(sl_mlm_masking *m, const sl_model *model, uint8_t **kinds, sl_error *err);

/* Masks ids (n) with the draws of `seed` (e.g. a hash of run seed, step and global row): inputs (n) and
   labels (n). Returns the number of masked tokens. */
int sl_mlm_mask(const sl_mlm_masking *m, const int32_t *ids, int n, uint64_t seed, int32_t *inputs, int32_t *labels);

#endif
