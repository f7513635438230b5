/* SentencePiece ModelProto (.model files) read and written by hand, mapped to CamemBERT's fairseq id
   layout; and the same vocabulary as a GGUF model file stores it.

   A .model file is one protobuf message (proto2). Only three wire types occur in it: varint (0),
   length-delimited (2) and fixed32 (5); fixed64 (1) is skipped if met, groups (3, 4) are an error.
   The fields we read (numbers from sentencepiece_model.proto):

       ModelProto     1 pieces (repeated SentencePiece)  2 trainer_spec  3 normalizer_spec
       SentencePiece  1 piece (string)  2 score (float)  3 type (enum, default NORMAL)
       TrainerSpec    3 model_type (UNIGRAM = 1, the default)  24 treat_whitespace_as_suffix
                      35 byte_fallback  40 unk_id  41 bos_id  42 eos_id
       NormalizerSpec 1 name  2 precompiled_charsmap  3 add_dummy_prefix  4 remove_extra_whitespaces
                      5 escape_whitespaces (the three flags default to true)

   Every read is bounds-checked; a malformed file gives SL_ERR_FORMAT naming the file, the field and the
   byte offset. Both specs are required (SentencePiece's trainer always writes them, after the pieces):
   a file cut at a field boundary is otherwise well-formed protobuf. A parsed vocabulary is also handed once
   to sl_tokenizer_create, so a file that parses is a file that tokenises (the charsmap trie and the pieces
   are checked there).

   The writer (sl_spm_serialize) writes the pieces, then a trainer_spec with model_type, vocab_size and the
   unk/bos/eos ids, then the normalizer_spec; fields as SentencePiece's trainer writes them (a piece's type
   only when it is not NORMAL), so the pieces of a .model come out byte for byte as they went in. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Model types of TrainerSpec.model_type; only the unigram model is implemented. */
enum { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

/* The fairseq ids CamembertTokenizer puts before the SentencePiece pieces, and after them <mask>. */
#define FAIRSEQ_OFFSET 4
static const char *const FAIRSEQ_HEAD[FAIRSEQ_OFFSET] = {"<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>"};
static const int32_t FAIRSEQ_HEAD_TYPES[FAIRSEQ_OFFSET] = {SL_TOK_CONTROL, SL_TOK_CONTROL, SL_TOK_CONTROL,
                                                           SL_TOK_UNKNOWN};

struct sl_spm_vocab {
    sl_vocab v; /* points into the arrays below */
    char *text; /* piece bytes, each followed by a 0 */
    const char **pieces;
    size_t *piece_lens;
    float *scores;
    int32_t *types;
    uint8_t *charsmap;
};

/* ---- protobuf wire format ------------------------------------------------------------------------------ */

/* A message being read: bytes [pos, end) of the file. */
typedef struct {
    const uint8_t *data;
    size_t pos, end;
    const char *name; /* file name, for messages */
} pb_reader;

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static sl_status pb_error(const pb_reader *r, size_t at, sl_error *err, const char *field, const char *what) {
    return sl_fail(err, SL_ERR_FORMAT, "%s: %s: %s at byte %zu (truncated, or not a SentencePiece model)",
                   r->name, field, what, at);
}

/* At most 10 bytes, 7 bits each, least significant group first. */
static sl_status pb_varint(pb_reader *r, uint64_t *v, sl_error *err, const char *field) {
    uint64_t x = 0;
    size_t at = r->pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->pos >= r->end) return pb_error(r, at, err, field, "truncated varint");
        uint8_t b = r->data[r->pos++];
        if (shift == 63 && b > 1) return pb_error(r, at, err, field, "varint overflows 64 bits");
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return SL_OK;
        }
    }
    return pb_error(r, at, err, field, "varint longer than 10 bytes");
}

/* The next field's number and wire type; *done when the message ends. */
static sl_status pb_key(pb_reader *r, uint32_t *field, int *wire, bool *done, sl_error *err,
                        const char *msg) {
    *done = r->pos >= r->end;
    if (*done) return SL_OK;
    size_t at = r->pos;
    uint64_t key = 0;
    sl_status s = pb_varint(r, &key, err, msg);
    if (s) return s;
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return pb_error(r, at, err, msg, "field number 0 or too large");
    return SL_OK;
}

