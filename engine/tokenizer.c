/* SentencePiece unigram tokenizer: normaliser (precompiled charsmap), Viterbi over the pieces, byte spans.

   It reproduces SentencePiece 0.1.97 (SentencePieceProcessor::Encode with the unigram model's optimised
   Viterbi) exactly, ids and spans, on every sentence of our data sets (tools/reference/check_tokenizer.py).
   Written from the behaviour of normalizer.cc / unigram_model.cc / sentencepiece_processor.cc, not from
   their code. Behaviours worth knowing:

   - Normalisation walks the original text left to right. At each position the longest key of the charsmap
     trie that is a prefix of the remaining bytes (it may span several characters: "e" + U+0301 -> "é")
     is replaced by its pooled string; without a match one UTF-8 character is copied. Every normalised byte
     remembers the original offset of the chunk it came from, which is what makes spans exact.
   - remove_extra_whitespaces: chunks normalising to exactly " " are dropped at the start; a chunk's
     leading spaces are dropped after a chunk that ended with a space; trailing space symbols are dropped.
   - add_dummy_prefix puts one space symbol first; escape_whitespaces writes spaces as U+2581.
   - Viterbi: a piece ending at byte e and starting at s scores best[s] + score(piece). Candidate sums are
     computed in double and stored as float, as SentencePiece does (its user-defined bonus is a double
     expression), which decides exact ties the same way. A character no single-character piece covers is
     an unknown token scoring min(normal scores) - 10; consecutive unknown tokens merge into one.

   The one hash table (the piece trie's transitions) is our own, not stb_ds's: built once, at load, with a
   size known in advance, and read by several threads at once, it is an array of keys probed inline; with
   stb_ds's hash map (hmgeti_ts, since hmgeti writes into the table on every lookup) tokenising 3 MB of
   ELTeC text took 0.61 s instead of 0.36 s, and stb_ds's growth cannot report a failed allocation. */
#include "tokenizer.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- piece trie ---------------------------------------------------------------------------------------- */

/* A byte trie whose transitions live in one open-addressing hash table keyed by (node, byte); the root's
   256 transitions are a plain array since every lookup starts there. Node 0 is the root. */
typedef struct {
    int32_t root[256];
    uint32_t *keys;    /* (node << 8 | byte) + 1, 0 = empty slot */
    int32_t *children; /* node reached by that transition */
    uint32_t mask;     /* table size - 1 (a power of two) */
    int bits;          /* log2 of the table size */
    int32_t *value;    /* per node: the token id that ends there, or -1 */
    int32_t n_nodes, cap_nodes;
} piece_trie;

#define TRIE_MAX_NODES (1 << 24) /* node ids must fit the 24 high bits of a transition key */

static inline uint32_t trie_slot(const piece_trie *tr, uint32_t key) {
    return (key * 2654435761u) >> (32 - tr->bits); /* Fibonacci hashing */
}

static inline int32_t trie_step(const piece_trie *tr, int32_t node, uint8_t byte) {
    if (node == 0) return tr->root[byte];
    uint32_t key = ((uint32_t)node << 8 | byte) + 1;
    for (uint32_t i = trie_slot(tr, key);; i = (i + 1) & tr->mask) {
        if (tr->keys[i] == key) return tr->children[i];
        if (tr->keys[i] == 0) return -1;
    }
}

static void trie_free(piece_trie *tr) {
    free(tr->keys);
    free(tr->children);
    free(tr->value);
    memset(tr, 0, sizeof *tr);
}

