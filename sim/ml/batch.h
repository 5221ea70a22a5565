/* batch.h: drawing mini-batches from a worker's rows.
 *
 * A batch is a list of row indices into the training set, drawn from the
 * worker's own RNG stream. Two ways, as in the config:
 * - Bernoulli: every row in [begin, end) joins independently with
 *   probability p (the post's RDD.sample(False, p)); implemented by geometric
 *   skipping, so the cost is proportional to the batch, not to the rows;
 * - fixed size: `size` distinct rows, uniformly without replacement, in
 *   increasing order.
 * Ownership: the batch owns rows; ml_batch_deinit frees it. */
#ifndef DTSIM_BATCH_H
#define DTSIM_BATCH_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

typedef struct ml_batch {
    size_t *rows;
    size_t n;   /* rows in the current batch (may be 0 for Bernoulli) */
    size_t cap; /* allocated length of rows */
} ml_batch;

/* Both drawing functions return 0, or -1 when out of memory (the batch is
 * then empty). They reuse the batch's storage. */
int ml_batch_bernoulli(ml_batch *b, size_t begin, size_t end, double p,
                       gsl_rng *rng);
int ml_batch_fixed(ml_batch *b, size_t begin, size_t end, size_t size,
                   gsl_rng *rng);

void ml_batch_deinit(ml_batch *b);

#endif