/* A length-delimited value: its bytes as a sub-reader. */
static sl_status pb_len(pb_reader *r, pb_reader *sub, sl_error *err, const char *field) {
    size_t at = r->pos;
    uint64_t n = 0;
    sl_status s = pb_varint(r, &n, err, field);
    if (s) return s;
    if (n > r->end - r->pos) return pb_error(r, at, err, field, "length runs past the end of its message");
    *sub = (pb_reader){r->data, r->pos, r->pos + (size_t)n, r->name};
    r->pos += (size_t)n;
    return SL_OK;
}

static sl_status pb_fixed32(pb_reader *r, uint32_t *v, sl_error *err, const char *field) {
    if (r->end - r->pos < 4) return pb_error(r, r->pos, err, field, "truncated fixed32");
    const uint8_t *p = r->data + r->pos;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    return SL_OK;
}

/* Skips the value of a field we do not read. */
static sl_status pb_skip(pb_reader *r, int wire, sl_error *err, const char *field) {
    uint64_t v;
    uint32_t u;
    pb_reader sub;
    switch (wire) {
    case WIRE_VARINT:
        return pb_varint(r, &v, err, field);
    case WIRE_FIXED32:
        return pb_fixed32(r, &u, err, field);
    case WIRE_LEN:
        return pb_len(r, &sub, err, field);
    case WIRE_FIXED64:
        if (r->end - r->pos < 8) return pb_error(r, r->pos, err, field, "truncated fixed64");
        r->pos += 8;
        return SL_OK;
    }
    return pb_error(r, r->pos, err, field, "has an unknown or group wire type");
}

/* Checks a known field's wire type before reading it. */
static sl_status pb_expect(const pb_reader *r, size_t at, int wire, int want, sl_error *err,
                           const char *field) {
    if (wire == want) return SL_OK;
    return pb_error(r, at, err, field, "has the wrong wire type");
}

/* ---- the messages we read ------------------------------------------------------------------------------ */

typedef struct {
    pb_reader piece; /* the piece's bytes */
    float score;
    int32_t type;
} spm_piece;

static sl_status read_piece(pb_reader *r, int index, spm_piece *out, sl_error *err) {
    char field[64];
    out->piece = (pb_reader){r->data, r->pos, r->pos, r->name};
    out->score = 0.0f;
    out->type = SL_TOK_NORMAL;
    bool has_piece = false;
    for (;;) {
        uint32_t f;
        int wire;
        bool done;
        size_t at = r->pos;
        snprintf(field, sizeof field, "pieces[%d]", index);
        sl_status s = pb_key(r, &f, &wire, &done, err, field);
        if (s) return s;
        if (done) break;
        uint64_t v = 0;
        uint32_t u = 0;
        if (f == 1) {
            snprintf(field, sizeof field, "pieces[%d].piece", index);
            if ((s = pb_expect(r, at, wire, WIRE_LEN, err, field)) ||
                (s = pb_len(r, &out->piece, err, field)))
                return s;
            has_piece = true;
        } else if (f == 2) {
            snprintf(field, sizeof field, "pieces[%d].score", index);
            if ((s = pb_expect(r, at, wire, WIRE_FIXED32, err, field)) || (s = pb_fixed32(r, &u, err, field)))
                return s;
            memcpy(&out->score, &u, sizeof u);
        } else if (f == 3) {
            snprintf(field, sizeof field, "pieces[%d].type", index);
            if ((s = pb_expect(r, at, wire, WIRE_VARINT, err, field)) || (s = pb_varint(r, &v, err, field)))
                return s;
            if (v < SL_TOK_NORMAL || v > SL_TOK_BYTE)
                return sl_fail(err, SL_ERR_FORMAT, "%s: %s = %llu at byte %zu is not a piece type (1..6)",
                               r->name, field, (unsigned long long)v, at);
            out->type = (int32_t)v;
        } else if ((s = pb_skip(r, wire, err, field))) {
            return s;
        }
    }
    size_t n = out->piece.end - out->piece.pos;
    if (!has_piece || n == 0)
        return sl_fail(err, SL_ERR_FORMAT, "%s: pieces[%d] (byte %zu) has an empty piece", r->name, index,
                       r->pos);
    if (memchr(r->data + out->piece.pos, 0, n))
        return sl_fail(err, SL_ERR_FORMAT, "%s: pieces[%d].piece contains a 0 byte", r->name, index);
    if (out->score != out->score || out->score > 1e30f || out->score < -1e30f)
        return sl_fail(err, SL_ERR_FORMAT, "%s: pieces[%d].score is not a finite number", r->name, index);
    return SL_OK;
}

