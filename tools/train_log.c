#include "train_log.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "json.h"

uint64_t bits_of(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
double double_of(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


int history_push(sl_history *h, char *line, int step, int mark, double loss, double value) {
    if (!line) return 0;
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 256;
        sl_record *items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items) {
            free(line);
            return 0;
        }
        h->items = items;
        h->cap = cap;
    }
    h->items[h->n++] = (sl_record){line, step, mark, loss, value};
    return 1;
}

void history_free(sl_history *h) {
    for (int i = 0; i < h->n; i++) free(h->items[i].line);
    free(h->items);
    memset(h, 0, sizeof *h);
}

char *format_line(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* The lines of an earlier run's log up to the state being resumed: log lines up to its step and epoch
   lines up to its last finished epoch (the log is written before the state, so it may be ahead). */
void history_load(sl_history *h, const char *path, int max_step, int max_epoch, const char *value_key) {
    sl_error err;
    uint8_t *data;
    size_t size;
    if (sl_read_file(path, &data, &size, &err) != SL_OK) {
        fprintf(stderr, "surligne: %s: the metrics of the run so far are lost (%s)\n", path, err.message);
        return;
    }
    char *p = (char *)data, *end = p + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        sl_json *j;
        if (len && sl_json_parse(p, len, path, &j, &err) == SL_OK) {
            const sl_json *step = sl_json_get(j, "step"), *epoch = sl_json_get(j, "epoch"),
                          *loss = sl_json_get(j, "loss"), *dev = sl_json_get(j, "dev");
            const sl_json *value = !strcmp(value_key, "f1") ? (dev ? sl_json_get(dev, "f1") : NULL)
                                                            : sl_json_get(j, value_key);
            const int is_eval = !loss, has_epoch = epoch && epoch->type == SL_JSON_NUMBER;
            if (step && step->type == SL_JSON_NUMBER && step->number <= max_step &&
                !(is_eval && has_epoch && epoch->number > max_epoch))
                history_push(h, strndup(p, len), (int)step->number,
                             is_eval ? (has_epoch ? (int)epoch->number : 1) : 0, loss ? loss->number : 0,
                             value && value->type == SL_JSON_NUMBER ? value->number : -1);
            sl_json_free(j);
        }
        p += len + 1;
    }
    free(data);
}