/* Room for max_nodes nodes (the total length of the keys + 1); the table stays at most half full. */
static bool trie_init(piece_trie *tr, size_t max_nodes) {
    memset(tr, 0, sizeof *tr);
    for (int i = 0; i < 256; i++) tr->root[i] = -1;
    tr->bits = 4;
    while (((size_t)1 << tr->bits) < 2 * max_nodes) tr->bits++;
    tr->mask = (1u << tr->bits) - 1;
    tr->keys = calloc((size_t)tr->mask + 1, sizeof *tr->keys);
    tr->children = malloc(((size_t)tr->mask + 1) * sizeof *tr->children);
    tr->value = malloc(max_nodes * sizeof *tr->value);
    tr->cap_nodes = (int32_t)max_nodes;
    tr->n_nodes = 1;
    if (!tr->keys || !tr->children || !tr->value) return false;
    tr->value[0] = -1;
    return true;
}

/* Inserts key -> id; returns the id already stored for the key, or -1 if it was new. */
static int32_t trie_insert(piece_trie *tr, const uint8_t *key, size_t len, int32_t id) {
    int32_t node = 0;
    for (size_t k = 0; k < len; k++) {
        int32_t next = trie_step(tr, node, key[k]);
        if (next < 0) {
            next = tr->n_nodes++;
            tr->value[next] = -1;
            if (node == 0) {
                tr->root[key[k]] = next;
            } else {
                uint32_t h = ((uint32_t)node << 8 | key[k]) + 1, i = trie_slot(tr, h);
                while (tr->keys[i]) i = (i + 1) & tr->mask;
                tr->keys[i] = h;
                tr->children[i] = next;
            }
        }
        node = next;
    }
    if (tr->value[node] >= 0) return tr->value[node];
    tr->value[node] = id;
    return -1;
}

/* Length of the longest key that prefixes s[0, n), 0 if none. */
static size_t trie_longest(const piece_trie *tr, const uint8_t *s, size_t n) {
    size_t best = 0;
    int32_t node = 0;
    for (size_t k = 0; k < n && (node = trie_step(tr, node, s[k])) >= 0; k++)
        if (tr->value[node] >= 0) best = k + 1;
    return best;
}

/* ---- precompiled charsmap ------------------------------------------------------------------------------ */

/* SentencePiece's precompiled_charsmap: a little-endian uint32 byte size of a Darts-clone double array,
   the array (uint32 units), then a pool of 0-terminated replacement strings.
   A unit packs: bits 0-7 label (bit 31 set marks a value unit, whose bits 0-30 are the value), bit 8
   "a value unit hangs off this node", bits 10-31 an offset shifted left by 8 when bit 9 is set.
   From node position p, the child for byte c is at p ^ offset(unit[p]) ^ c and matches when its label is c;
   the value of a node n with the leaf bit is unit[n ^ offset(unit[n])], an offset into the pool. */
static inline uint32_t unit_offset(uint32_t u) {
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}
static inline uint32_t unit_label(uint32_t u) {
    return u & ((1u << 31) | 0xff);
}
static inline bool unit_has_leaf(uint32_t u) {
    return (u >> 8) & 1;
}
static inline uint32_t unit_value(uint32_t u) {
    return u & ((1u << 31) - 1);
}

typedef struct {
    uint32_t *units;
    size_t n_units;
    char *pool; /* followed by one extra 0 byte, so every replacement is terminated */
    size_t pool_len;
} charsmap;

/* Longest charsmap key prefixing s[0, n): its length (0 if none) and its pool offset. Bounds are checked on
   every step, so a corrupt array ends the match instead of reading outside it. */
static size_t charsmap_longest(const charsmap *cm, const uint8_t *s, size_t n, uint32_t *value) {
    const uint32_t *u = cm->units;
    size_t best = 0, pos = unit_offset(u[0]);
    for (size_t k = 0; k < n; k++) {
        pos ^= s[k];
        if (pos >= cm->n_units || unit_label(u[pos]) != s[k]) break;
        uint32_t unit = u[pos];
        pos ^= unit_offset(unit);
        if (unit_has_leaf(unit)) {
            if (pos >= cm->n_units) break;
            uint32_t v = unit_value(u[pos]);
            if (v >= cm->pool_len) break;
            *value = v;
            best = k + 1;
        }
    }
    return best;
}

