/* gather.h: a server collecting one vector from each of K workers.
 *
 * Synchronous algorithms need the same barrier: wait until every worker's
 * vector of a round has arrived, then reduce. Vectors are kept per worker and
 * reduced in worker-index order, never in arrival order, so the result does
 * not depend on which message the network delivered first.
 * A worker that crashed can be dropped (config on_crash "drop"): the
 * barrier then waits only for the others and averages what it has, until
 * the worker is restored.
 * Ownership: gather_init allocates, gather_deinit frees. */
#ifndef DTSIM_GATHER_H
#define DTSIM_GATHER_H

#include <stddef.h>

typedef struct gather {
    int K;
    size_t n;
    double *vals;           /* K x n */
    unsigned char *have;    /* [K] */
    unsigned char *dropped; /* [K] */
    int count;
    int missing; /* workers not dropped whose vector has not come */
    int n_dropped;
} gather;

int gather_init(gather *g, int K, size_t n); /* 0, or -1 out of memory */
void gather_deinit(gather *g);

/* Stores worker k's vector (a second one in the same round is a bug).
 * Returns 1 when every worker not dropped has sent its vector. */
int gather_add(gather *g, int k, const double *v);

/* Stops waiting for worker k; returns 1 when, without it, every other
 * worker has sent its vector (the round can close now). */
int gather_drop(gather *g, int k);
/* Waits for worker k again, from the current round on. */
void gather_restore(gather *g, int k);

/* out = mean of the vectors received, summed in worker order; starts a new
 * round. */
void gather_mean(gather *g, double *out);

#endif
