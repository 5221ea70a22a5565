/* block.h: the protocol shared by the block-averaging algorithms (MA, BMUF).
 *
 * A block is one round: the server sends the global model w to every
 * worker; each worker copies it into its local model w_k and takes
 * `local_steps` SGD steps on its own mini-batches, each step a computation
 * on the clock; it then sends w_k back. When all K local models are in, the
 * algorithm's `filter` turns their mean into the next global model (MA
 * takes the mean as it is; BMUF adds block momentum), and the next block
 * begins. With `once`, there is a single block of rounds * local_steps
 * steps: the workers train independently and the models are averaged only
 * at the end.
 * Over an all-reduce ($.algorithm.collective not "ps") there is no server:
 * each worker starts its block from its replica of w, and once all K local
 * models are ready they are all-reduced; each worker, when it holds the
 * mean, applies the filter (the same on every replica, so one copy of w
 * stands for them all) and starts its next block at once.
 * Ownership: block_create allocates the state and block_destroy frees it;
 * `self` is the calling algorithm's, borrowed. */
#ifndef DTSIM_BLOCK_H
#define DTSIM_BLOCK_H

#include "alg.h"

typedef struct block block;

/* Called with the mean of the workers' models of round `round`; must update
 * w (the global model, n values) in place. */
typedef void (*block_filter_fn)(void *self, double *w, const double *mean,
                                size_t n);

typedef struct block_opts {
    long local_steps; /* M >= 1 */
    int once;         /* average only once, at the end */
    int batch_reuse;  /* the post's quirk: one mini-batch per block */
} block_opts;

int block_create(block **out, alg_ctx *ctx, const block_opts *o,
                 block_filter_fn filter, void *self, sim_err *err);
void block_destroy(block *b); /* NULL-safe */

double *block_global(block *b); /* the global model, to initialise */

void block_start(block *b, alg_ctx *ctx);
void block_on_compute_done(block *b, alg_ctx *ctx, int worker, int64_t tag);
void block_on_message(block *b, alg_ctx *ctx, const alg_msg *m);
/* Failures: a recovered worker pulls the block's model afresh if it had
 * not reported yet; a dropped one is no longer waited for. */
void block_on_recover(block *b, alg_ctx *ctx, int worker);
void block_on_worker_lost(block *b, alg_ctx *ctx, int worker);
/* All-reduce: worker holds the mean of round tag. */
void block_on_reduced(block *b, alg_ctx *ctx, int worker, int64_t tag);

#endif
