#include "parallel.h"

#include <stdlib.h>

#ifdef SL_USE_MPI
#include <mpi.h>

static void sum_f32(void *ctx, float *x, size_t n) {
    (void)ctx;
    for (size_t done = 0; done < n;) { /* MPI counts are int */
        int k = n - done > (1u << 30) ? 1 << 30 : (int)(n - done);
        MPI_Allreduce(MPI_IN_PLACE, x + done, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        done += (size_t)k;
    }
}

static void sum_f64(void *ctx, double *x, size_t n) {
    (void)ctx;
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static int started_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void parallel_init(sl_parallel *p, int *argc, char ***argv) {
    *p = (sl_parallel){0, 1, {NULL, NULL, NULL}};
    if (!started_by_mpirun()) return;
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    if (p->size > 1) p->collective = (sl_collective){sum_f32, sum_f64, NULL};
}

void parallel_finish(sl_parallel *p) {
    int on = 0;
    MPI_Initialized(&on);
    if (on && started_by_mpirun()) MPI_Finalize();
    (void)p;
}

int parallel_all(const sl_parallel *p, int ok) {
    if (p->size == 1) return ok;
    int all = ok;
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

#else

void parallel_init(sl_parallel *p, int *argc, char ***argv) {
    (void)argc, (void)argv;
    *p = (sl_parallel){0, 1, {NULL, NULL, NULL}};
}

void parallel_finish(sl_parallel *p) { (void)p; }

int parallel_all(const sl_parallel *p, int ok) {
    (void)p;
    return ok;
}

#endif

const sl_collective *parallel_collective(const sl_parallel *p) {
    return p->size > 1 ? &p->collective : NULL;
}
