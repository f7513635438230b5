/* surligne ner: entities of a text (a file or standard input), as JSON lines, coloured text or HTML; the
   model's, and the dates, times, amounts and percentages of the rule recogniser (engine/dates.c) with their
   normalised "value" (--no-dates: the model's only; --dates-only: the rules' only, no model needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "model.h"

typedef enum { FORMAT_JSONL, FORMAT_ANSI, FORMAT_HTML } output_format;

static const char *const AGGREGATIONS[] = {"none", "simple", "first", "average", "max"};

/* One colour per label, stable for a label name: the same type gets the same colour in every run. */
static int colour_of(const char *label) {
    unsigned h = 5381;
    for (const char *p = label; *p; p++) h = h * 33 + (unsigned char)*p;
    return (int)(h % 6);
}

static void print_ansi(const char *text, size_t len, const sl_entities *e) {
    static const char *const bg[] = {"\x1b[30;46m", "\x1b[30;43m", "\x1b[30;42m", "\x1b[30;45m", "\x1b[30;44m", "\x1b[30;41m"};
    size_t at = 0;
    for (size_t i = 0; i < e->n; i++) {
        const sl_entity *x = &e->items[i];
        fwrite(text + at, 1, x->start - at, stdout);
        printf("%s", bg[colour_of(x->label)]);
        fwrite(text + x->start, 1, x->end - x->start, stdout);
        if (x->value[0]) printf("\x1b[0m\x1b[2m[%s %s]\x1b[0m", x->label, x->value);
        else printf("\x1b[0m\x1b[2m[%s %.2f]\x1b[0m", x->label, x->score);
        at = x->end;
    }
    fwrite(text + at, 1, len - at, stdout);
    if (len == 0 || text[len - 1] != '\n') putchar('\n');
}

static void html_escape(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(s[i]);
        }
    }
}

static void print_html(const char *text, size_t len, const sl_entities *e) {
    static const char *const colours[] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462"};
    puts("<!doctype html>\n<meta charset=\"utf-8\">\n<title>surligne</title>");
    puts("<style>body{font:16px/1.6 system-ui,sans-serif;white-space:pre-wrap;max-width:50em;margin:2em auto}"
         "mark{border-radius:3px;padding:0 2px}mark::after{content:attr(data-label);font-size:.7em;margin-left:2px;"
         "opacity:.7}</style>");
    fputs("<div id=\"output\">", stdout);
    size_t at = 0;
    for (size_t i = 0; i < e->n; i++) {
        const sl_entity *x = &e->items[i];
        html_escape(text + at, x->start - at);
        printf("<mark data-label=\"");
        html_escape(x->label, strlen(x->label));
        printf("\" data-score=\"%.3f\"", x->score);
        if (x->value[0]) {
            printf(" data-value=\"");
            html_escape(x->value, strlen(x->value));
            printf("\" title=\"%s · ", x->label);
            html_escape(x->value, strlen(x->value));
            putchar('"');
        }
        printf(" style=\"background:%s\">", colours[colour_of(x->label)]);
        html_escape(text + x->start, x->end - x->start);
        fputs("</mark>", stdout);
        at = x->end;
    }
    html_escape(text + at, len - at);
    puts("</div>");
}