typedef struct {
    uint64_t model_type;
    bool byte_fallback, whitespace_suffix;
    int64_t unk_id, bos_id, eos_id;
} spm_trainer;

static sl_status read_trainer(pb_reader *r, spm_trainer *t, sl_error *err) {
    *t = (spm_trainer){.model_type = SPM_UNIGRAM, .unk_id = 0, .bos_id = 1, .eos_id = 2};
    for (;;) {
        uint32_t f;
        int wire;
        bool done;
        size_t at = r->pos;
        sl_status s = pb_key(r, &f, &wire, &done, err, "trainer_spec");
        if (s) return s;
        if (done) return SL_OK;
        const char *name = f == 3    ? "trainer_spec.model_type"
                           : f == 24 ? "trainer_spec.treat_whitespace_as_suffix"
                           : f == 35 ? "trainer_spec.byte_fallback"
                           : f == 40 ? "trainer_spec.unk_id"
                           : f == 41 ? "trainer_spec.bos_id"
                           : f == 42 ? "trainer_spec.eos_id"
                                     : NULL;
        if (!name) {
            if ((s = pb_skip(r, wire, err, "trainer_spec"))) return s;
            continue;
        }
        uint64_t v = 0;
        if ((s = pb_expect(r, at, wire, WIRE_VARINT, err, name)) || (s = pb_varint(r, &v, err, name)))
            return s;
        switch (f) {
        case 3:
            t->model_type = v;
            break;
        case 24:
            t->whitespace_suffix = v != 0;
            break;
        case 35:
            t->byte_fallback = v != 0;
            break;
        /* int32 fields: negative values are sign-extended to 64 bits on the wire */
        case 40:
            t->unk_id = (int64_t)(int32_t)v;
            break;
        case 41:
            t->bos_id = (int64_t)(int32_t)v;
            break;
        case 42:
            t->eos_id = (int64_t)(int32_t)v;
            break;
        }
    }
}

static sl_status read_normalizer(pb_reader *r, sl_vocab *v, pb_reader *charsmap, sl_error *err) {
    for (;;) {
        uint32_t f;
        int wire;
        bool done;
        size_t at = r->pos;
        sl_status s = pb_key(r, &f, &wire, &done, err, "normalizer_spec");
        if (s) return s;
        if (done) return SL_OK;
        uint64_t x;
        pb_reader sub;
        switch (f) {
        case 1: /* name ("nmt_nfkc"): informative only, the charsmap is the rule */
            if ((s = pb_expect(r, at, wire, WIRE_LEN, err, "normalizer_spec.name")) ||
                (s = pb_len(r, &sub, err, "normalizer_spec.name")))
                return s;
            break;
        case 2:
            if ((s = pb_expect(r, at, wire, WIRE_LEN, err, "normalizer_spec.precompiled_charsmap")) ||
                (s = pb_len(r, charsmap, err, "normalizer_spec.precompiled_charsmap")))
                return s;
            break;
        case 3:
        case 4:
        case 5: {
            const char *name = f == 3   ? "normalizer_spec.add_dummy_prefix"
                               : f == 4 ? "normalizer_spec.remove_extra_whitespaces"
                                        : "normalizer_spec.escape_whitespaces";
            if ((s = pb_expect(r, at, wire, WIRE_VARINT, err, name)) || (s = pb_varint(r, &x, err, name)))
                return s;
            bool *dst = f == 3   ? &v->add_dummy_prefix
                        : f == 4 ? &v->remove_extra_whitespaces
                                 : &v->escape_whitespaces;
            *dst = x != 0;
            break;
        }
        default:
            if ((s = pb_skip(r, wire, err, "normalizer_spec"))) return s;
        }
    }
}

/* ---- ModelProto ---------------------------------------------------------------------------------------- */

void sl_spm_vocab_free(sl_spm_vocab *sv) {
    if (!sv) return;
    free(sv->text);
    free(sv->pieces);
    free(sv->piece_lens);
    free(sv->scores);
    free(sv->types);
    free(sv->charsmap);
    free(sv);
}

