/* SentencePiece ModelProto (.model files) read by hand, mapped to CamemBERT's fairseq id layout.

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
   are checked there). */
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
