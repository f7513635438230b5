/* The tokenizer on any bytes, with the fixture's whole CamemBERT vocabulary and its nmt_nfkc charsmap:
   invalid UTF-8 is an error naming a byte inside the text; otherwise ids are in the vocabulary, spans are in
   the text, starts and ends never go backwards (surligne.h's offsets contract), word_start is 0 or 1 and
   the first token starts a word. One sl_tokens reused across inputs, as sl_recognize reuses it. */
#include "fuzz.h"

static sl_tokenizer *tok;
static sl_tokens tk;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    sl_error err;
    FUZZ_SETUP(sl_tokenizer_create(sl_spm_vocab_get(fuzz_fixture_vocab()), &tok, &err) == SL_OK,
               "the fixture's tokenizer", &err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_error err;
    const char *text = (const char *)data;
    sl_status s = sl_tokenize(tok, text, size, &tk, &err);
    if (s != SL_OK) {
        FUZZ_CHECK(s == SL_ERR_UTF8, "status %s: %s", sl_status_name(s), err.message);
        return 0;
    }
    const int n_tokens = sl_tokenizer_n_tokens(tok);
    for (int i = 0; i < tk.n; i++) {
        FUZZ_CHECK(tk.ids[i] >= 0 && tk.ids[i] < n_tokens, "token %d has id %d", i, tk.ids[i]);
        FUZZ_CHECK(tk.start[i] >= 0 && tk.start[i] <= tk.end[i] && (size_t)tk.end[i] <= size,
                   "token %d spans [%d, %d) of %zu bytes", i, tk.start[i], tk.end[i], size);
        FUZZ_CHECK(!i || (tk.start[i] >= tk.start[i - 1] && tk.end[i] >= tk.end[i - 1]),
                   "token %d [%d, %d) goes back from [%d, %d)", i, tk.start[i], tk.end[i], tk.start[i - 1],
                   tk.end[i - 1]);
        FUZZ_CHECK(tk.word_start[i] <= 1 && (i || tk.word_start[0]), "token %d word_start %d", i,
                   tk.word_start[i]);
    }
    return 0;
}