const sl_vocab *sl_spm_vocab_get(const sl_spm_vocab *sv) {
    return &sv->v;
}

static sl_status parse(const uint8_t *data, size_t size, const char *name, sl_spm_vocab *sv, sl_error *err) {
    sl_status s;
    pb_reader top = {data, 0, size, name};
    /* First pass: count the pieces and their bytes, read the two specs. */
    size_t n_pieces = 0, text_bytes = 0;
    spm_trainer trainer = {.model_type = SPM_UNIGRAM, .unk_id = 0, .bos_id = 1, .eos_id = 2};
    pb_reader charsmap = {data, 0, 0, name};
    bool has_trainer = false, has_normalizer = false;
    sl_vocab *v = &sv->v;
    v->add_dummy_prefix = v->remove_extra_whitespaces = v->escape_whitespaces = true;
    for (;;) {
        uint32_t f;
        int wire;
        bool done;
        size_t at = top.pos;
        if ((s = pb_key(&top, &f, &wire, &done, err, "ModelProto"))) return s;
        if (done) break;
        pb_reader sub;
        if (f == 1) {
            char field[32];
            snprintf(field, sizeof field, "pieces[%zu]", n_pieces);
            if ((s = pb_expect(&top, at, wire, WIRE_LEN, err, field)) || (s = pb_len(&top, &sub, err, field)))
                return s;
            spm_piece p;
            if (n_pieces >= (size_t)INT32_MAX - 16)
                return sl_fail(err, SL_ERR_FORMAT, "%s: too many pieces", name);
            if ((s = read_piece(&sub, (int)n_pieces, &p, err))) return s;
            n_pieces++;
            text_bytes += p.piece.end - p.piece.pos + 1;
        } else if (f == 2) {
            if ((s = pb_expect(&top, at, wire, WIRE_LEN, err, "trainer_spec")) ||
                (s = pb_len(&top, &sub, err, "trainer_spec")) || (s = read_trainer(&sub, &trainer, err)))
                return s;
            has_trainer = true;
        } else if (f == 3) {
            if ((s = pb_expect(&top, at, wire, WIRE_LEN, err, "normalizer_spec")) ||
                (s = pb_len(&top, &sub, err, "normalizer_spec")) ||
                (s = read_normalizer(&sub, v, &charsmap, err)))
                return s;
            has_normalizer = true;
        } else if ((s = pb_skip(&top, wire, err, "ModelProto"))) {
            return s;
        }
    }
    if (n_pieces == 0) return sl_fail(err, SL_ERR_FORMAT, "%s: no pieces: not a SentencePiece model", name);
    /* SentencePiece's trainer always writes both specs after the pieces; without them the file was most
       likely cut at a field boundary, which the wire format alone cannot tell. */
    if (!has_trainer || !has_normalizer)
        return sl_fail(err, SL_ERR_FORMAT,
                       "%s: no %s after %zu pieces (byte %zu): truncated or not a SentencePiece model", name,
                       has_trainer ? "normalizer_spec" : "trainer_spec", n_pieces, size);
    if (trainer.model_type != SPM_UNIGRAM) {
        const char *kind = trainer.model_type == SPM_BPE    ? "BPE"
                           : trainer.model_type == SPM_WORD ? "WORD"
                           : trainer.model_type == SPM_CHAR ? "CHAR"
                                                            : "unknown";
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: trainer_spec.model_type is %s (%llu); only UNIGRAM is supported", name, kind,
                       (unsigned long long)trainer.model_type);
    }
    if (trainer.byte_fallback)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: trainer_spec.byte_fallback is not supported", name);
    if (trainer.whitespace_suffix)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: trainer_spec.treat_whitespace_as_suffix is not supported", name);
    const int64_t n = (int64_t)n_pieces;
    if (trainer.bos_id < 0 || trainer.bos_id >= n || trainer.eos_id < 0 || trainer.eos_id >= n)
        return sl_fail(err, SL_ERR_FORMAT,
                       "%s: trainer_spec bos_id %lld / eos_id %lld are not piece ids (< %lld)", name,
                       (long long)trainer.bos_id, (long long)trainer.eos_id, (long long)n);

    /* Second pass: copy the pieces into the fairseq layout. */
    const size_t n_ids = n_pieces + FAIRSEQ_OFFSET + 1;
    for (int i = 0; i < FAIRSEQ_OFFSET; i++) text_bytes += strlen(FAIRSEQ_HEAD[i]) + 1;
    text_bytes += sizeof "<mask>";
    sv->text = malloc(text_bytes);
    sv->pieces = malloc(n_ids * sizeof *sv->pieces);
    sv->piece_lens = malloc(n_ids * sizeof *sv->piece_lens);
    sv->scores = malloc(n_ids * sizeof *sv->scores);
    sv->types = malloc(n_ids * sizeof *sv->types);
    sv->charsmap = malloc(charsmap.end - charsmap.pos + 1);
    if (!sv->text || !sv->pieces || !sv->piece_lens || !sv->scores || !sv->types || !sv->charsmap)
        return sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu pieces", name, n_pieces);
    char *t = sv->text;
    size_t id = 0;
