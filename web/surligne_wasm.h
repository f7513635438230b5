/* surligne_wasm.h — what web/surligne_wasm.c (the entry points) shares with web/surligne_wasm_test.c (the
   test and benchmark entry points of the build-wasm/dist-test/ builds): the model handle, the last error. */
#ifndef SURLIGNE_WASM_H
#define SURLIGNE_WASM_H

#include <stddef.h>

#include "surligne.h"

typedef struct {
    sl_model *model;
    void *bytes; /* the GGUF the model's tensors point into: freed with the model, never before */
    char *json;  /* the last answer, reused from call to call */
    size_t json_cap;
} sl_wasm_handle;

/* The last failure, for sl_wasm_last_error() and sl_wasm_last_status(). */
extern sl_error sl_wasm_error;
void sl_wasm_set_error(sl_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