/* Walks every reachable node once so a corrupt charsmap fails at load time: child and value positions
   must be inside the array and values inside the pool. */
static sl_status charsmap_validate(const charsmap *cm, sl_error *err) {
    const uint32_t *u = cm->units;
    size_t n = cm->n_units;
    if (unit_label(u[0]) != 0 || unit_has_leaf(u[0]))
        return sl_fail(err, SL_ERR_FORMAT, "precompiled_charsmap: the trie's root unit is malformed");
    uint8_t *seen = calloc((n + 7) / 8, 1);
    size_t *stack = malloc(n * sizeof *stack), top = 0;
    sl_status s = SL_OK;
    if (!seen || !stack) {
        s = sl_fail(err, SL_ERR_MEMORY, "no memory to check the precompiled_charsmap");
        goto done;
    }
    stack[top++] = 0; /* positions of nodes whose children we look for */
    seen[0] = 1;
    while (top && !s) {
        size_t node = stack[--top], base = node ^ unit_offset(u[node]);
        for (uint32_t c = 1; c < 256; c++) {
            size_t child = base ^ c;
            if (child >= n || unit_label(u[child]) != c) continue;
            if (unit_has_leaf(u[child])) {
                size_t leaf = child ^ unit_offset(u[child]);
                if (leaf >= n || unit_value(u[leaf]) >= cm->pool_len) {
                    s = sl_fail(
                        err, SL_ERR_FORMAT,
                        "precompiled_charsmap: unit %zu points outside the trie (%zu units) or the pool "
                        "(%zu bytes)",
                        child, n, cm->pool_len);
                    break;
                }
            }
            if (!(seen[child / 8] & (1 << (child % 8)))) {
                seen[child / 8] |= (uint8_t)(1 << (child % 8));
                stack[top++] = child;
            }
        }
    }
done:
    free(seen);
    free(stack);
    return s;
}

static sl_status charsmap_load(charsmap *cm, const uint8_t *blob, size_t len, sl_error *err) {
    memset(cm, 0, sizeof *cm);
    if (len == 0) return SL_OK;
    if (len < 8) return sl_fail(err, SL_ERR_FORMAT, "precompiled_charsmap: %zu bytes is too short", len);
    size_t trie = (size_t)blob[0] | (size_t)blob[1] << 8 | (size_t)blob[2] << 16 | (size_t)blob[3] << 24;
    if (trie < 4 || trie % 4 || trie > len - 4)
        return sl_fail(err, SL_ERR_FORMAT, "precompiled_charsmap: trie size %zu does not fit the %zu bytes",
                       trie, len);
    cm->n_units = trie / 4;
    cm->pool_len = len - 4 - trie;
    cm->units = malloc(trie);
    cm->pool = malloc(cm->pool_len + 1);
    if (!cm->units || !cm->pool) return sl_fail(err, SL_ERR_MEMORY, "no memory for the precompiled_charsmap");
    for (size_t i = 0; i < cm->n_units; i++) {
        const uint8_t *p = blob + 4 + 4 * i;
        cm->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(cm->pool, blob + 4 + trie, cm->pool_len);
    cm->pool[cm->pool_len] = 0;
    return charsmap_validate(cm, err);
}

static void charsmap_free(charsmap *cm) {
    free(cm->units);
    free(cm->pool);
}

/* ---- the tokenizer ------------------------------------------------------------------------------------- */

struct sl_tokenizer {
    int n_tokens;
    char *text; /* piece bytes, each 0-terminated */
    char **pieces;
    size_t *piece_lens;
    float *scores;
    int32_t *types;
    int32_t unk_id, bos_id, eos_id, pad_id, mask_id;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    float max_score; /* over NORMAL pieces, starting from FLT_MIN as SentencePiece does */
    float unk_score; /* min over NORMAL pieces - 10 */
    piece_trie trie; /* NORMAL, USER_DEFINED and UNUSED pieces -> id */
    piece_trie user; /* USER_DEFINED pieces, kept whole by the normaliser */
    bool has_user;
    charsmap cm;
};

void sl_tokenizer_free(sl_tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->pieces);
    free(t->piece_lens);
    free(t->scores);
    free(t->types);
    trie_free(&t->trie);
    trie_free(&t->user);
    charsmap_free(&t->cm);
    free(t);
}

