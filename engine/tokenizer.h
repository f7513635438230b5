/* SentencePiece unigram tokenizer (CamemBERT's), with byte spans into the caller's original text.

   Ids are in the Hugging Face CamembertTokenizer layout (fairseq): 0 <s>NOTUSED, 1 <pad>, 2 </s>NOTUSED,
   3 <unk>, SentencePiece piece i -> i + 4 (an unknown piece is emitted as 3), <s> = 5, </s> = 6,
   <mask> = n_pieces + 4 (32004 for camembert-base).

   Pipeline: validate UTF-8 -> normalise with the model's precompiled charsmap (nmt_nfkc) while keeping,
   for every normalised byte, the original byte range it came from -> remove extra whitespace, add the
   dummy prefix, escape spaces as U+2581 -> Viterbi over the pieces (unigram scores) -> ids + spans. */
#ifndef SL_TOKENIZER_H
#define SL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gguf.h"

/* Piece types, as llama.cpp stores them in GGUF (tokenizer.ggml.token_type). */
enum { SL_TOK_NORMAL = 1, SL_TOK_UNKNOWN = 2, SL_TOK_CONTROL = 3, SL_TOK_USER_DEFINED = 4, SL_TOK_UNUSED = 5,
       SL_TOK_BYTE = 6 };

/* The vocabulary in id order, as stored in GGUF. Pointers are borrowed: sl_tokenizer_create copies. */
typedef struct {
    int n_tokens;
    const char *const *pieces; const size_t *piece_lens; /* UTF-8, U+2581 for spaces */
    const float *scores;
    const int32_t *types;
    const uint8_t *charsmap; size_t charsmap_len; /* SentencePiece precompiled_charsmap; may be empty */
    int32_t unk_id, bos_id, eos_id, pad_id, mask_id;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} sl_vocab;

/* A SentencePiece ModelProto (.model bytes) mapped to the CamemBERT id layout; owns its memory. */
typedef struct sl_spm_vocab sl_spm_vocab;
sl_status sl_spm_parse(const uint8_t *data, size_t size, const char *name, sl_spm_vocab **out, sl_error *err);
const sl_vocab *sl_spm_vocab_get(const sl_spm_vocab *v);
void sl_spm_vocab_free(sl_spm_vocab *v);

/* The vocabulary a GGUF model file stores (keys tokenizer.ggml.*: tokens, scores, token_type,
   precompiled_charsmap, the five special ids and the three normaliser flags), copied; checked as
   sl_spm_parse checks a .model. Errors name the key. */
sl_status sl_spm_vocab_from_gguf(const sl_gguf *g, sl_spm_vocab **out, sl_error *err);

/* The inverse of sl_spm_parse: a SentencePiece ModelProto (.model bytes, malloc'ed) of a vocabulary in the
   CamemBERT layout (fairseq ids 0-3, then the pieces, then <mask> last). It holds the pieces with their
   scores and types, a trainer_spec naming the model type (unigram) and the unk/bos/eos piece ids, and the
   normalizer_spec with the precompiled charsmap and the three flags; SentencePiece and sl_spm_parse read it
   back to the same pieces. A vocabulary in another layout fails with SL_ERR_FORMAT saying what differs. */
sl_status sl_spm_serialize(const sl_vocab *v, uint8_t **data, size_t *size, sl_error *err);

typedef struct sl_tokenizer sl_tokenizer;
sl_status sl_tokenizer_create(const sl_vocab *v, sl_tokenizer **out, sl_error *err);
/* The tokenizer of the vocabulary a GGUF model file stores (sl_spm_vocab_from_gguf): what a model loads. */
sl_status sl_tokenizer_from_gguf(const sl_gguf *g, sl_tokenizer **out, sl_error *err);
void sl_tokenizer_free(sl_tokenizer *t);
int sl_tokenizer_n_tokens(const sl_tokenizer *t);
const char *sl_tokenizer_piece(const sl_tokenizer *t, int32_t id, size_t *len);
/* The special ids of the vocabulary, -1 where it has none (the unknown id is always there; a model file has
   all five): the <s> and </s> that frame a sequence, the padding and the mask come from here. */
typedef struct {
    int32_t unk, bos, eos, pad, mask;
} sl_special_ids;
sl_special_ids sl_tokenizer_special_ids(const sl_tokenizer *t);

/* Tokens of one text, without <s> and </s>. Arrays grow as needed and are reused across calls. */
typedef struct {
    int n, cap;
    int32_t *ids;
    int32_t *start, *end;  /* byte span [start, end) in the original text; leading whitespace excluded */
    uint8_t *word_start;   /* 1 if the token begins a word (see sl_tokenize) */
    void *scratch;         /* private: normalised text and Viterbi buffers, reused across calls */
} sl_tokens;

/* Tokenises `len` bytes of UTF-8. Invalid UTF-8 fails with SL_ERR_UTF8 naming the byte offset; a text
   that is empty or only whitespace gives 0 tokens. Ids and spans equal SentencePiece's (0.1.97) Encode.
   Spans: [start, end) covers the original bytes the token was normalised from, minus the whitespace that
   became its leading U+2581; a token that is only U+2581 has the empty span at the start of the next
   character. Consecutive unknown characters are one token (id unk_id). Starts and ends never decrease; when
   one original character normalises into several tokens, all but the last of them have empty spans.
   word_start is 1 for the first token, a token preceded by whitespace, and at a boundary between
   punctuation and non-punctuation (Unicode P* and S* against the rest; so "Darmanin," is two words, as
   CoNLL tokenises it); a token that follows a lone U+2581 token continues the word that token began.
   The tokenizer is only read: several threads may tokenise with one tokenizer and their own sl_tokens. */
sl_status sl_tokenize(const sl_tokenizer *t, const char *text, size_t len, sl_tokens *out, sl_error *err);
void sl_tokens_free(sl_tokens *tk);

#endif
