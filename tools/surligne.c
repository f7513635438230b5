/* surligne: the command-line program. Each subcommand lives in its own file (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} COMMANDS[] = {
    {"ner", cmd_ner,
     "ner -m MODEL.gguf [--aggregation none|simple|first|average|max] [--decoding viterbi|argmax] [--format "
     "jsonl|ansi|html] [--no-dates | --dates-only] [--kernel NAME] [FILE|-]"},
    {"tokenize", cmd_tokenize,
     "tokenize -m MODEL.gguf|sentencepiece.model [--offsets]   (text lines on stdin)"},
    {"logits", cmd_logits,
     "logits -m MODEL.gguf [--mlm] [--batch N] [--threads N]   (lines of token ids on stdin)"},
    {"train", cmd_train,
     "train --init MODEL.gguf|HF_DIR --train FILE.conll [--dev FILE.conll] -o OUT.gguf [--epochs N] [--batch "
     "B] [--lr LR] ... (train --help)"},
    {"pretrain", cmd_pretrain,
     "pretrain --config small --text FILE|DIR [--text ...] -o OUT.gguf --steps N [--batch B] [--lr LR] ... "
     "(pretrain --help)"},
    {"eval", cmd_eval,
     "eval -m MODEL.gguf FILE.conll [--json] [--batch B] [--threads T] [--max-len L] [--unknown-labels "
     "error|O] [--decoding viterbi|argmax] [--transition-weight W] [--kernel NAME]"},
    {"convert", cmd_convert, "convert HF_DIR -o MODEL.gguf [--labels PER,ORG,LOC|FILE.conll] [--seed N]"},
    {"export", cmd_export,
     "export MODEL.gguf -o HF_DIR [--arch auto|masked-lm|token-classification|model] [--force]"},
    {"quantize", cmd_quantize, "quantize IN.gguf -o OUT.gguf [--type q8_0|f16|f32]"},
    {"transitions", cmd_transitions,
     "transitions MODEL.gguf --from FILE.conll [--from ...] -o OUT.gguf [--weight 0.5] (label transitions "
     "for Viterbi decoding)"},
    {"average", cmd_average,
     "average MODEL.gguf MODEL.gguf [...] -o OUT.gguf [--weights 1,1,...] (the mean of models' parameters)"},
    {"stack", cmd_stack, "stack MODEL.gguf --layers 0,1,2,3,2,3 -o OUT.gguf (a deeper model of its layers)"},
    {"inspect", cmd_inspect, "inspect MODEL.gguf"},
    {"bench", cmd_bench,
     "bench -m MODEL.gguf [--seq 32,128,512] [--threads N] [--batch N] [--repeat N] [--kernel NAME]"},
};

static void usage(FILE *f) {
    fprintf(f, "surligne — French named-entity recognition (CamemBERT) in C\n\nusage:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++) fprintf(f, "  surligne %s\n", COMMANDS[i].usage);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "surligne: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