int sl_tokenizer_n_tokens(const sl_tokenizer *t) {
    return t->n_tokens;
}

const char *sl_tokenizer_piece(const sl_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_tokens) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->piece_lens[id];
    return t->pieces[id];
}

sl_special_ids sl_tokenizer_special_ids(const sl_tokenizer *t) {
    return (sl_special_ids){t->unk_id, t->bos_id, t->eos_id, t->pad_id, t->mask_id};
}

static bool in_trie(int32_t type) {
    return type == SL_TOK_NORMAL || type == SL_TOK_USER_DEFINED || type == SL_TOK_UNUSED;
}

static sl_status create(const sl_vocab *v, sl_tokenizer *t, sl_error *err) {
    const int n = v->n_tokens;
    if (n <= 0 || !v->pieces || !v->piece_lens || !v->scores || !v->types)
        return sl_fail(err, SL_ERR_FORMAT, "tokenizer: empty vocabulary");
    if (v->charsmap_len && !v->charsmap) return sl_fail(err, SL_ERR_ARGUMENT, "tokenizer: charsmap is NULL");
    struct {
        const char *name;
        int32_t id;
        bool optional;
    } ids[] = {{"unknown", v->unk_id, false},
               {"bos", v->bos_id, true},
               {"eos", v->eos_id, true},
               {"padding", v->pad_id, true},
               {"mask", v->mask_id, true}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= n || ids[i].id < (ids[i].optional ? -1 : 0))
            return sl_fail(err, SL_ERR_FORMAT, "tokenizer: %s token id %d is not in [0, %d)", ids[i].name,
                           ids[i].id, n);
    t->n_tokens = n;
    t->unk_id = v->unk_id;
    t->bos_id = v->bos_id;
    t->eos_id = v->eos_id;
    t->pad_id = v->pad_id;
    t->mask_id = v->mask_id;
    t->add_dummy_prefix = v->add_dummy_prefix;
    t->remove_extra_whitespaces = v->remove_extra_whitespaces;
    t->escape_whitespaces = v->escape_whitespaces;

    size_t text_bytes = 0, trie_bytes = 0, user_bytes = 0;
    float min_score = FLT_MAX, max_score = FLT_MIN;
    for (int i = 0; i < n; i++) {
        if (!v->pieces[i] && v->piece_lens[i])
            return sl_fail(err, SL_ERR_FORMAT, "tokenizer: piece %d is NULL", i);
        if (v->types[i] < SL_TOK_NORMAL || v->types[i] > SL_TOK_BYTE)
            return sl_fail(err, SL_ERR_FORMAT, "tokenizer: piece %d has type %d, not in 1..6", i,
                           v->types[i]);
        if (v->scores[i] != v->scores[i])
            return sl_fail(err, SL_ERR_FORMAT, "tokenizer: piece %d has a NaN score", i);
        text_bytes += v->piece_lens[i] + 1;
        if (in_trie(v->types[i])) {
            if (v->piece_lens[i] == 0) return sl_fail(err, SL_ERR_FORMAT, "tokenizer: piece %d is empty", i);
            trie_bytes += v->piece_lens[i];
        }
        if (v->types[i] == SL_TOK_USER_DEFINED) user_bytes += v->piece_lens[i];
        if (v->types[i] == SL_TOK_NORMAL) {
            if (v->scores[i] < min_score) min_score = v->scores[i];
            if (v->scores[i] > max_score) max_score = v->scores[i];
        }
    }
    if (trie_bytes + 1 >= TRIE_MAX_NODES)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "tokenizer: %zu bytes of pieces is too many", trie_bytes);
    t->max_score = max_score;
    t->unk_score = min_score - 10.0f; /* SentencePiece's kUnkPenalty, in float */

    t->text = malloc(text_bytes);
    t->pieces = malloc((size_t)n * sizeof *t->pieces);
    t->piece_lens = malloc((size_t)n * sizeof *t->piece_lens);
    t->scores = malloc((size_t)n * sizeof *t->scores);
    t->types = malloc((size_t)n * sizeof *t->types);
    if (!t->text || !t->pieces || !t->piece_lens || !t->scores || !t->types ||
        !trie_init(&t->trie, trie_bytes + 1) || !trie_init(&t->user, user_bytes + 1))
        return sl_fail(err, SL_ERR_MEMORY, "tokenizer: no memory for %d pieces", n);
    char *p = t->text;
    for (int i = 0; i < n; i++) {
        size_t len = v->piece_lens[i];
        if (len) memcpy(p, v->pieces[i], len);
        p[len] = 0;
        t->pieces[i] = p;
        t->piece_lens[i] = len;
        p += len + 1;
        t->scores[i] = v->scores[i];
        t->types[i] = v->types[i];
        if (!in_trie(v->types[i])) continue;
        int32_t dup = trie_insert(&t->trie, (const uint8_t *)t->pieces[i], len, i);
        if (dup >= 0)
            return sl_fail(err, SL_ERR_FORMAT, "tokenizer: pieces %d and %d are both '%.*s'", dup, i,
                           (int)(len > 64 ? 64 : len), t->pieces[i]);
        if (v->types[i] == SL_TOK_USER_DEFINED) {
            trie_insert(&t->user, (const uint8_t *)t->pieces[i], len, i);
            t->has_user = true;
        }
    }
    return charsmap_load(&t->cm, v->charsmap, v->charsmap_len, err);
}

