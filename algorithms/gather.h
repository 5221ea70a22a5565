/* gather.h: a server collecting one vector from each of K workers.
 *
 * Synchronous algorithms need the same barrier: wait until every worker's
 * vector of a round has arrived, then reduce. Vectors are kept per worker and
 * reduced in worker-index order, never in arrival order, so the result does
 * not depend on which message the network delivered first.
 * Ownership: gather_init allocates, gather_deinit frees. */
#ifndef DTSIM_GATHER_H
#define DTSIM_GATHER_H

#include <stddef.h>

typedef struct gather {
    int K;
    size_t n;
    double *vals;        /* K x n */
    unsigned char *have; /* [K] */
    int count;
} gather;

int gather_init(gather *g, int K, size_t n); /* 0, or -1 out of memory */
void gather_deinit(gather *g);

/* Stores worker k's vector (a second one in the same round is a bug).
 * Returns 1 when all K have arrived. */
int gather_add(gather *g, int k, const double *v);

/* out = mean of the K vectors, summed in worker order; starts a new round. */
void gather_mean(gather *g, double *out);

#endif
