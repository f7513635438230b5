/* surligne tokenize: token ids (and byte spans) of text lines, to compare with SentencePiece.

   Reads lines on stdin; prints per line the ids with <s> first and </s> last, space separated, and with
   --offsets a second line with "start:end" byte spans (into the line) of each token between them.
   The model is a GGUF file (its tokenizer) or a SentencePiece .model file (CamemBERT's id layout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fileio.h"
#include "model.h"
#include "tokenizer.h"

static int usage(void) {
    fprintf(
        stderr,
        "usage: surligne tokenize -m MODEL.gguf|sentencepiece.model [--offsets]   (text lines on stdin)\n");
    return 2;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int offsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--offsets"))
            offsets = 1;
        else
            return usage();
    }
    if (!path) return usage();

    sl_error err = {0};
    uint8_t *data = NULL;
    size_t size = 0;
    sl_model *model = NULL;
    sl_spm_vocab *vocab = NULL;
    sl_tokenizer *own = NULL;
    const sl_tokenizer *tok = NULL;
    int32_t bos, eos;
    if (sl_read_file(path, &data, &size, &err)) goto fail;
    if (size >= 4 && !memcmp(data, "GGUF", 4)) {
        free(data);
        data = NULL;
        if (sl_model_load_file(path, &model, &err)) goto fail;
        tok = sl_model_tokenizer(model);
    } else {
        if (sl_spm_parse(data, size, path, &vocab, &err)) goto fail;
        if (sl_tokenizer_create(sl_spm_vocab_get(vocab), &own, &err)) goto fail;
        tok = own;
    }
    bos = sl_tokenizer_special_ids(tok).bos;
    eos = sl_tokenizer_special_ids(tok).eos;

    sl_tokens tk = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int status = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (sl_tokenize(tok, line, (size_t)len, &tk, &err)) {
            fprintf(stderr, "surligne tokenize: line %ld: %s\n", lineno, err.message);
            status = 1;
            break;
        }
        if (bos >= 0) printf("%d", bos);
        for (int i = 0; i < tk.n; i++) printf(i || bos >= 0 ? " %d" : "%d", tk.ids[i]);
        if (eos >= 0) printf(tk.n || bos >= 0 ? " %d" : "%d", eos);
        putchar('\n');
        if (offsets) {
            for (int i = 0; i < tk.n; i++) printf(i ? " %d:%d" : "%d:%d", tk.start[i], tk.end[i]);
            putchar('\n');
        }
    }
    free(line);
    sl_tokens_free(&tk);
    sl_tokenizer_free(own);
    sl_spm_vocab_free(vocab);
    sl_model_free(model);
    free(data);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "surligne tokenize: cannot write the output\n");
        return 1;
    }
    return status;

fail:
    fprintf(stderr, "surligne tokenize: %s\n", err.message);
    sl_tokenizer_free(own);
    sl_spm_vocab_free(vocab);
    sl_model_free(model);
    free(data);
    return 1;
}
