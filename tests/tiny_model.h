/* The tiny token-classification model of tests/fixtures/tiny-hf (random weights, hidden 32), converted in
   memory and loaded: the set-up of the tests that recognise with a real model. */
#ifndef SL_TINY_MODEL_H
#define SL_TINY_MODEL_H

#include <stdint.h>
#include <stdlib.h>

#include "convert.h"
#include "surligne.h"

typedef struct {
    sl_model *model;
    uint8_t *gguf; /* the converted file: the model's tensors point into it */
} tiny_model;

/* 1 when loaded; 0 with the message in err (and t left empty). */
static inline int tiny_model_load(tiny_model *t, sl_error *err) {
    size_t size;
    t->model = NULL;
    t->gguf = NULL;
    if (sl_convert_hf("tests/fixtures/tiny-hf", NULL, NULL, &t->gguf, &size, err) != SL_OK) return 0;
    if (sl_model_load_memory(t->gguf, size, "tiny", &t->model, err) == SL_OK) return 1;
    free(t->gguf);
    t->gguf = NULL;
    return 0;
}

static inline void tiny_model_free(tiny_model *t) {
    sl_model_free(t->model);
    free(t->gguf);
}

#endif