sl_status sl_tokenizer_create(const sl_vocab *v, sl_tokenizer **out, sl_error *err) {
    *out = NULL;
    if (!v) return sl_fail(err, SL_ERR_ARGUMENT, "tokenizer: no vocabulary");
    sl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return sl_fail(err, SL_ERR_MEMORY, "tokenizer: no memory");
    sl_status s = create(v, t, err);
    if (s) {
        sl_tokenizer_free(t);
        return s;
    }
    *out = t;
    return SL_OK;
}

/* ---- per-call buffers ---------------------------------------------------------------------------------- */

/* Kept in sl_tokens between calls, grown, never shrunk. */
typedef struct {
    char *norm;      /* (n_norm) normalised text */
    int32_t *origin; /* (n_norm + 1) per normalised byte, the original byte offset of its chunk */
    size_t norm_cap;
    float *best;      /* (n_norm + 1) score of the best segmentation of norm[0, e) */
    int32_t *from;    /* (n_norm + 1) where the last piece of that segmentation starts, -1 = none yet */
    int32_t *best_id; /* (n_norm + 1) that piece's id */
    size_t lattice_cap;
} scratch;

static bool grow_norm(scratch *sc, size_t need) {
    if (need <= sc->norm_cap) return true;
    size_t cap = sc->norm_cap ? sc->norm_cap : 256;
    while (cap < need) cap *= 2;
    char *norm = realloc(sc->norm, cap);
    if (norm) sc->norm = norm;
    int32_t *origin = realloc(sc->origin, (cap + 1) * sizeof *origin);
    if (origin) sc->origin = origin;
    if (!norm || !origin) return false;
    sc->norm_cap = cap;
    return true;
}

static bool grow_lattice(scratch *sc, size_t n) {
    if (n + 1 <= sc->lattice_cap) return true;
    size_t cap = sc->lattice_cap ? sc->lattice_cap : 256;
    while (cap < n + 1) cap *= 2;
    float *best = realloc(sc->best, cap * sizeof *best);
    if (best) sc->best = best;
    int32_t *from = realloc(sc->from, cap * sizeof *from);
    if (from) sc->from = from;
    int32_t *id = realloc(sc->best_id, cap * sizeof *id);
    if (id) sc->best_id = id;
    if (!best || !from || !id) return false;
    sc->lattice_cap = cap;
    return true;
}

