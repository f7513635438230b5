/* A small thread pool shared by every parallel loop of the engine. With one thread the same code runs
   inline on the caller's thread, so results do not depend on whether threads are available. */
#ifndef SL_THREADS_H
#define SL_THREADS_H

#include <stddef.h>

typedef struct sl_pool sl_pool;

/* task(ctx, i, thread) is called once for every i in [0, n_tasks); `thread` in [0, n_threads) names the
   worker so it can use its own scratch memory. */
typedef void (*sl_task_fn)(void *ctx, int i, int thread);

sl_pool *sl_pool_create(int n_threads); /* NULL on failure; n_threads <= 1 starts no thread */
void sl_pool_free(sl_pool *p);
int sl_pool_n_threads(const sl_pool *p); /* p may be NULL: 1 */
/* Runs all tasks and returns when they are done. p may be NULL (inline). Not reentrant. */
void sl_pool_run(sl_pool *p, int n_tasks, sl_task_fn task, void *ctx);

/* Scratch memory of the kernels run with the pool: at least `bytes`, 64-byte aligned, kept (and grown) from
   one call to the next, so a training step allocates nothing once the first one has run; freed with the
   pool. NULL when memory is short (or p is NULL). One user at a time: the thread that calls sl_pool_run,
   between two uses. */
void *sl_pool_scratch(sl_pool *p, size_t bytes);

/* The arithmetic of the matrix products run with this pool (matmul_forward, matmul_backward): 0 = f32 (the
   default, and always with p NULL), 1 = bf16 operands with f32 sums where the processor has them
   (SL_PRECISION_* in kernels.h). The pool is the context every product receives, hence the setting here. */
void sl_pool_set_precision(sl_pool *p, int precision);
int sl_pool_precision(const sl_pool *p);

#endif
