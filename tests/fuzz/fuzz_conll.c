/* CoNLL files (training and evaluation data): any bytes through sl_conll_parse, with the label set made by
   the data, or encoded in a model's (IOB2, BIOES or I-only, unknown types refused or mapped to O), chosen by
   the first byte. What is read is consistent: sentences tile the words, tags are label ids, words are
   terminated strings inside the text, lines grow. */
#include "conll.h"
#include "fuzz.h"

static const char *const IOB2[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"};
static const char *const BIOES[] = {"O",     "B-PER", "I-PER", "E-PER", "S-PER",
                                    "B-LOC", "I-LOC", "E-LOC", "S-LOC"};
static const char *const IONLY[] = {"O", "I-PER", "I-LOC", "I-ORG", "B-MISC", "I-MISC"};

static sl_labelset sets[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    sl_error err;
    FUZZ_SETUP(sl_labelset_init(&sets[0], IOB2, 7, &err) == SL_OK, "labels", &err);
    FUZZ_SETUP(sl_labelset_init(&sets[1], BIOES, 9, &err) == SL_OK, "labels", &err);
    FUZZ_SETUP(sl_labelset_init(&sets[2], IONLY, 6, &err) == SL_OK, "labels", &err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sl_error err;
    const int mode = data[0] % 7; /* 0: the data's labels; 1-6: a set, with unknown_to_o or not */
    sl_conll_options opt = {mode ? &sets[(mode - 1) % 3] : NULL, mode > 3};
    sl_conll c;
    if (sl_conll_parse((const char *)data + 1, size - 1, "fuzz.conll", &opt, &c, &err) != SL_OK) {
        FUZZ_CHECK(strstr(err.message, "fuzz.conll"), "failed parse must name the file: '%s'", err.message);
        FUZZ_CHECK(!c.n_words && !c.words && !c.text, "a failed parse left data");
        sl_conll_free(&c);
        return 0;
    }
    FUZZ_CHECK(c.sentence_start[0] == 0 && c.sentence_start[c.n_sentences] == c.n_words,
               "sentences do not tile");
    for (int s = 0; s < c.n_sentences; s++)
        FUZZ_CHECK(c.sentence_start[s + 1] > c.sentence_start[s], "sentence %d is empty", s);
    for (int w = 0; w < c.n_words; w++) {
        FUZZ_CHECK(c.tags[w] >= 0 && c.tags[w] < c.labels.n_labels, "word %d has tag %d of %d", w, c.tags[w],
                   c.labels.n_labels);
        FUZZ_CHECK(strlen(c.words[w]) < size, "word %d is longer than the file", w);
        FUZZ_CHECK(c.lines[w] >= 1 && (!w || c.lines[w] > c.lines[w - 1]), "word %d on line %d", w,
                   c.lines[w]);
    }
    long per_type[64] = {0};
    if (c.labels.n_types <= 64) sl_conll_count_entities(&c, per_type);
    sl_conll_free(&c);
    return 0;
}
