/* SentencePiece .model files (the tokenizer of a folder to convert): any bytes through sl_spm_parse; a
   vocabulary that parses makes a tokenizer that tokenises a French sentence (ids in range, spans in the
   text), and is written back by sl_spm_serialize (when in the CamemBERT layout) to a file that parses to the
   same pieces. Seeds: the tiny vocabulary with and without the fixture's charsmap. */
#include "fuzz.h"

static const char TEXT[] = "  L'Œuvre de Zola, ﬁn 1885 : « Germinal » — 12,5 % à Paris\tet Montsou…\n";

static void check_tokens(const sl_vocab *v) {
    sl_tokenizer *tok = NULL;
    sl_error err;
    sl_status s = sl_tokenizer_create(v, &tok, &err);
    FUZZ_CHECK(s == SL_OK, "a parsed vocabulary makes no tokenizer: %s", err.message);
    sl_tokens tk = {0};
    if (sl_tokenize(tok, TEXT, sizeof TEXT - 1, &tk, &err) == SL_OK)
        for (int i = 0; i < tk.n; i++) {
            FUZZ_CHECK(tk.ids[i] >= 0 && tk.ids[i] < v->n_tokens, "token %d has id %d of %d", i, tk.ids[i],
                       v->n_tokens);
            FUZZ_CHECK(tk.start[i] >= 0 && tk.start[i] <= tk.end[i] && tk.end[i] <= (int32_t)sizeof TEXT - 1,
                       "token %d spans [%d, %d)", i, tk.start[i], tk.end[i]);
        }
    sl_tokens_free(&tk);
    sl_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_spm_vocab *sv = NULL;
    sl_error err;
    if (sl_spm_parse(data, size, "fuzz.model", &sv, &err) != SL_OK) {
        FUZZ_CHECK(!sv && strstr(err.message, "fuzz.model"), "failed parse must name the file: '%s'",
                   err.message);
        return 0;
    }
    const sl_vocab *v = sl_spm_vocab_get(sv);
    check_tokens(v);
    uint8_t *again;
    size_t n;
    if (sl_spm_serialize(v, &again, &n, &err) == SL_OK) {
        sl_spm_vocab *sv2 = NULL;
        sl_status s = sl_spm_parse(again, n, "again.model", &sv2, &err);
        FUZZ_CHECK(s == SL_OK, "a written vocabulary does not read back: %s", err.message);
        const sl_vocab *v2 = sl_spm_vocab_get(sv2);
        FUZZ_CHECK(v2->n_tokens == v->n_tokens, "%d tokens read back as %d", v->n_tokens, v2->n_tokens);
        for (int i = 0; i < v->n_tokens; i++)
            FUZZ_CHECK(v2->piece_lens[i] == v->piece_lens[i] &&
                           !memcmp(v2->pieces[i], v->pieces[i], v->piece_lens[i]),
                       "piece %d differs once written and read back", i);
        sl_spm_vocab_free(sv2);
        free(again);
    }
    sl_spm_vocab_free(sv);
    return 0;
}