static bool grow_tokens(sl_tokens *tk, int n) {
    if (n <= tk->cap) return true;
    int cap = tk->cap ? tk->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *ids = realloc(tk->ids, (size_t)cap * sizeof *ids);
    if (ids) tk->ids = ids;
    int32_t *start = realloc(tk->start, (size_t)cap * sizeof *start);
    if (start) tk->start = start;
    int32_t *end = realloc(tk->end, (size_t)cap * sizeof *end);
    if (end) tk->end = end;
    uint8_t *ws = realloc(tk->word_start, (size_t)cap);
    if (ws) tk->word_start = ws;
    if (!ids || !start || !end || !ws) return false;
    tk->cap = cap;
    return true;
}

void sl_tokens_free(sl_tokens *tk) {
    if (!tk) return;
    free(tk->ids);
    free(tk->start);
    free(tk->end);
    free(tk->word_start);
    scratch *sc = tk->scratch;
    if (sc) {
        free(sc->norm);
        free(sc->origin);
        free(sc->best);
        free(sc->from);
        free(sc->best_id);
        free(sc);
    }
    memset(tk, 0, sizeof *tk);
}

/* ---- UTF-8 --------------------------------------------------------------------------------------------- */

/* Bytes of the character a lead byte starts (1 for a stray continuation byte, as SentencePiece counts). */
static inline size_t utf8_len(uint8_t b) {
    return b < 0x80 ? 1 : b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf8 ? 4 : 1;
}

/* Offset of the first byte that is not well-formed UTF-8 (overlong forms, surrogates, code points above
   U+10FFFF and truncated sequences are all ill-formed), or len when all is well. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (b >= 0xc2 && b <= 0xdf)
            n = 2, cp = b & 0x1f, min = 0x80;
        else if (b >= 0xe0 && b <= 0xef)
            n = 3, cp = b & 0x0f, min = 0x800;
        else if (b >= 0xf0 && b <= 0xf4)
            n = 4, cp = b & 0x07, min = 0x10000;
        else
            return i;
        if (len - i < n) return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n;
    }
    return len;
}

/* True for Unicode punctuation (P*) and symbols (S*): the classes that split words from letters. */
static bool is_punct_at(const char *s, size_t n) {
    utf8proc_int32_t cp;
    if (utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &cp) < 0) return false;
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO) ||
           (c >= UTF8PROC_CATEGORY_SM && c <= UTF8PROC_CATEGORY_SO);
}

/* ---- normalisation ------------------------------------------------------------------------------------- */

#define SPACE_SYMBOL "\xe2\x96\x81" /* U+2581, how escaped spaces appear in pieces */

/* One normalisation step at s[0, n): the number of original bytes consumed and their replacement. */
static size_t normalize_prefix(const sl_tokenizer *t, const uint8_t *s, size_t n, const char **repl,
                               size_t *repl_len) {
    if (t->has_user) { /* user-defined pieces pass through unnormalised, whole */
        size_t m = trie_longest(&t->user, s, n);
        if (m) {
            *repl = (const char *)s;
            *repl_len = m;
            return m;
        }
    }
    if (t->cm.n_units) {
        uint32_t value;
        size_t m = charsmap_longest(&t->cm, s, n, &value);
        if (m) {
            *repl = t->cm.pool + value;
            *repl_len = strlen(*repl);
            return m;
        }
    }
    size_t m = utf8_len(s[0]);
    if (m > n) m = n;
    *repl = (const char *)s;
    *repl_len = m;
    return m;
}