#define ADD_PIECE(bytes, len, score, type)                                                                   \
    do {                                                                                                     \
        memcpy(t, bytes, len);                                                                               \
        t[len] = 0;                                                                                          \
        sv->pieces[id] = t;                                                                                  \
        sv->piece_lens[id] = len;                                                                            \
        sv->scores[id] = score;                                                                              \
        sv->types[id] = type;                                                                                \
        t += (len) + 1;                                                                                      \
        id++;                                                                                                \
    } while (0)
    for (int i = 0; i < FAIRSEQ_OFFSET; i++)
        ADD_PIECE(FAIRSEQ_HEAD[i], strlen(FAIRSEQ_HEAD[i]), 0.0f, FAIRSEQ_HEAD_TYPES[i]);
    top = (pb_reader){data, 0, size, name};
    size_t k = 0;
    bool has_unknown = false;
    for (;;) {
        uint32_t f;
        int wire;
        bool done;
        if ((s = pb_key(&top, &f, &wire, &done, err, "ModelProto"))) return s;
        if (done) break;
        pb_reader sub;
        if (f != 1) {
            if ((s = pb_skip(&top, wire, err, "ModelProto"))) return s;
            continue;
        }
        spm_piece p;
        if ((s = pb_len(&top, &sub, err, "pieces")) || (s = read_piece(&sub, (int)k, &p, err))) return s;
        size_t len = p.piece.end - p.piece.pos;
        ADD_PIECE(data + p.piece.pos, len, p.score, p.type);
        has_unknown |= p.type == SL_TOK_UNKNOWN;
        k++;
    }
    ADD_PIECE("<mask>", sizeof "<mask>" - 1, 0.0f, SL_TOK_CONTROL);
#undef ADD_PIECE
    if (!has_unknown) return sl_fail(err, SL_ERR_FORMAT, "%s: no piece has the type UNKNOWN", name);
    memcpy(sv->charsmap, data + charsmap.pos, charsmap.end - charsmap.pos);
    v->n_tokens = (int)n_ids;
    v->pieces = sv->pieces;
    v->piece_lens = sv->piece_lens;
    v->scores = sv->scores;
    v->types = sv->types;
    v->charsmap = sv->charsmap;
    v->charsmap_len = charsmap.end - charsmap.pos;
    v->unk_id = 3;
    v->pad_id = 1;
    v->bos_id = (int32_t)trainer.bos_id + FAIRSEQ_OFFSET;
    v->eos_id = (int32_t)trainer.eos_id + FAIRSEQ_OFFSET;
    v->mask_id = (int32_t)(n_pieces + FAIRSEQ_OFFSET);
    return SL_OK;
}

sl_status sl_spm_parse(const uint8_t *data, size_t size, const char *name, sl_spm_vocab **out,
                       sl_error *err) {
    *out = NULL;
    if (!name) name = "sentencepiece model";
    if (!data && size) return sl_fail(err, SL_ERR_ARGUMENT, "%s: no data", name);
    sl_spm_vocab *sv = calloc(1, sizeof *sv);
    if (!sv) return sl_fail(err, SL_ERR_MEMORY, "%s: no memory", name);
    sl_status s = parse(data, size, name, sv, err);
    if (!s) {
        /* Build a tokenizer once, so the charsmap and duplicate pieces are checked now, not at first use. */
        sl_tokenizer *t = NULL;
        s = sl_tokenizer_create(&sv->v, &t, err);
        sl_tokenizer_free(t);
        if (s) sl_fail_context(err, "%s", name);
    }
    if (s) {
        sl_spm_vocab_free(sv);
        return s;
    }
    *out = sv;
    return SL_OK;
}

