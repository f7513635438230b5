/* Data-parallel runs over MPI for `surligne pretrain` and `surligne train`: started by mpirun, each process
   (rank) trains on its rows of every global batch and the trainer sums counts and gradients with
   MPI_Allreduce (the sl_collective of train.h). Built when CMake finds MPI (option SURLIGNE_MPI); without
   it, or outside mpirun, a run is one process and these functions do nothing. */
#ifndef SL_PARALLEL_H
#define SL_PARALLEL_H

#include "train.h"

typedef struct {
    int rank, size;
    sl_collective collective; /* sum_f32 / sum_f64 NULL when size is 1 */
} sl_parallel;

/* Joins the MPI job when the program was started by mpirun (its environment says so); else rank 0 of 1. */
void parallel_init(sl_parallel *p, int *argc, char ***argv);
void parallel_finish(sl_parallel *p);
/* What trainers take: NULL for one process. */
const sl_collective *parallel_collective(const sl_parallel *p);
/* The logical AND of ok over the processes (so that all stop together). */
int parallel_all(const sl_parallel *p, int ok);

#endif