/* Normalises text into sc->norm, filling sc->origin; returns the normalised length. */
static sl_status normalize(const sl_tokenizer *t, const uint8_t *text, size_t len, scratch *sc,
                           size_t *out_len, sl_error *err) {
    const char *space = t->escape_whitespaces ? SPACE_SYMBOL : " ";
    const size_t space_len = strlen(space);
    size_t pos = 0, n = 0;
    const char *repl;
    size_t repl_len;
    *out_len = 0;
    if (t->remove_extra_whitespaces) { /* leading chunks that are exactly one space */
        while (pos < len) {
            size_t m = normalize_prefix(t, text + pos, len - pos, &repl, &repl_len);
            if (repl_len != 1 || repl[0] != ' ') break;
            pos += m;
        }
    }
    if (pos == len) return SL_OK;
    if (!grow_norm(sc, 3 * (len - pos) + 16)) return sl_fail(err, SL_ERR_MEMORY, "tokenize: no memory");
    if (t->add_dummy_prefix) {
        memcpy(sc->norm, space, space_len);
        for (size_t k = 0; k < space_len; k++) sc->origin[k] = (int32_t)pos;
        n = space_len;
    }
    bool prev_space = t->remove_extra_whitespaces;
    while (pos < len) {
        size_t m = normalize_prefix(t, text + pos, len - pos, &repl, &repl_len);
        if (prev_space)
            while (repl_len && repl[0] == ' ') repl++, repl_len--;
        if (repl_len) {
            if (!grow_norm(sc, n + 3 * repl_len + 4))
                return sl_fail(err, SL_ERR_MEMORY, "tokenize: no memory");
            for (size_t k = 0; k < repl_len; k++) {
                if (repl[k] == ' ') {
                    memcpy(sc->norm + n, space, space_len);
                    for (size_t j = 0; j < space_len; j++) sc->origin[n + j] = (int32_t)pos;
                    n += space_len;
                } else {
                    sc->norm[n] = repl[k];
                    sc->origin[n++] = (int32_t)pos;
                }
            }
            prev_space = repl[repl_len - 1] == ' ';
        }
        pos += m;
        if (!t->remove_extra_whitespaces) prev_space = false;
    }
    size_t end = pos;
    if (t->remove_extra_whitespaces) /* trailing space symbols; the text then ends where the first began */
        while (n >= space_len && !memcmp(sc->norm + n - space_len, space, space_len)) {
            n -= space_len;
            end = (size_t)sc->origin[n];
        }
    sc->origin[n] = (int32_t)end;
    *out_len = n;
    return SL_OK;
}

/* ---- Viterbi ------------------------------------------------------------------------------------------- */

/* Best segmentation of norm[0, n) into pieces; fills sc->from / sc->best_id. */
static void viterbi(const sl_tokenizer *t, const uint8_t *norm, size_t n, scratch *sc) {
    float *best = sc->best;
    int32_t *from = sc->from, *best_id = sc->best_id;
    best[0] = 0.0f;
    from[0] = 0;
    for (size_t e = 1; e <= n; e++) from[e] = -1;
    for (size_t s = 0; s < n;) {
        size_t mblen = utf8_len(norm[s]);
        if (mblen > n - s) mblen = n - s;
        const float here = best[s];
        bool has_single = false;
        int32_t node = 0;
        for (size_t k = s; k < n && (node = trie_step(&t->trie, node, norm[k])) >= 0; k++) {
            int32_t id = t->trie.value[node];
            if (id < 0 || t->types[id] == SL_TOK_UNUSED) continue;
            size_t length = k + 1 - s;
            /* SentencePiece's candidate is a double (the user-defined bonus term is one); stored as float */
            double score = t->types[id] == SL_TOK_USER_DEFINED ? (double)((float)length * t->max_score) - 0.1
                                                               : (double)t->scores[id];
            double cand = score + (double)here;
            if (from[k + 1] < 0 || cand > (double)best[k + 1]) {
                best[k + 1] = (float)cand;
                from[k + 1] = (int32_t)s;
                best_id[k + 1] = id;
            }
            if (length == mblen) has_single = true;
        }
        if (!has_single) {
            float cand = t->unk_score + here;
            if (from[s + mblen] < 0 || cand > best[s + mblen]) {
                best[s + mblen] = cand;
                from[s + mblen] = (int32_t)s;
                best_id[s + mblen] = t->unk_id;
            }
        }
        s += mblen;
    }
}

