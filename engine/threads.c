#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Between two runs of a forward pass (about 150 of them, a fraction of a millisecond apart) a thread spins
   this many times on the run counter before it sleeps on the condition variable: a sleep and a wake-up
   cost more than the gap (5% of the time at two threads, seen with perf). About 0.2 ms on x86, where each
   spin pauses; WebAssembly has no pause, and its loop of atomic loads is much faster, hence more spins
   (Node and Chromium, two threads, 128 tokens of the base model: 4096 spins 231-242 / 195-219 ms,
   65536 217-227 / 195-196 ms, 262144 244-247 / 228-245 ms). */
#if defined(__x86_64__) || defined(__i386__)
#define SPINS 4096
#else
#define SPINS 65536
#endif

struct sl_pool {
    int n_threads; /* including the caller */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_uint generation; /* bumped (under lock) for every run; workers wait for a new one */
    atomic_int running;     /* workers still inside the current run */
    int quit;
    int precision;
    void *scratch;
    size_t scratch_size;
    /* the current run */
    sl_task_fn task;
    void *ctx;
    int n_tasks;
    atomic_int next;
};

typedef struct {
    sl_pool *pool;
    int thread;
} worker_arg;

static void run_tasks(sl_pool *p, int thread) {
    for (;;) {
        int i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n_tasks) break;
        p->task(p->ctx, i, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    sl_pool *p = wa->pool;
    int thread = wa->thread;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        for (int i = 0; i < SPINS && atomic_load(&p->generation) == seen; i++) CPU_RELAX();
        pthread_mutex_lock(&p->lock);
        while (!p->quit && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->lock);
        run_tasks(p, thread);
        if (atomic_fetch_sub(&p->running, 1) == 1) { /* the last one: the caller may be asleep */
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

sl_pool *sl_pool_create(int n_threads) {
    sl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->n_threads > 1) {
        p->workers = calloc((size_t)p->n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            sl_pool_free(p);
            return NULL;
        }
        for (int t = 1; t < p->n_threads; t++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) *wa = (worker_arg){p, t};
            if (!wa || pthread_create(&p->workers[t - 1], NULL, worker_main, wa) != 0) {
                free(wa);
                p->n_threads = t; /* free() joins the ones started */
                sl_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void sl_pool_free(sl_pool *p) {
    if (!p) return;
    if (p->workers) {
        pthread_mutex_lock(&p->lock);
        p->quit = 1;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        for (int t = 1; t < p->n_threads; t++) pthread_join(p->workers[t - 1], NULL);
        free(p->workers);
    }
    free(p->scratch);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int sl_pool_n_threads(const sl_pool *p) { return p ? p->n_threads : 1; }

void *sl_pool_scratch(sl_pool *p, size_t bytes) {
    if (!p) return NULL;
    if (bytes > p->scratch_size) {
        const size_t size = (bytes + 63) / 64 * 64;
        void *m = aligned_alloc(64, size);
        if (!m) return NULL;
        free(p->scratch);
        p->scratch = m;
        p->scratch_size = size;
    }
    return p->scratch;
}

void sl_pool_set_precision(sl_pool *p, int precision) { p->precision = precision; }
int sl_pool_precision(const sl_pool *p) { return p ? p->precision : 0; }

void sl_pool_run(sl_pool *p, int n_tasks, sl_task_fn task, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int i = 0; i < n_tasks; i++) task(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->task = task;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->running, p->n_threads - 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p, 0);
    for (int i = 0; i < SPINS && atomic_load(&p->running) > 0; i++) CPU_RELAX();
    if (atomic_load(&p->running) > 0) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->running) > 0) pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}
