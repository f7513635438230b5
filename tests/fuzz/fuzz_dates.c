/* A libFuzzer entry point for the rule recogniser of dates (engine/dates.c): any bytes in, never a crash or a
   read past them (AddressSanitizer), and the entities in bounds, in order, with a terminated value. Not part
   of the tests; build and run it with Debian's clang (the test set's sentences as the seed corpus):

     clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -Iengine -Iengine/include tests/fuzz/fuzz_dates.c \
       engine/dates.c engine/ner.c engine/error.c $(pkg-config --cflags --libs libutf8proc) -o build/fuzz_dates
     mkdir -p build/fuzz-corpus && cut -f1 tests/dates/fr-dates.tsv | grep -v '^#' | split -l 1 - build/fuzz-corpus/s
     build/fuzz_dates -max_total_time=120 -max_len=512 build/fuzz-corpus */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "surligne.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_entities e = {0};
    sl_error err;
    if (sl_recognize_dates((const char *)data, size, &e, &err) == SL_OK)
        for (size_t i = 0; i < e.n; i++) {
            const sl_entity *x = &e.items[i];
            if (x->start >= x->end || x->end > size || (i && e.items[i - 1].end > x->start) ||
                !memchr(x->value, 0, sizeof x->value))
                __builtin_trap();
        }
    sl_entities_free(&e);
    return 0;
}