/* ---- tokenize ------------------------------------------------------------------------------------------ */

sl_status sl_tokenize(const sl_tokenizer *t, const char *text, size_t len, sl_tokens *out, sl_error *err) {
    out->n = 0;
    if (!t || (!text && len)) return sl_fail(err, SL_ERR_ARGUMENT, "tokenize: no tokenizer or no text");
    if (len > (size_t)INT32_MAX / 4)
        return sl_fail(err, SL_ERR_ARGUMENT, "tokenize: a text of %zu bytes is too long", len);
    if (len == 0) return SL_OK;
    const uint8_t *src = (const uint8_t *)text;
    size_t bad = utf8_invalid_at(src, len);
    if (bad < len)
        return sl_fail(err, SL_ERR_UTF8, "tokenize: invalid UTF-8 at byte %zu (0x%02x)", bad,
                       (unsigned)src[bad]);
    if (!out->scratch && !(out->scratch = calloc(1, sizeof(scratch))))
        return sl_fail(err, SL_ERR_MEMORY, "tokenize: no memory");
    scratch *sc = out->scratch;

    size_t n;
    sl_status s = normalize(t, src, len, sc, &n, err);
    if (s || n == 0) return s;
    if (!grow_lattice(sc, n)) return sl_fail(err, SL_ERR_MEMORY, "tokenize: no memory");
    const uint8_t *norm = (const uint8_t *)sc->norm;
    viterbi(t, norm, n, sc);

    /* Backtrack: count, then fill from the end. start/end hold normalised offsets until the spans pass. */
    int count = 0;
    for (size_t e = n; e > 0; e = (size_t)sc->from[e]) count++;
    if (!grow_tokens(out, count)) return sl_fail(err, SL_ERR_MEMORY, "tokenize: no memory");
    int k = count;
    for (size_t e = n; e > 0; e = (size_t)sc->from[e]) {
        k--;
        out->ids[k] = sc->best_id[e];
        out->start[k] = sc->from[e];
        out->end[k] = (int32_t)e;
    }
    /* Consecutive unknown characters are one unknown token. */
    int m = 0;
    for (int i = 0; i < count; i++) {
        if (m > 0 && out->ids[i] == t->unk_id && out->ids[m - 1] == t->unk_id) {
            out->end[m - 1] = out->end[i];
            continue;
        }
        out->ids[m] = out->ids[i];
        out->start[m] = out->start[i];
        out->end[m] = out->end[i];
        m++;
    }
    out->n = m;

    /* Spans and word starts, from the normalised ranges [a, b). */
    const char *space = t->escape_whitespaces ? SPACE_SYMBOL : " ";
    const size_t space_len = strlen(space);
    bool prev_blank = false; /* the previous token was only space symbols */
    int32_t prev_last = 0;   /* normalised offset of the previous token's last character */
    for (int i = 0; i < m; i++) {
        size_t a = (size_t)out->start[i], b = (size_t)out->end[i], c = a;
        while (c + space_len <= b && !memcmp(norm + c, space, space_len)) c += space_len;
        uint8_t ws;
        if (i == 0 || c > a)
            ws = 1;
        else if (prev_blank)
            ws = 0; /* a lone space symbol begins the word of what follows it */
        else
            ws = is_punct_at((const char *)norm + prev_last, n - (size_t)prev_last) !=
                 is_punct_at((const char *)norm + a, n - a);
        out->word_start[i] = ws;
        prev_blank = c == b;
        size_t last = b - 1;
        while (last > a && (norm[last] & 0xc0) == 0x80) last--;
        prev_last = (int32_t)last;
        out->start[i] = sc->origin[c];
        out->end[i] = sc->origin[b];
    }
    return SL_OK;
}