/* ---- the vocabulary of a GGUF file --------------------------------------------------------------------- */

#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TOKTYPES "tokenizer.ggml.token_type"
#define KEY_CHARSMAP "tokenizer.ggml.precompiled_charsmap"

static sl_status from_gguf(const sl_gguf *g, sl_spm_vocab *sv, sl_error *err) {
    sl_vocab *v = &sv->v;
    const sl_gguf_kv *kv = sl_gguf_find_kv(g, KEY_TOKENS);
    if (!kv) return sl_fail(err, SL_ERR_FORMAT, "key '%s' is missing", KEY_TOKENS);
    if (kv->type != SL_GGUF_ARRAY || kv->arr_type != SL_GGUF_STRING || kv->arr_n == 0 || kv->arr_n > INT32_MAX / 2)
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' is not a non-empty array of strings", KEY_TOKENS);
    const uint64_t n = kv->arr_n;
    const void *scores, *types, *charsmap = NULL;
    uint64_t n_scores, n_types, n_charsmap = 0;
    sl_status s;
    if ((s = sl_gguf_get_arr(g, KEY_SCORES, SL_GGUF_FLOAT32, &scores, &n_scores, err)) ||
        (s = sl_gguf_get_arr(g, KEY_TOKTYPES, SL_GGUF_INT32, &types, &n_types, err)))
        return s;
    if (n_scores != n || n_types != n)
        return sl_fail(err, SL_ERR_FORMAT, "keys '%s' and '%s' must have %llu entries like '%s'", KEY_SCORES,
                       KEY_TOKTYPES, (unsigned long long)n, KEY_TOKENS);
    if (sl_gguf_find_kv(g, KEY_CHARSMAP) &&
        (s = sl_gguf_get_arr(g, KEY_CHARSMAP, SL_GGUF_UINT8, &charsmap, &n_charsmap, err)))
        return s;
    size_t text_bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        if ((s = sl_gguf_arr_str(g, KEY_TOKENS, i, &p, &len, err))) return s;
        text_bytes += len + 1;
    }
    sv->text = malloc(text_bytes);
    sv->pieces = malloc(n * sizeof *sv->pieces);
    sv->piece_lens = malloc(n * sizeof *sv->piece_lens);
    sv->scores = malloc(n * sizeof *sv->scores);
    sv->types = malloc(n * sizeof *sv->types);
    sv->charsmap = malloc(n_charsmap + 1);
    if (!sv->text || !sv->pieces || !sv->piece_lens || !sv->scores || !sv->types || !sv->charsmap)
        return sl_fail(err, SL_ERR_MEMORY, "no memory for %llu tokens", (unsigned long long)n);
    char *t = sv->text;
    for (uint64_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        sl_gguf_arr_str(g, KEY_TOKENS, i, &p, &len, err); /* succeeded above */
        memcpy(t, p, len);
        t[len] = 0;
        sv->pieces[i] = t;
        sv->piece_lens[i] = len;
        t += len + 1;
    }
    memcpy(sv->scores, scores, n * sizeof *sv->scores); /* arrays may be unaligned in the file */
    memcpy(sv->types, types, n * sizeof *sv->types);
    if (n_charsmap) memcpy(sv->charsmap, charsmap, (size_t)n_charsmap);
    v->n_tokens = (int)n;
    v->pieces = sv->pieces;
    v->piece_lens = sv->piece_lens;
    v->scores = sv->scores;
    v->types = sv->types;
    v->charsmap = sv->charsmap;
    v->charsmap_len = (size_t)n_charsmap;
    const struct {
        const char *key;
        int32_t *dst;
    } ids[] = {{"tokenizer.ggml.unknown_token_id", &v->unk_id}, {"tokenizer.ggml.bos_token_id", &v->bos_id},
               {"tokenizer.ggml.eos_token_id", &v->eos_id},     {"tokenizer.ggml.padding_token_id", &v->pad_id},
               {"tokenizer.ggml.mask_token_id", &v->mask_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint32_t id;
        if ((s = sl_gguf_get_u32(g, ids[i].key, &id, err))) return s;
        if (id >= n)
            return sl_fail(err, SL_ERR_FORMAT, "key '%s' = %u is not a token id (< %llu)", ids[i].key, id,
                           (unsigned long long)n);
        *ids[i].dst = (int32_t)id;
    }
    const struct {
        const char *key;
        bool *dst;
    } flags[] = {{"tokenizer.ggml.add_space_prefix", &v->add_dummy_prefix},
                 {"tokenizer.ggml.remove_extra_whitespaces", &v->remove_extra_whitespaces},
                 {"tokenizer.ggml.escape_whitespaces", &v->escape_whitespaces}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if ((s = sl_gguf_get_bool(g, flags[i].key, flags[i].dst, err))) return s;
    return SL_OK;
}

/* The vocabulary of a GGUF file and the tokenizer made from it (which checks it as sl_spm_parse checks a
   .model): each handed out where asked for, else freed. */
static sl_status vocab_from_gguf(const sl_gguf *g, sl_spm_vocab **vocab, sl_tokenizer **tok, sl_error *err) {
    if (vocab) *vocab = NULL;
    if (tok) *tok = NULL;
    sl_spm_vocab *sv = calloc(1, sizeof *sv);
    if (!sv) return sl_fail(err, SL_ERR_MEMORY, "no memory for the vocabulary");
    sl_tokenizer *t = NULL;
    sl_status s = from_gguf(g, sv, err);
    if (!s && (s = sl_tokenizer_create(&sv->v, &t, err))) sl_fail_context(err, "keys tokenizer.ggml.*");
    if (!s && tok) *tok = t, t = NULL;
    if (!s && vocab) *vocab = sv, sv = NULL;
    sl_tokenizer_free(t);
    sl_spm_vocab_free(sv);
    return s;
}

sl_status sl_spm_vocab_from_gguf(const sl_gguf *g, sl_spm_vocab **out, sl_error *err) {
    return vocab_from_gguf(g, out, NULL, err);
}

sl_status sl_tokenizer_from_gguf(const sl_gguf *g, sl_tokenizer **out, sl_error *err) {
    return vocab_from_gguf(g, NULL, out, err);
}

/* ---- writing a ModelProto ------------------------------------------------------------------------------ */

/* Bytes of a message being written; a failed allocation is remembered and checked once at the end. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    bool failed;
} pb_writer;

static void pb_put(pb_writer *w, const void *bytes, size_t n) {
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (cap < w->len + n) cap *= 2;
        uint8_t *grown = realloc(w->buf, cap);
        if (!grown) {
            w->failed = true;
            return;
        }
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

static void pb_put_varint(pb_writer *w, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_put(w, b, n);
}

static void pb_put_key(pb_writer *w, uint32_t field, int wire) {
    pb_put_varint(w, (uint64_t)field << 3 | (uint64_t)wire);
}

static void pb_put_bytes(pb_writer *w, uint32_t field, const void *bytes, size_t n) {
    pb_put_key(w, field, WIRE_LEN);
    pb_put_varint(w, n);
    pb_put(w, bytes, n);
}

/* int32 and enum fields: negative values go on the wire sign-extended to 64 bits */
static void pb_put_int(pb_writer *w, uint32_t field, int64_t v) {
    pb_put_key(w, field, WIRE_VARINT);
    pb_put_varint(w, (uint64_t)v);
}

static void pb_put_float(pb_writer *w, uint32_t field, float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_put_key(w, field, WIRE_FIXED32);
    pb_put(w, b, 4);
}

/* What stops a vocabulary from being written as a CamemBERT .model: NULL when nothing does. */
static const char *layout_problem(const sl_vocab *v, char *why, size_t cap) {
    const int n = v->n_tokens, last = n - 1;
    if (n < FAIRSEQ_OFFSET + 2) {
        snprintf(why, cap, "%d tokens, too few for the CamemBERT layout", n);
        return why;
    }
    for (int i = 0; i < FAIRSEQ_OFFSET; i++)
        if (v->piece_lens[i] != strlen(FAIRSEQ_HEAD[i]) || memcmp(v->pieces[i], FAIRSEQ_HEAD[i], v->piece_lens[i])) {
            snprintf(why, cap, "token %d is not '%s' (the CamemBERT layout's fairseq ids 0-3)", i, FAIRSEQ_HEAD[i]);
            return why;
        }
    if (v->piece_lens[last] != 6 || memcmp(v->pieces[last], "<mask>", 6) || v->mask_id != last) {
        snprintf(why, cap, "the last token (%d) is not <mask>, or the mask id (%d) is not it", last, v->mask_id);
        return why;
    }
    if (v->unk_id != 3 || v->pad_id != 1) {
        snprintf(why, cap, "unknown id %d and padding id %d, expected 3 and 1", v->unk_id, v->pad_id);
        return why;
    }
    if (v->bos_id < FAIRSEQ_OFFSET || v->bos_id >= last || v->eos_id < FAIRSEQ_OFFSET || v->eos_id >= last) {
        snprintf(why, cap, "bos id %d / eos id %d are not SentencePiece pieces (ids %d to %d)", v->bos_id, v->eos_id,
                 FAIRSEQ_OFFSET, last - 1);
        return why;
    }
    int n_unknown = 0;
    for (int i = FAIRSEQ_OFFSET; i < last; i++) {
        n_unknown += v->types[i] == SL_TOK_UNKNOWN;
        if (v->piece_lens[i] == 0 || memchr(v->pieces[i], 0, v->piece_lens[i]) || v->types[i] < SL_TOK_NORMAL ||
            v->types[i] > SL_TOK_BYTE) {
            snprintf(why, cap, "token %d is empty, holds a 0 byte or has type %d (1..6)", i, (int)v->types[i]);
            return why;
        }
    }
    if (n_unknown != 1) {
        snprintf(why, cap, "%d SentencePiece pieces have the type UNKNOWN, expected one", n_unknown);
        return why;
    }
    return NULL;
}

sl_status sl_spm_serialize(const sl_vocab *v, uint8_t **data, size_t *size, sl_error *err) {
    *data = NULL;
    *size = 0;
    char why[160];
    if (layout_problem(v, why, sizeof why)) return sl_fail(err, SL_ERR_FORMAT, "vocabulary: %s", why);
    const int first = FAIRSEQ_OFFSET, end = v->n_tokens - 1; /* the SentencePiece pieces: ids [first, end) */
    pb_writer model = {0}, sub = {0};
    int unk = 0;
    for (int i = first; i < end; i++) {
        sub.len = 0;
        pb_put_bytes(&sub, 1, v->pieces[i], v->piece_lens[i]);
        pb_put_float(&sub, 2, v->scores[i]);
        if (v->types[i] != SL_TOK_NORMAL) pb_put_int(&sub, 3, v->types[i]);
        if (v->types[i] == SL_TOK_UNKNOWN) unk = i - first;
        if (!sub.failed) pb_put_bytes(&model, 1, sub.buf, sub.len);
    }
    sub.len = 0;
    pb_put_int(&sub, 3, SPM_UNIGRAM);
    pb_put_int(&sub, 4, end - first); /* vocab_size */
    pb_put_int(&sub, 40, unk);
    pb_put_int(&sub, 41, v->bos_id - first);
    pb_put_int(&sub, 42, v->eos_id - first);
    if (!sub.failed) pb_put_bytes(&model, 2, sub.buf, sub.len);
    /* The GGUF keeps the compiled rule (the charsmap), not its name, which SentencePiece only reports:
       "nmt_nfkc" is CamemBERT's; without a charsmap nothing is normalised. */
    sub.len = 0;
    const char *rule = v->charsmap_len ? "nmt_nfkc" : "identity";
    pb_put_bytes(&sub, 1, rule, strlen(rule));
    if (v->charsmap_len) pb_put_bytes(&sub, 2, v->charsmap, v->charsmap_len);
    pb_put_int(&sub, 3, v->add_dummy_prefix);
    pb_put_int(&sub, 4, v->remove_extra_whitespaces);
    pb_put_int(&sub, 5, v->escape_whitespaces);
    if (!sub.failed) pb_put_bytes(&model, 3, sub.buf, sub.len);
    bool failed = model.failed || sub.failed;
    free(sub.buf);
    if (failed) {
        free(model.buf);
        return sl_fail(err, SL_ERR_MEMORY, "vocabulary: no memory to write the SentencePiece model");
    }
    *data = model.buf;
    *size = model.len;
    return SL_OK;
}
