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
#include <stdint.h>

typedef struct ml_batch {
    size_t *rows;
    size_t n;   /* rows in the current batch (may be 0 for Bernoulli) */
    size_t cap; /* allocated length of rows */

    /* Bernoulli's table of gaps (batch.c), built once enough draws use it. */
    double gap_log_q;   /* the log(1 - p) it is for */
    size_t gap_draws;   /* draws since p last changed */
    size_t gap_n;       /* entries of gap_last, 0 before the table is built */
    uint64_t gap_k_min; /* the least draw the table answers for */
    uint32_t *gap_last; /* [gap_n] */
    uint16_t *gap_from; /* [GAP_BUCKETS] */
} ml_batch;

/* Both drawing functions return 0, or -1 when out of memory (the batch is
 * then empty). They reuse the batch's storage. */
int ml_batch_bernoulli(ml_batch *b, size_t begin, size_t end, double p,
                       gsl_rng *rng);
int ml_batch_fixed(ml_batch *b, size_t begin, size_t end, size_t size,
                   gsl_rng *rng);

void ml_batch_deinit(ml_batch *b);

/* For tests: the gap Bernoulli sampling takes for the 32-bit draw k > 0 of
 * the compact generator, through its table (built at once here), which
 * must equal floor(log(k / 2^32) / log1p(-p)); NaN when out of memory. */
double ml_batch__gap(ml_batch *b, double p, uint32_t k);

#endif