int cmd_ner(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL;
    output_format format = FORMAT_JSONL;
    int dates_only = 0; /* the rule recogniser alone: no model */
    sl_options opt = sl_default_options();
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        double d;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model_path = cli_value("ner", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--aggregation")) {
            if (!(v = cli_value("ner", argc, argv, &i))) return 2;
            int found = -1;
            for (int a = 0; a < 5; a++)
                if (!strcmp(v, AGGREGATIONS[a])) found = a;
            if (found < 0) {
                fprintf(stderr, "surligne ner: --aggregation '%s': expected none, simple, first, average or max\n", v);
                return 2;
            }
            opt.aggregation = (sl_aggregation)found;
        } else if (!strcmp(argv[i], "--decoding")) {
            int dec;
            if (!(v = cli_value("ner", argc, argv, &i)) || (dec = cli_decoding("ner", v)) < 0) return 2;
            opt.decoding = (sl_decoding)dec;
        } else if (!strcmp(argv[i], "--format")) {
            if (!(v = cli_value("ner", argc, argv, &i))) return 2;
            if (!strcmp(v, "jsonl")) format = FORMAT_JSONL;
            else if (!strcmp(v, "ansi")) format = FORMAT_ANSI;
            else if (!strcmp(v, "html")) format = FORMAT_HTML;
            else {
                fprintf(stderr, "surligne ner: --format '%s': expected jsonl, ansi or html\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--threshold")) {
            if (!(v = cli_value("ner", argc, argv, &i)) || !cli_float("ner", "--threshold", v, 0, 1, &d)) return 2;
            opt.threshold = (float)d;
        } else if (!strcmp(argv[i], "--stride")) {
            if (!(v = cli_value("ner", argc, argv, &i)) || !cli_int("ner", "--stride", v, 0, 100000, &n)) return 2;
            opt.stride = (int)n;
        } else if (!strcmp(argv[i], "--max-tokens")) {
            if (!(v = cli_value("ner", argc, argv, &i)) || !cli_int("ner", "--max-tokens", v, 3, 100000, &n)) return 2;
            opt.max_tokens = (int)n;
        } else if (!strcmp(argv[i], "--no-dates")) {
            opt.dates = 0;
        } else if (!strcmp(argv[i], "--dates-only")) {
            dates_only = 1;
        } else if (!strcmp(argv[i], "--keep-punctuation")) {
            opt.keep_punctuation = 1;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(v = cli_value("ner", argc, argv, &i)) || !cli_int("ner", "--threads", v, 1, 256, &n)) return 2;
            opt.n_threads = (int)n;
        } else if (!strcmp(argv[i], "--kernel")) {
            if (!(v = cli_value("ner", argc, argv, &i)) || cli_kernel("ner", v)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "surligne ner: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!input) {
            input = argv[i];
        } else {
            fprintf(stderr, "surligne ner: one input only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (dates_only && (model_path || !opt.dates)) {
        fprintf(stderr, "surligne ner: --dates-only takes no model and no --no-dates\n");
        return 2;
    }
    char default_path[4096];
    if (!model_path && !dates_only) {
        /* argv is main's argv + 1: argv[-1] is the program's own path */
        if (!cli_default_model("ner", argv[-1], default_path, sizeof default_path)) return 2;
        model_path = default_path;
    }
    if (!input && isatty(0)) fprintf(stderr, "surligne ner: reading the text from standard input (end with Ctrl-D)\n");
    sl_error err;
    sl_model *m = NULL;
    if (!dates_only && sl_model_load_file(model_path, &m, &err)) {
        fprintf(stderr, "surligne ner: %s\n", err.message);
        return 1;
    }
    size_t len;
    char *text = cli_read_all("ner", input, &len);
    if (!text) {
        sl_model_free(m);
        return 1;
    }
    sl_entities ents = {0};
    int rc = 0;
    if (m ? sl_recognize(m, text, len, &opt, &ents, &err) : sl_recognize_dates(text, len, &ents, &err)) {
        fprintf(stderr, "surligne ner: %s: %s\n", input && strcmp(input, "-") ? input : "standard input", err.message);
        rc = 1;
    } else if (format == FORMAT_JSONL) {
        char small[512]; /* an entity's JSON line; a longer one (a long text span) is malloc'ed */
        for (size_t i = 0; i < ents.n; i++) {
            const size_t n = sl_entity_json(&ents.items[i], text, small, sizeof small);
            char *line = n < sizeof small ? small : malloc(n + 1);
            if (!line) {
                fprintf(stderr, "surligne ner: no memory for an entity of %zu bytes\n", n);
                rc = 1;
                break;
            }
            if (line != small) sl_entity_json(&ents.items[i], text, line, n + 1);
            puts(line);
            if (line != small) free(line);
        }
    } else if (format == FORMAT_ANSI) {
        print_ansi(text, len, &ents);
    } else {
        print_html(text, len, &ents);
    }
    sl_entities_free(&ents);
    free(text);
    sl_model_free(m);
    return rc;
}