/* A round step for about `n` ticks over [0, hi]: 1, 2 or 5 times a power of ten. */
static double tick_step(double hi, int n) {
    double raw = hi / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* The training loss (left axis) and dev F1 (right axis, 0 to 1) against steps. */
static void write_svg(FILE *f, const sl_history *h, const sl_plot *p) {
    const int total_steps = p->total_steps;
    const double W = 800, H = 440, left = 70, right = 70, top = 50, bottom = 60;
    const double pw = W - left - right, ph = H - top - bottom;
    double max_loss = 0;
    for (int i = 0; i < h->n; i++)
        if (!h->items[i].mark && h->items[i].loss > max_loss) max_loss = h->items[i].loss;
        else if (h->items[i].mark && p->value_is_loss && h->items[i].value > max_loss) max_loss = h->items[i].value;
    if (!(max_loss > 0)) max_loss = 1;
    const double ly = tick_step(max_loss, 5), loss_top = ceil(max_loss / ly) * ly;
    const double sx = tick_step(total_steps > 0 ? total_steps : 1, 8);
#define X(step) (left + pw * (double)(step) / (total_steps > 0 ? total_steps : 1))
#define Y_LOSS(v) (top + ph * (1 - (v) / loss_top))
#define Y_F1(v) (p->value_is_loss ? Y_LOSS(v) : top + ph * (1 - (v)))
    fprintf(
        f,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n",
        W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"30\" font-size=\"15\">%s: ", left, p->command);
    for (const char *c = p->title; *c; c++) {
        if (*c == '<')
            fputs("&lt;", f);
        else if (*c == '&')
            fputs("&amp;", f);
        else
            fputc(*c, f);
    }
    fprintf(f, "</text>\n");
    /* grid, ticks and labels */
    fprintf(f, "<g stroke=\"#e4e4e4\">\n");
    for (double v = 0; v <= loss_top + ly / 2; v += ly)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, Y_LOSS(v), left + pw,
                Y_LOSS(v));
    for (double s = 0; s <= total_steps; s += sx)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", X(s), top, X(s), top + ph);
    fprintf(f, "</g>\n<g stroke=\"#333\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top + ph, left + pw,
            top + ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top, left, top + ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left + pw, top, left + pw,
            top + ph);
    fprintf(f, "</g>\n<g fill=\"#333\">\n");
    for (double s = 0; s <= total_steps; s += sx)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", X(s), top + ph + 18,
                s);
    for (double v = 0; v <= loss_top + ly / 2; v += ly)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f77b4\">%g</text>\n", left - 8,
                Y_LOSS(v) + 4, v);
    for (int k = 0; !p->value_is_loss && k <= 5; k++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d95f02\">%.1f</text>\n", left + pw + 8,
                Y_F1(k / 5.0) + 4, k / 5.0);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", left + pw / 2, H - 18);
    fprintf(f,
            "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\" fill=\"#1f77b4\">"
            "training loss</text>\n",
            top + ph / 2);
    if (!p->value_is_loss)
        fprintf(f,
                "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\" fill=\"#d95f02\">"
                "dev F1 (entities, micro)</text>\n",
                W - 20, top + ph / 2);
    fprintf(f, "</g>\n");
    /* the two curves */
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < h->n; i++)
        if (!h->items[i].mark)
            fprintf(f, "%.1f,%.1f ", X(h->items[i].step), Y_LOSS(fmin(h->items[i].loss, loss_top)));
    fprintf(f, "\"/>\n<polyline fill=\"none\" stroke=\"#d95f02\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < h->n; i++)
        if (h->items[i].mark && h->items[i].value >= 0)
            fprintf(f, "%.1f,%.1f ", X(h->items[i].step), Y_F1(fmin(h->items[i].value, loss_top)));
    fprintf(f, "\"/>\n<g fill=\"#d95f02\">\n");
    for (int i = 0; i < h->n; i++)
        if (h->items[i].mark && h->items[i].value >= 0)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>step %d: %.4f</title></circle>\n",
                    X(h->items[i].step), Y_F1(fmin(h->items[i].value, loss_top)), h->items[i].step,
                    h->items[i].value);
    fprintf(f, "</g>\n");
    /* legend, in the top margin so that it hides no point */
    const double lx = left + pw - 330, ly0 = 24;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n",
            lx, ly0, lx + 28, ly0);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">training loss (mean per log interval)</text>\n", lx + 34,
            ly0 + 4);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d95f02\" stroke-width=\"2\"/>\n",
            lx, ly0 + 16, lx + 28, ly0 + 16);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d95f02\"/>\n", lx + 14, ly0 + 16);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 34, ly0 + 20);
    for (const char *c = p->value_label; *c; c++) fputc(*c == '<' ? '(' : *c, f);
    fprintf(f, "</text>\n");
    fprintf(f, "</svg>\n");
#undef X
#undef Y_LOSS
#undef Y_F1
}

/* Writes what f produced into path atomically. */
static int write_atomic(const char *path, void (*produce)(FILE *, const void *), const void *arg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        fprintf(stderr, "surligne: %s: no memory\n", path);
        return 0;
    }
    produce(f, arg);
    fclose(f);
    sl_error err;
    sl_atomic_file *af;
    sl_status s = sl_atomic_open(path, &af, &err);
    if (s == SL_OK && (s = sl_atomic_write(af, buf, len, &err)) != SL_OK) sl_atomic_abort(af);
    if (s == SL_OK) s = sl_atomic_commit(af, &err);
    free(buf);
    if (s != SL_OK) fprintf(stderr, "surligne: %s\n", err.message);
    return s == SL_OK;
}

static void produce_jsonl(FILE *f, const void *arg) {
    const sl_history *h = arg;
    for (int i = 0; i < h->n; i++) fprintf(f, "%s\n", h->items[i].line);
}

typedef struct {
    const sl_history *h;
    const sl_plot *p;
} plot_args;

static void produce_svg(FILE *f, const void *arg) {
    const plot_args *a = arg;
    write_svg(f, a->h, a->p);
}

int save_logs(const sl_history *h, const sl_plot *p, const char *path_metrics, const char *path_svg) {
    plot_args a = {h, p};
    return write_atomic(path_metrics, produce_jsonl, h) & write_atomic(path_svg, produce_svg, &a);
}

char *path_with(const char *out, const char *suffix) {
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) n -= 5;
    return format_line("%.*s%s", (int)n, out, suffix);
}

void format_duration(double s, char *buf, size_t size) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, size, "%lds", t);
}

static volatile sig_atomic_t stop_signal;
static void request_stop(int sig) { stop_signal = sig; }

void stop_on_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = request_stop;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int stop_requested(void) { return stop_signal != 0; }
